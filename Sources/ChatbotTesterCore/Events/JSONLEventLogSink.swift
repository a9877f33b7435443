import Foundation

/// Writes every event as one JSON line: `{"kind": …, "time": …, …the event's own fields}`.
///
/// The CLI subscribes one to write `events.jsonl` in the output directory. Lines are buffered and
/// written at least every `flushIntervalSeconds` and on `finish()`; keys are sorted, times are
/// ISO-8601 with milliseconds. An event that cannot be encoded becomes a line with `encodeError`,
/// never a crash.
public final class JSONLEventLogSink: InlineEventSink {
    private struct State {
        var bytes: [UInt8] = []
        var lastFlush: Double
        let encoder = JSONCoding.encoder()
    }

    public let url: URL
    private let handle: FileHandle
    private let include: (@Sendable (String) -> Bool)?
    private let clock: any TesterClock
    private let flushIntervalSeconds: Double
    private let state: Locked<State>
    /// Held while a buffer is written (one writer at a time, in order); `true` once a write failed.
    private let writing = Locked(false)

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
            handle = try FileHandle.opening(url, for: .appending)
        } catch {
            throw ChatbotTesterError(.io, "cannot open event log \(url.path)", location: SourceLocation(source: url.path), cause: error)
        }
        state = Locked(State(lastFlush: clock.now()))
    }

    /// The line written for `envelope`: `{"kind":…,"time":…,` then the event's own fields (sorted).
    /// Fields named `kind` or `time` are reserved; an event that has them is merged the slow way,
    /// with the envelope's values winning. An event that writes its own fields
    /// (`TesterEvent.appendJSONFields`) skips `JSONEncoder`: the same bytes.
    public static func line(for envelope: EventEnvelope, encoder: JSONEncoder = JSONCoding.encoder()) -> Data {
        var bytes: [UInt8] = []
        guard appendLine(for: envelope, to: &bytes) else { return referenceLine(for: envelope, encoder: encoder) }
        return Data(bytes)
    }

    /// Appends the line of `envelope` (with its newline) when the event writes its own fields;
    /// false, with `out` as it was, when `JSONEncoder` must write it (`referenceLine`).
    public static func appendLine(for envelope: EventEnvelope, to out: inout [UInt8]) -> Bool {
        let start = out.count
        out.append(contentsOf: #"{"kind":"#.utf8)
        FastRecordEncoding.appendString(envelope.kind, to: &out)
        out.append(contentsOf: #","time":""#.utf8)
        appendTimestamp(envelope.time, to: &out)
        out.append(0x22)
        guard envelope.event.appendJSONFields(to: &out) else {
            out.removeSubrange(start...)
            return false
        }
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
        return true
    }

    /// The line of `envelope` through `JSONEncoder`: the reference the byte path is tested against.
    public static func referenceLine(for envelope: EventEnvelope, encoder: JSONEncoder = JSONCoding.encoder()) -> Data {
        let kind = (try? encoder.encode(envelope.kind)) ?? Data(#""?""#.utf8)
        var line = Data(#"{"kind":"#.utf8)
        line.append(kind)
        line.append(contentsOf: #","time":""#.utf8)
        line.append(contentsOf: timestamp(envelope.time).utf8)
        line.append(0x22)
        do {
            let fields = try encoder.encode(envelope.event)
            if fields.first == UInt8(ascii: "{"), fields.last == UInt8(ascii: "}"), !mentionsReservedKey(fields) {
                if fields.count > 2 {
                    line.append(0x2C)
                    line.append(fields.dropFirst())
                } else {
                    line.append(UInt8(ascii: "}"))
                }
            } else {
                var object = try JSONDecoder().decode(JSONValue.self, from: fields).objectValue ?? ["value": try JSONDecoder().decode(JSONValue.self, from: fields)]
                object["kind"] = .string(envelope.kind)
                object["time"] = .string(timestamp(envelope.time))
                line = try encoder.encode(JSONValue.object(object))
            }
        } catch {
            line.append(contentsOf: #","encodeError":"#.utf8)
            line.append((try? encoder.encode(String(describing: error))) ?? Data(#""?""#.utf8))
            line.append(UInt8(ascii: "}"))
        }
        line.append(0x0A)
        return line
    }

    private static func mentionsReservedKey(_ fields: Data) -> Bool {
        fields.range(of: Data(#""kind":"#.utf8)) != nil || fields.range(of: Data(#""time":"#.utf8)) != nil
    }

    /// `2026-11-25T16:59:01.123Z`: UTC, milliseconds.
    public static func timestamp(_ date: Date) -> String {
        var bytes: [UInt8] = []
        appendTimestamp(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `timestamp(date)`'s bytes. The calendar date is computed from the day number
    /// (proleptic Gregorian, as `gmtime_r` gives it) without `gmtime_r`, whose time-zone lock every
    /// emitting thread would take per event; dates before 1970 or after 9999 take `gmtime_r`.
    static func appendTimestamp(_ date: Date, to out: inout [UInt8]) {
        let millisecondsTotal = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        guard millisecondsTotal >= 0, millisecondsTotal < 253_402_300_800_000 else { return appendTimestampByGmtime(date, to: &out) }
        let seconds = Int(millisecondsTotal / 1000)
        let (year, month, day) = CivilDate.date(daysSince1970: seconds / 86400)
        let secondOfDay = seconds % 86400
        appendTimestamp(
            year: year, month: month, day: day, hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60, second: secondOfDay % 60,
            milliseconds: Int(millisecondsTotal % 1000), to: &out)
    }

    /// `appendTimestamp` through `gmtime_r` (the reference the arithmetic is tested against).
    static func appendTimestampByGmtime(_ date: Date, to out: inout [UInt8]) {
        let millisecondsTotal = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(millisecondsTotal / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        appendTimestamp(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday), hour: Int(parts.tm_hour),
            minute: Int(parts.tm_min), second: Int(parts.tm_sec), milliseconds: Int(millisecondsTotal % 1000), to: &out)
    }

    private static func appendTimestamp(
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, milliseconds: Int, to out: inout [UInt8]
    ) {
        FastRecordEncoding.appendDigits(year, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        FastRecordEncoding.appendDigits(month, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        FastRecordEncoding.appendDigits(day, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        FastRecordEncoding.appendDigits(hour, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        FastRecordEncoding.appendDigits(minute, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        FastRecordEncoding.appendDigits(second, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        FastRecordEncoding.appendDigits(milliseconds, width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    public func receive(_ envelope: EventEnvelope) async {
        if accept(envelope) { await drain() }
    }

    /// Appends the event's line to the buffer (no I/O); true when the buffer is due to be written.
    /// The `EventBus` calls this on the emitting thread, so the log costs no task wake per event.
    public func accept(_ envelope: EventEnvelope) -> Bool {
        if let include, !include(envelope.kind) { return false }
        // The line is made before taking the lock (emitters on other threads append meanwhile);
        // only the copy into the buffer is done under it.
        var line: [UInt8] = []
        line.reserveCapacity(256)
        let encoded = Self.appendLine(for: envelope, to: &line)
        let now = clock.now()
        return state.withLock { s in
            if encoded {
                s.bytes.append(contentsOf: line)
            } else {
                s.bytes.append(contentsOf: Self.referenceLine(for: envelope, encoder: s.encoder))
            }
            return s.bytes.count >= 1 << 16 || now - s.lastFlush >= flushIntervalSeconds
        }
    }

    /// Writes the buffered lines. The buffer is taken under the state lock and written outside it,
    /// so an emitter appending a line never waits for the file.
    public func drain() async {
        flush(closing: false)
    }

    public func finish() async {
        flush(closing: true)
    }

    private func flush(closing: Bool) {
        writing.withLock { failed in
            let bytes = state.withLock { s -> [UInt8] in
                s.lastFlush = clock.now()
                var taken: [UInt8] = []
                taken.reserveCapacity(s.bytes.capacity)
                swap(&taken, &s.bytes)
                return taken
            }
            if !bytes.isEmpty, !failed {
                do {
                    // Events carry error messages and replies; whole lines are buffered, so no secret straddles a flush.
                    try handle.write(contentsOf: SecretMasker.shared.mask(Data(bytes)))
                } catch {
                    failed = true
                }
            }
            if closing {
                try? handle.synchronize()
                try? handle.close()
            }
        }
    }
}
