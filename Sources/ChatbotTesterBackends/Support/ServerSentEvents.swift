import NIOCore

/// One server-sent event: its `event:` name (nil when the stream names none) and its `data:` lines
/// joined with `\n`.
struct ServerSentEvent: Sendable, Hashable {
    var event: String?
    var data: String
}

/// An incremental parser of a `text/event-stream` body (the WHATWG SSE format), fed bytes as they
/// arrive, split anywhere: mid-line, mid-field name, mid-UTF-8 sequence.
///
/// Lines end with `\n`, `\r\n` or `\r`; `:` lines are comments; `data:` lines accumulate (one optional
/// space after the colon is dropped); a blank line dispatches the event. `id:` and `retry:` are read and
/// ignored (a backend call never reconnects). Bytes are buffered only up to the end of the current line,
/// and an event larger than `maxEventBytes` is an error rather than a memory spike.
struct ServerSentEventParser: Sendable {
    /// An event (or a line) larger than this fails the stream.
    static let defaultMaxEventBytes = 16 << 20

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var event: String?
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    private var pendingCR = false
    let maxEventBytes: Int

    init(maxEventBytes: Int = ServerSentEventParser.defaultMaxEventBytes) {
        self.maxEventBytes = maxEventBytes
    }

    /// An event or line over the size limit.
    struct TooLarge: Error, Sendable {
        var limit: Int
    }

    /// Feeds the next bytes; returns the events they complete, in order. Scans for line ends and
    /// copies whole runs of line bytes at once.
    mutating func feed<Bytes: Sequence<UInt8>>(_ input: Bytes) throws(TooLarge) -> [ServerSentEvent] {
        let bytes = input as? [UInt8] ?? Array(input)
        let lf = UInt8(ascii: "\n")
        let cr = UInt8(ascii: "\r")
        var events: [ServerSentEvent] = []
        var index = 0
        while index < bytes.count {
            if pendingCR {
                pendingCR = false
                if bytes[index] == lf {
                    index += 1
                    continue
                }
            }
            var end = index
            while end < bytes.count, bytes[end] != lf, bytes[end] != cr { end += 1 }
            if end > index {
                guard line.count + data.count + (end - index) <= maxEventBytes else { throw TooLarge(limit: maxEventBytes) }
                line.append(contentsOf: bytes[index..<end])
            }
            guard end < bytes.count else { break }
            if bytes[end] == cr { pendingCR = true }
            if let event = endLine() { events.append(event) }
            index = end + 1
        }
        return events
    }

    /// The end of the body: a last event not followed by a blank line is still delivered (servers that
    /// close right after the final `data:` line are common).
    mutating func finish() -> ServerSentEvent? {
        var last: ServerSentEvent?
        if !line.isEmpty { last = endLine() }
        if last == nil { last = dispatch() }
        return last
    }

    /// Processes one complete line; returns an event when the line is blank and one is pending.
    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        if line.first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        var valueStart = colon == line.endIndex ? colon : line.index(after: colon)
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let field = line[..<colon]
        let value = line[valueStart...]
        if field.elementsEqual("data".utf8) {
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        } else if field.elementsEqual("event".utf8) {
            event = String(decoding: value, as: UTF8.self)
        }
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            event = nil
        }
        guard hasData else { return nil }
        return ServerSentEvent(event: event, data: String(decoding: data, as: UTF8.self))
    }
}

/// An incremental splitter of newline-delimited JSON (NDJSON / JSON Lines): complete, non-blank lines
/// out (without `\r\n`), however the bytes were split.
struct NDJSONLineSplitter: Sendable {
    private var line: [UInt8] = []
    let maxLineBytes: Int

    init(maxLineBytes: Int = ServerSentEventParser.defaultMaxEventBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds the next bytes; returns the lines they complete.
    mutating func feed<Bytes: Sequence<UInt8>>(_ input: Bytes) throws(ServerSentEventParser.TooLarge) -> [[UInt8]] {
        let bytes = input as? [UInt8] ?? Array(input)
        var lines: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            var end = index
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            guard line.count + (end - index) <= maxLineBytes else { throw ServerSentEventParser.TooLarge(limit: maxLineBytes) }
            line.append(contentsOf: bytes[index..<end])
            guard end < bytes.count else { break }
            if let done = take() { lines.append(done) }
            index = end + 1
        }
        return lines
    }

    /// The last line when the body does not end in a newline.
    mutating func finish() -> [UInt8]? { take() }

    private mutating func take() -> [UInt8]? {
        defer { line.removeAll(keepingCapacity: true) }
        var end = line.endIndex
        while end > 0, line[end - 1] == UInt8(ascii: "\r") || line[end - 1] == UInt8(ascii: " ") || line[end - 1] == UInt8(ascii: "\t") {
            end -= 1
        }
        guard line[..<end].contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { return nil }
        return Array(line[..<end])
    }
}

/// A stream assembler fed server-sent events: the bytes go through its parser, each event through
/// `consume`, which returns how many token deltas it carried.
protocol ServerSentEventAssembler: Sendable {
    var peer: BackendPeer { get }
    var events: ServerSentEventParser { get set }
    mutating func consume(_ event: ServerSentEvent) throws -> Int
}

extension ServerSentEventAssembler {
    /// Feeds body bytes, split anywhere; returns how many token deltas they completed.
    mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) throws -> Int {
        let parsed: [ServerSentEvent]
        do {
            parsed = try events.feed(bytes)
        } catch {
            throw peer.badResponse("a streamed event is larger than \(error.limit) bytes")
        }
        var deltas = 0
        for event in parsed { deltas += try consume(event) }
        return deltas
    }

    mutating func feed(_ buffer: ByteBuffer) throws -> Int { try feed(buffer.readableBytesView) }
}
