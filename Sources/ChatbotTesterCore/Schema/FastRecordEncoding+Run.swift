import Foundation

/// `RunRecord` lines straight to bytes (`test` writes one per case to its journal), with the same
/// conventions as the `EvalRecord` writer: the bytes `JSONCoding.encoder()` writes, or `nil` when
/// the writer cannot vouch for them (a case with a scenario, tools, a tool choice or expected tool
/// calls; a non-finite number; a date before 1970 or after 9999; a metadata or argument key outside
/// printable ASCII), and the caller encodes with `JSONEncoder`, the reference.
extension FastRecordEncoding {
    /// The JSON line (with its newline) of an `EvalRecord` or a `RunRecord`; `nil` for any other
    /// value, or when `JSONEncoder` must write it.
    public static func anyLine<Value>(_ value: Value) -> [UInt8]? {
        if let eval = value as? EvalRecord { return line(eval) }
        guard let run = value as? RunRecord, var bytes = bytes(run) else { return nil }
        bytes.append(0x0A)
        return bytes
    }

    /// The JSON object of `record` (no newline), or `nil` when `JSONEncoder` must write it.
    public static func bytes(_ record: RunRecord) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(512 + (record.output?.utf8.count ?? 0) * 2)
        guard append(record, to: &out) else { return nil }
        return out
    }

    /// Appends the JSON object of `record`; false (with `out` partly written) when it cannot.
    /// With `omittingSample`, `sample` is written as `null` (a cluster worker leaves out the
    /// sample it was assigned: the coordinator puts the spool's bytes back).
    public static func append(_ record: RunRecord, omittingSample: Bool = false, to out: inout [UInt8]) -> Bool {
        append(record, sample: omittingSample ? .null : .encoded, to: &out)
    }

    /// How `append(_:sample:to:)` writes a run's `sample`.
    public enum SampleValue {
        /// Encoded from the record.
        case encoded
        /// As `null` (a cluster worker leaves out the sample it was assigned).
        case null
        /// As these bytes, the sample's JSON as the spool holds it (a cluster worker writing the
        /// journal line the coordinator would write: the sample it was assigned, byte for byte).
        case bytes(Data)
    }

    /// Appends the JSON object of `record` with its `sample` written as `sample` says; false (with
    /// `out` partly written) when it cannot.
    public static func append(_ record: RunRecord, sample: SampleValue, to out: inout [UInt8]) -> Bool {
        // Sorted: attempts, costUSD, error, finishedAt, latencyMs, output, sample, sampleId,
        // schemaVersion, simulatorUsage, startedAt, status, stopReason, target, transcript, turns, usage.
        var members = MemberWriter()
        out.append(UInt8(ascii: "{"))
        members.key("attempts", &out)
        appendInt(record.attempts, to: &out)
        if let cost = record.costUSD {
            members.key("costUSD", &out)
            guard appendNumber(cost, to: &out) else { return false }
        }
        if let error = record.error {
            members.key("error", &out)
            appendError(error, to: &out)
        }
        if let finished = record.finishedAt {
            members.key("finishedAt", &out)
            guard appendDate(finished, to: &out) else { return false }
        }
        members.key("latencyMs", &out)
        guard appendNumber(record.latencyMs, to: &out) else { return false }
        if let output = record.output {
            members.key("output", &out)
            appendString(output, to: &out)
        }
        members.key("sample", &out)
        switch sample {
        case .null: out.append(contentsOf: "null".utf8)
        case .bytes(let bytes): bytes.withUnsafeBytes { out.append(contentsOf: $0.bindMemory(to: UInt8.self)) }
        case .encoded: guard append(record.sample, to: &out) else { return false }
        }
        members.key("sampleId", &out)
        appendString(record.sampleId, to: &out)
        members.key("schemaVersion", &out)
        appendInt(record.schemaVersion, to: &out)
        if let usage = record.simulatorUsage {
            members.key("simulatorUsage", &out)
            appendUsage(usage, to: &out)
        }
        if let started = record.startedAt {
            members.key("startedAt", &out)
            guard appendDate(started, to: &out) else { return false }
        }
        members.key("status", &out)
        appendString(record.status.rawValue, to: &out)
        if let stopReason = record.stopReason {
            members.key("stopReason", &out)
            appendString(stopReason, to: &out)
        }
        members.key("target", &out)
        appendString(record.target, to: &out)
        members.key("transcript", &out)
        out.append(UInt8(ascii: "["))
        for (position, message) in record.transcript.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            guard append(message, to: &out) else { return false }
        }
        out.append(UInt8(ascii: "]"))
        members.key("turns", &out)
        out.append(UInt8(ascii: "["))
        for (position, turn) in record.turns.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            guard append(turn, to: &out) else { return false }
        }
        out.append(UInt8(ascii: "]"))
        members.key("usage", &out)
        appendUsage(record.usage, to: &out)
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// A test case as `TestSample.encode(to:)` writes it; false for a scenario, tools, a tool
    /// choice or expected tool calls (left to `JSONEncoder`), or metadata it cannot write.
    static func append(_ sample: TestSample, to out: inout [UInt8]) -> Bool {
        guard sample.scenario == nil, sample.tools == nil, sample.toolChoice == nil, sample.expectedTools == nil else {
            return false
        }
        // Sorted: context, criteria, expected, (expectedTools), id, input, maxSteps, metadata,
        // referenceContexts, (scenario), schemaVersion, system, tags, (toolChoice), (tools), turns.
        var members = MemberWriter()
        out.append(UInt8(ascii: "{"))
        if let context = sample.context {
            members.key("context", &out)
            appendStrings(context, to: &out)
        }
        if let criteria = sample.criteria {
            members.key("criteria", &out)
            appendString(criteria, to: &out)
        }
        if let expected = sample.expected {
            members.key("expected", &out)
            appendString(expected, to: &out)
        }
        members.key("id", &out)
        appendString(sample.id, to: &out)
        if let input = sample.input {
            members.key("input", &out)
            appendString(input, to: &out)
        }
        if let maxSteps = sample.maxSteps {
            members.key("maxSteps", &out)
            appendInt(maxSteps, to: &out)
        }
        if !sample.metadata.isEmpty {
            members.key("metadata", &out)
            guard appendObject(sample.metadata, to: &out, depth: 0) else { return false }
        }
        if let contexts = sample.referenceContexts {
            members.key("referenceContexts", &out)
            appendStrings(contexts, to: &out)
        }
        members.key("schemaVersion", &out)
        appendInt(sample.schemaVersion, to: &out)
        if let system = sample.system {
            members.key("system", &out)
            appendString(system, to: &out)
        }
        if !sample.tags.isEmpty {
            members.key("tags", &out)
            appendStrings(sample.tags, to: &out)
        }
        if let turns = sample.turns {
            members.key("turns", &out)
            appendStrings(turns, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// A message as `Message.encode(to:)` writes it (sorted: content, isError, name, role,
    /// toolCallId, toolCalls).
    static func append(_ message: Message, to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #"{"content":"#.utf8)
        appendString(message.content, to: &out)
        if let isError = message.isError {
            out.append(contentsOf: #","isError":"#.utf8)
            appendBool(isError, to: &out)
        }
        if let name = message.name {
            out.append(contentsOf: #","name":"#.utf8)
            appendString(name, to: &out)
        }
        out.append(contentsOf: #","role":"#.utf8)
        appendString(message.role.rawValue, to: &out)
        if let callId = message.toolCallId {
            out.append(contentsOf: #","toolCallId":"#.utf8)
            appendString(callId, to: &out)
        }
        if let calls = message.toolCalls, !calls.isEmpty {
            out.append(contentsOf: #","toolCalls":"#.utf8)
            guard appendToolCalls(calls, to: &out) else { return false }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// A turn as `TurnRecord.encode(to:)` writes it (sorted: attempts, costUSD, finishReason,
    /// index, latencyMs, retrievedContexts, timeToFirstTokenMs, tokensPerSecond, toolCalls, usage).
    static func append(_ turn: TurnRecord, to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #"{"attempts":"#.utf8)
        appendInt(turn.attempts, to: &out)
        if let cost = turn.costUSD {
            out.append(contentsOf: #","costUSD":"#.utf8)
            guard appendNumber(cost, to: &out) else { return false }
        }
        if let reason = turn.finishReason {
            out.append(contentsOf: #","finishReason":"#.utf8)
            appendString(reason, to: &out)
        }
        out.append(contentsOf: #","index":"#.utf8)
        appendInt(turn.index, to: &out)
        out.append(contentsOf: #","latencyMs":"#.utf8)
        guard appendNumber(turn.latencyMs, to: &out) else { return false }
        if let contexts = turn.retrievedContexts {
            out.append(contentsOf: #","retrievedContexts":"#.utf8)
            appendStrings(contexts, to: &out)
        }
        if let time = turn.timeToFirstTokenMs {
            out.append(contentsOf: #","timeToFirstTokenMs":"#.utf8)
            guard appendNumber(time, to: &out) else { return false }
        }
        if let rate = turn.tokensPerSecond {
            out.append(contentsOf: #","tokensPerSecond":"#.utf8)
            guard appendNumber(rate, to: &out) else { return false }
        }
        if let calls = turn.toolCalls, !calls.isEmpty {
            out.append(contentsOf: #","toolCalls":"#.utf8)
            guard appendToolCalls(calls, to: &out) else { return false }
        }
        out.append(contentsOf: #","usage":"#.utf8)
        appendUsage(turn.usage, to: &out)
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// Tool calls (each sorted: arguments, id, name).
    static func appendToolCalls(_ calls: [ToolCall], to out: inout [UInt8]) -> Bool {
        out.append(UInt8(ascii: "["))
        for (position, call) in calls.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"arguments":"#.utf8)
            guard appendValue(call.arguments, to: &out, depth: 0) else { return false }
            out.append(contentsOf: #","id":"#.utf8)
            appendString(call.id, to: &out)
            out.append(contentsOf: #","name":"#.utf8)
            appendString(call.name, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return true
    }

    /// An error as its `Codable` encoding writes it (sorted: code, message, status).
    public static func appendError(_ error: ErrorInfo, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"code":"#.utf8)
        appendString(error.code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        appendString(error.message, to: &out)
        if let status = error.status {
            out.append(contentsOf: #","status":"#.utf8)
            appendInt(status, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Usage's three counts (`totalTokens` derived), sorted.
    static func appendUsage(_ usage: Usage, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"completionTokens":"#.utf8)
        appendInt(usage.completionTokens, to: &out)
        out.append(contentsOf: #","promptTokens":"#.utf8)
        appendInt(usage.promptTokens, to: &out)
        out.append(contentsOf: #","totalTokens":"#.utf8)
        appendInt(usage.totalTokens, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// An array of strings.
    public static func appendStrings(_ texts: [String], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (position, text) in texts.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            appendString(text, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// A date as the `.iso8601` strategy writes it: `2026-12-01T23:20:59Z`, UTC, whole seconds
    /// rounded down. False outside 1970…9999 (the encoder's calendar and year width differ there).
    public static func appendDate(_ date: Date, to out: inout [UInt8]) -> Bool {
        // Whole seconds counted from the reference date, as the encoder's calendar counts them.
        let sinceReference = date.timeIntervalSinceReferenceDate.rounded(.down)
        guard sinceReference >= -978_307_200, sinceReference < 252_423_993_600 else { return false }
        var seconds = time_t(Int(sinceReference) + 978_307_200)
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return false }
        out.append(UInt8(ascii: "\""))
        appendDigits(Int(parts.tm_year) + 1900, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(Int(parts.tm_mon) + 1, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(Int(parts.tm_mday), width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(Int(parts.tm_hour), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(Int(parts.tm_min), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(Int(parts.tm_sec), width: 2, to: &out)
        out.append(UInt8(ascii: "Z"))
        out.append(UInt8(ascii: "\""))
        return true
    }

    /// A number with leading zeros to `width` characters (as `String(number)` padded with "0"s).
    public static func appendDigits(_ number: Int, width: Int, to out: inout [UInt8]) {
        guard number >= 0, number < 1_000_000_000 else {
            let text = String(number)
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(0, width - text.utf8.count)))
            out.append(contentsOf: text.utf8)
            return
        }
        var divisor = 1
        var digits = 1
        while divisor * 10 <= number {
            divisor *= 10
            digits += 1
        }
        if digits < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits)) }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(number / divisor % 10))
            divisor /= 10
        }
    }

    /// Writes the commas between an object's members.
    struct MemberWriter {
        private var first = true

        mutating func key(_ name: StaticString, _ out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
    }
}
