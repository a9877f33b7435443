import Foundation

/// An incremental HTTP/1.1 reply parser for the own client path: fed the bytes as they arrive, in
/// pieces of any size, it says when the reply is whole. Every limit is checked as bytes arrive, so a
/// hostile peer gets a clear error, never unbounded memory: a head (status line and headers, and
/// each chunked trailer section) of at most `maxHeadBytes`, a body of at most `maxBodyBytes`, at most
/// 16 interim (1xx) heads, chunk-size lines of at most 1 KiB and chunk sizes that fit in 60 bits.
struct HTTP1ReplyParser {
    /// Why a reply was refused.
    enum Failure: Error, Equatable {
        /// The reply breaks HTTP/1.1 (the reason is short and never quotes the peer's bytes at length).
        case invalid(String)
        /// The body would exceed `maxBodyBytes`.
        case tooLarge
    }

    enum Progress: Equatable {
        case needMore
        case complete
    }

    private enum State {
        case head
        case fixed(end: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    static let maxHeadBytes = 64 << 10
    let maxBodyBytes: Int
    /// The request was `HEAD`: the reply has no body whatever its headers say.
    let headRequest: Bool

    private(set) var status = 0
    private(set) var headers: [(String, String)] = []
    /// Whether the connection may carry another request after this reply.
    private(set) var keepAlive = true
    /// Every byte received, interim heads included (0 means the peer sent nothing at all).
    private(set) var received = 0

    private var buffer: [UInt8] = []
    private var position = 0
    private var state = State.head
    private var interimHeads = 0
    private var bodyStart = 0
    private var chunked: [UInt8] = []
    private var scanned = 0
    /// Body bytes already handed out by ``takeBody()`` (a streamed reply), counted against the limit.
    private var taken = 0

    init(maxBodyBytes: Int, headRequest: Bool = false) {
        self.maxBodyBytes = maxBodyBytes
        self.headRequest = headRequest
    }

    /// The body, once complete.
    var body: [UInt8] {
        switch state {
        case .done where !chunked.isEmpty: return chunked
        case .done: return Array(buffer[bodyStart..<position])
        default: return []
        }
    }

    /// Whether the head (status and headers, after any interim replies) has been read.
    var headComplete: Bool {
        if case .head = state { return false }
        return true
    }

    /// The body bytes that arrived since the last call, handed out and dropped (a streamed reply):
    /// the parser then holds only what it has not framed yet. Call it after each `feed` and `finish`.
    mutating func takeBody() -> [UInt8] {
        var out: [UInt8] = []
        switch state {
        case .head, .trailers:
            break
        case .fixed(let end):
            let upper = min(end, buffer.count)
            out = Array(buffer[bodyStart..<upper])
            buffer.removeSubrange(0..<upper)
            state = .fixed(end: end - upper)
            bodyStart = 0
            position = 0
            scanned = 0
        case .untilClose:
            out = Array(buffer[bodyStart...])
            buffer.removeAll(keepingCapacity: true)
            bodyStart = 0
            position = 0
            scanned = 0
        case .chunkSize, .chunkData, .chunkDataEnd:
            out = chunked
            chunked.removeAll(keepingCapacity: true)
        case .done:
            if !chunked.isEmpty {
                out = chunked
                chunked.removeAll()
            } else {
                out = Array(buffer[bodyStart..<position])
                bodyStart = position
            }
        }
        taken += out.count
        return out
    }

    /// Whether bytes arrived after the end of the reply (then the connection is not reused).
    var hasTrailingBytes: Bool { position < buffer.count }

    /// Takes the next bytes.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Progress {
        received += bytes.count
        buffer.append(contentsOf: bytes)
        return try advance()
    }

    /// The peer closed the connection: a reply framed by the close is now complete; any other is cut short.
    mutating func finish() throws(Failure) -> Progress {
        if case .untilClose = state {
            state = .done
            position = buffer.count
            return .complete
        }
        if case .done = state { return .complete }
        return .needMore
    }

