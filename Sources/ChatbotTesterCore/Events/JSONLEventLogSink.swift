import Foundation

/// Writes every event as one JSON line: `{"kind": …, "time": …, …the event's own fields}`.
///
/// The CLI subscribes one to write `events.jsonl` in the output directory. Lines are buffered and
/// written at least every `flushIntervalSeconds` and on `finish()`; keys are sorted, times are
/// ISO-8601 with milliseconds. An event that cannot be encoded becomes a line with `encodeError`,
/// never a crash.
public final class JSONLEventLogSink: EventSink {
    private struct State {
        var buffer = Data()
        var lastFlush: Double
        var failed = false
    }

    public let url: URL
    private let handle: FileHandle
    private let include: (@Sendable (String) -> Bool)?
    private let clock: any TesterClock
    private let flushIntervalSeconds: Double
    private let state: Locked<State>

    /// Opens `url` for appending (creating it and its directory).
    /// - Parameters:
    ///   - include: keeps only events whose kind it accepts (all when `nil`).
    ///   - flushIntervalSeconds: the longest a line waits in the buffer while events keep coming.
    public init(
        url: URL, include: (@Sendable (String) -> Bool)? = nil, flushIntervalSeconds: Double = 1,
        clock: any TesterClock = SystemTesterClock()
    ) throws {
        self.url = url
        self.include = include
        self.clock = clock
        self.flushIntervalSeconds = flushIntervalSeconds
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: url.path) {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
        } catch {
            throw ChatbotTesterError(.io, "cannot open event log \(url.path)", location: SourceLocation(source: url.path), cause: error)
        }
        state = Locked(State(lastFlush: clock.now()))
    }

    /// The JSON object written for `envelope`: the event's fields plus `kind` and `time`.
    public static func line(for envelope: EventEnvelope) -> Data {
        let encoder = JSONCoding.encoder()
        var object: [String: JSONValue]
        do {
            let fields = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(envelope.event))
            object = fields.objectValue ?? ["value": fields]
        } catch {
            object = ["encodeError": .string(String(describing: error))]
        }
        object["kind"] = .string(envelope.kind)
        object["time"] = .string(envelope.time.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        var data = (try? encoder.encode(JSONValue.object(object))) ?? Data(#"{"kind":"encode.failed"}"#.utf8)
        data.append(0x0A)
        return data
    }

    public func receive(_ envelope: EventEnvelope) async {
        if let include, !include(envelope.kind) { return }
        let line = Self.line(for: envelope)
        let now = clock.now()
        state.withLock { s in
            s.buffer.append(line)
            if s.buffer.count >= 1 << 16 || now - s.lastFlush >= flushIntervalSeconds {
                flushLocked(&s)
                s.lastFlush = now
            }
        }
    }

    public func finish() async {
        state.withLock { s in
            flushLocked(&s)
            try? handle.synchronize()
            try? handle.close()
        }
    }

    private func flushLocked(_ s: inout State) {
        guard !s.buffer.isEmpty, !s.failed else { return }
        do {
            try handle.write(contentsOf: s.buffer)
        } catch {
            s.failed = true
        }
        s.buffer.removeAll(keepingCapacity: true)
    }
}
