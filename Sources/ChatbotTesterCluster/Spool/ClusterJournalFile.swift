import ChatbotTesterCore
import Foundation

/// The coordinator's append-only journal: lines are buffered by `append` and made durable by
/// `sync` (write + fsync), both synchronous so the coordinator's actor never suspends between
/// counting a record and buffering it. A torn last line left by a crash is cut off on open.
final class ClusterJournalFile {
    let url: URL
    private var fd: Int32
    private var pending = Data()

    init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_RDWR | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else {
            throw ChatbotTesterError(.io, "cannot open the journal: \(String(cString: strerror(errno)))", location: SourceLocation(source: url.path))
        }
        try cutTornTail()
    }

    deinit {
        if fd >= 0 { Foundation.close(fd) }
    }

    private func cutTornTail() throws {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return }
        var position = size
        var byte: UInt8 = 0
        while position > 0 {
            guard pread(fd, &byte, 1, position - 1) == 1 else { break }
            if byte == 0x0A { break }
            position -= 1
        }
        if position != size && ftruncate(fd, position) != 0 {
            throw ChatbotTesterError(.io, "cannot cut the torn journal tail", location: SourceLocation(source: url.path))
        }
    }

    /// Whether lines wait for `sync`.
    var isDirty: Bool { !pending.isEmpty }

    /// Buffers one line (the newline is added).
    func append(_ line: Data) {
        pending.append(line)
        pending.append(0x0A)
    }

    /// Writes the buffered lines and fsyncs.
    func sync() throws {
        guard fd >= 0 else { throw ChatbotTesterError(.io, "the journal is closed", location: SourceLocation(source: url.path)) }
        guard !pending.isEmpty else { return }
        let failed: Bool = pending.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return true }
                offset += n
            }
            return false
        }
        if failed { throw ChatbotTesterError(.io, "cannot append to the journal: \(String(cString: strerror(errno)))", location: SourceLocation(source: url.path)) }
        pending.removeAll(keepingCapacity: true)
        guard fsync(fd) == 0 else { throw ChatbotTesterError(.io, "fsync of the journal failed", location: SourceLocation(source: url.path)) }
    }

    /// Syncs and closes.
    func close() throws {
        defer {
            if fd >= 0 { Foundation.close(fd) }
            fd = -1
        }
        try sync()
    }
}