    private mutating func advance() throws(Failure) -> Progress {
        while true {
            switch state {
            case .done:
                return .complete
            case .head:
                guard let end = headEnd() else {
                    if buffer.count - position > Self.maxHeadBytes { throw .invalid("reply head larger than \(Self.maxHeadBytes) bytes") }
                    return .needMore
                }
                guard end.lineEnd - position <= Self.maxHeadBytes else { throw .invalid("reply head larger than \(Self.maxHeadBytes) bytes") }
                try parseHead(buffer[position..<end.lineEnd])
                position = end.next
                scanned = position
                if (100..<200).contains(status) {
                    guard status != 101 else { throw .invalid("the server switched protocols") }
                    interimHeads += 1
                    guard interimHeads <= 16 else { throw .invalid("more than 16 interim (1xx) replies") }
                    headers = []
                    continue
                }
                try frame()
            case .fixed(let end):
                guard buffer.count >= end else { return .needMore }
                position = end
                state = .done
            case .untilClose:
                guard taken + buffer.count - bodyStart <= maxBodyBytes else { throw .tooLarge }
                return .needMore
            case .chunkSize:
                guard let newline = firstNewline(from: position) else {
                    if buffer.count - position > 1024 { throw .invalid("chunk size line longer than 1024 bytes") }
                    return .needMore
                }
                guard newline - position <= 1024 else { throw .invalid("chunk size line longer than 1024 bytes") }
                var size = 0
                var digits = 0
                var index = position
                while index < newline, let digit = Self.hexValue(buffer[index]) {
                    size = size << 4 | digit
                    digits += 1
                    guard digits <= 15 else { throw .invalid("chunk size too large") }
                    index += 1
                }
                guard digits > 0 else { throw .invalid("invalid chunk size") }
                // Chunk extensions (`;name=value`) and spaces before them are ignored.
                if index < newline, buffer[index] != 0x3B, buffer[index] != 0x20, buffer[index] != 0x09, buffer[index] != 0x0D {
                    throw .invalid("invalid chunk size")
                }
                position = newline + 1
                if size == 0 {
                    state = .trailers
                    scanned = position
                } else {
                    guard taken + chunked.count + size <= maxBodyBytes else { throw .tooLarge }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let available = min(remaining, buffer.count - position)
                if available > 0 {
                    chunked.append(contentsOf: buffer[position..<(position + available)])
                    position += available
                }
                if available < remaining {
                    state = .chunkData(remaining: remaining - available)
                    compact()
                    return .needMore
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                let left = buffer.count - position
                guard left > 0 else { return .needMore }
                if buffer[position] == 0x0A {
                    position += 1
                } else if buffer[position] == 0x0D {
                    guard left >= 2 else { return .needMore }
                    guard buffer[position + 1] == 0x0A else { throw .invalid("chunk not followed by CRLF") }
                    position += 2
                } else {
                    throw .invalid("chunk not followed by CRLF")
                }
                state = .chunkSize
                compact()
            case .trailers:
                // Trailer fields are read and dropped, up to the empty line.
                guard let end = headEnd(allowEmpty: true) else {
                    if buffer.count - position > Self.maxHeadBytes { throw .invalid("trailers larger than \(Self.maxHeadBytes) bytes") }
                    return .needMore
                }
                position = end.next
                bodyStart = position
                state = .done
            }
        }
    }

    /// Drops consumed bytes once they are the larger part of a large buffer (chunked bodies are copied out).
    private mutating func compact() {
        if position > 64 << 10, position * 2 > buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
            scanned = 0
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte - 0x30)
        case 0x41...0x46: return Int(byte - 0x41 + 10)
        case 0x61...0x66: return Int(byte - 0x61 + 10)
        default: return nil
        }
    }

