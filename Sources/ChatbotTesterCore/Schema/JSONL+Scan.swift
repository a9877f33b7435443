import Foundation

extension JSONL {
    /// Calls `body` with each line of a file, in place: the bytes are a view into the read buffer,
    /// valid only during the call, so no line is copied. For scans that look at every line and
    /// keep little (`validate`).
    ///
    /// Lines follow `lines(of:)` exactly: numbered from 1, a trailing `\r` dropped, a byte order
    /// mark at the start of line 1 dropped, blank lines (spaces and tabs only) skipped but counted,
    /// the unterminated last line included. Reads 1 MiB at a time; newlines are found with
    /// `memchr` and each byte is looked at once, so a 16 MiB line costs what 16 MiB of short lines
    /// cost. Throws as `lines(of:)` for a device, an I/O error and a line longer than `maxLineBytes`.
    public static func forEachLine(
        of url: URL, maxLineBytes: Int? = defaultMaxLineBytes, chunkSize: Int = 1 << 20,
        _ body: (_ line: Int, _ bytes: UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        let handle = try openInput(url)
        defer { try? handle.close() }
        let fd = handle.fileDescriptor
        var capacity = max(chunkSize, 4096)
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0  // bytes read into the buffer
        var lineStart = 0  // start of the current (unfinished) line
        var searched = 0  // bytes already searched for a newline
        var lineNumber = 0

        func overlong(_ line: Int) -> ChatbotTesterError {
            ChatbotTesterError(
                .invalidInput,
                "line is longer than \(describeBytes(maxLineBytes ?? 0)) (the limit; a dataset can raise it with dataset.maxLineBytes)",
                location: SourceLocation(source: url.path, line: line))
        }

        func deliver(_ start: Int, _ end: Int) throws {
            lineNumber += 1
            var end = end
            if end > start, buffer[end - 1] == 0x0D { end -= 1 }
            if let maxLineBytes, end - start > maxLineBytes { throw overlong(lineNumber) }
            var start = start
            if lineNumber == 1, end - start >= 3, buffer[start] == 0xEF, buffer[start + 1] == 0xBB, buffer[start + 2] == 0xBF { start += 3 }
            var blank = true
            for i in start..<end where buffer[i] != 0x20 && buffer[i] != 0x09 {
                blank = false
                break
            }
            if blank { return }
            try body(lineNumber, UnsafeBufferPointer(start: buffer + start, count: end - start))
        }

        while true {
            if filled == capacity {
                if lineStart > 0 {
                    // Move the unfinished line to the front.
                    (buffer + 0).update(from: buffer + lineStart, count: filled - lineStart)
                    filled -= lineStart
                    searched -= lineStart
                    lineStart = 0
                } else {
                    let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                    grown.update(from: buffer, count: filled)
                    buffer.deallocate()
                    buffer = grown
                    capacity *= 2
                }
            }
            let count = Foundation.read(fd, buffer + filled, capacity - filled)
            if count < 0 {
                if errno == EINTR { continue }
                throw ChatbotTesterError(
                    .io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
            }
            if count == 0 { break }
            filled += count
            while searched < filled, let hit = memchr(buffer + searched, 0x0A, filled - searched) {
                let newline = UnsafeRawPointer(buffer).distance(to: UnsafeRawPointer(hit))
                try deliver(lineStart, newline)
                lineStart = newline + 1
                searched = lineStart
            }
            searched = filled
            if let maxLineBytes, filled - lineStart > maxLineBytes + 1 { throw overlong(lineNumber + 1) }
        }
        if filled > lineStart {
            if let maxLineBytes, filled - lineStart > maxLineBytes { throw overlong(lineNumber + 1) }
            try deliver(lineStart, filled)
        }
    }
}