    private func firstNewline(from start: Int) -> Int? {
        buffer.withUnsafeBufferPointer { bytes -> Int? in
            guard start < bytes.count, let base = bytes.baseAddress else { return nil }
            guard let found = memchr(base + start, 0x0A, bytes.count - start) else { return nil }
            return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// The end of a head at `position`: the index of the newline ending its last line, and the first
    /// index after the empty line. Lines end in CRLF or a bare LF. With `allowEmpty`, an empty line
    /// right at `position` ends an empty section (trailers).
    private mutating func headEnd(allowEmpty: Bool = false) -> (lineEnd: Int, next: Int)? {
        var from = max(position, scanned)
        if allowEmpty, from == position {
            if buffer.count - position >= 1, buffer[position] == 0x0A { return (position, position + 1) }
            if buffer.count - position >= 2, buffer[position] == 0x0D, buffer[position + 1] == 0x0A { return (position, position + 2) }
        }
        while let newline = firstNewline(from: from) {
            var next = newline + 1
            if next < buffer.count, buffer[next] == 0x0D { next += 1 }
            guard next < buffer.count else {
                scanned = newline
                return nil
            }
            if buffer[next] == 0x0A { return (newline, next + 1) }
            from = newline + 1
        }
        scanned = max(position, buffer.count - 1)
        return nil
    }

    /// Reads the status line and the header fields.
    private mutating func parseHead(_ head: ArraySlice<UInt8>) throws(Failure) {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        for index in head.indices where head[index] == 0x0A {
            lines.append(Self.trimCR(head[start..<index]))
            start = index + 1
        }
        lines.append(Self.trimCR(head[start..<head.endIndex]))
        guard let statusLine = lines.first else { throw .invalid("empty reply head") }
        // HTTP/1.x SP 3DIGIT [SP reason]
        let prefix = Array("HTTP/1.".utf8)
        guard statusLine.count >= 12, statusLine.prefix(7).elementsEqual(prefix) else { throw .invalid("invalid status line") }
        let base = statusLine.startIndex
        let minor = statusLine[base + 7]
        guard minor == 0x30 || minor == 0x31, statusLine[base + 8] == 0x20 else { throw .invalid("invalid status line") }
        var code = 0
        for offset in 9..<12 {
            let digit = statusLine[base + offset]
            guard digit >= 0x30, digit <= 0x39 else { throw .invalid("invalid status line") }
            code = code * 10 + Int(digit - 0x30)
        }
        guard code >= 100, statusLine.count == 12 || statusLine[base + 12] == 0x20 else { throw .invalid("invalid status line") }
        status = code
        keepAlive = minor == 0x31
        var fields: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else { throw .invalid("invalid header line") }
            let name = line[line.startIndex..<colon]
            guard name.allSatisfy(HTTP1Request.isTokenByte) else { throw .invalid("invalid header name") }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { throw .invalid("invalid header value") }
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        headers = fields
        for (name, value) in fields where HTTP1Request.equalsIgnoringCase(name, "connection") {
            for token in value.split(separator: ",") {
                let token = token.trimmingSpaces.lowercased()
                if token == "close" { keepAlive = false }
                if token == "keep-alive", minor == 0x30 { keepAlive = true }
            }
        }
    }

    /// Decides how the body is framed, from the status and the headers.
    private mutating func frame() throws(Failure) {
        bodyStart = position
        if headRequest || status == 204 || status == 304 {
            state = .done
            return
        }
        var transferEncoding: String?
        var length: Int?
        for (name, value) in headers {
            if HTTP1Request.equalsIgnoringCase(name, "transfer-encoding") {
                transferEncoding = transferEncoding.map { $0 + "," + value } ?? value
            } else if HTTP1Request.equalsIgnoringCase(name, "content-length") {
                for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let digits = item.trimmingSpaces
                    guard !digits.isEmpty, digits.count <= 18, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let parsed = Int(digits)
                    else { throw .invalid("invalid content-length") }
                    guard length == nil || length == parsed else { throw .invalid("conflicting content-length values") }
                    length = parsed
                }
            }
        }
        if let transferEncoding {
            let last = transferEncoding.split(separator: ",").last.map { $0.trimmingSpaces.lowercased() }
            guard last == "chunked" else { throw .invalid("unsupported transfer-encoding") }
            state = .chunkSize
        } else if let length {
            guard length <= maxBodyBytes else { throw .tooLarge }
            state = .fixed(end: position + length)
        } else {
            keepAlive = false
            state = .untilClose
        }
    }

    private static func trimCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == 0x0D ? line.dropLast() : line
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
