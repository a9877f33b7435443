import Foundation

/// Record decoding straight from the bytes: one pass over a record's JSON that checks every byte
/// as `JSONByteParser` does and builds the record as it reads it — no `JSONValue` tree in between
/// (only for the free-form members: `metadata`, `details`, tool call `arguments`, which are
/// `JSONValue`s), no second walk.
///
/// It takes exactly the shapes the tree readers of `FastRecordDecoding` take and gives up where
/// they do — a member it does not know, a value of another type, a date in another form — and
/// also on a member name given twice (the tree keeps the first value; here the caller's
/// `JSONDecoder` decides). Giving up, and any malformed JSON, return `nil`: the caller then decodes
/// with the `Codable` decoder, the reference, which gives every error. The differential tests
/// check both paths against it.
extension FastRecordDecoding {
    typealias Reader = JSONByteParser
    typealias Failure = JSONByteParser.Failure

    /// Thrown inside the byte readers to leave the fast path (not an error of the input).
    static let giveUp = Failure(offset: -1, message: "not the plain shape of a record")

    /// The record of `type` read from `bytes` in one pass, or `nil` (see above).
    ///
    /// With `strict`, also `nil` for what `StrictJSONSyntax.check` refuses (a duplicated member
    /// name anywhere, a trailing comma, a byte order mark, nesting deeper than its limit): a
    /// record it returns is one the check passes, so a reader of lines (`JSONL.decode`) can take
    /// it without running the check.
    static func decodeBytes<Value>(_ type: Value.Type, from bytes: Data, strict: Bool = false) -> Value? {
        // Each record type is read by its own reader and handed back as itself: no `Any` box and no
        // dynamic cast per record (`Value` is checked to be the type first).
        if Value.self == TestSample.self {
            return read(bytes, strict: strict) { reader throws(Failure) in try reader.testSample(depth: 0) }.map { unsafeBitCast($0, to: Value.self) }
        } else if Value.self == RunRecord.self {
            return read(bytes, strict: strict) { reader throws(Failure) in try reader.runRecord() }.map { unsafeBitCast($0, to: Value.self) }
        } else if Value.self == EvalRecord.self {
            return read(bytes, strict: strict) { reader throws(Failure) in try reader.evalRecord(depth: 0) }.map { unsafeBitCast($0, to: Value.self) }
        }
        return nil
    }

    /// One record read by `body` from the whole of `bytes` (whitespace around it allowed), or nil.
    @inline(__always)
    private static func read<Record>(_ bytes: Data, strict: Bool, _ body: (inout Reader) throws(Failure) -> Record) -> Record? {
        bytes.withUnsafeBytes { raw -> Record? in
            var reader = Reader(raw.bindMemory(to: UInt8.self))
            reader.strict = strict
            do throws(Failure) {
                if !strict { reader.skipByteOrderMark() }
                reader.skipWhitespace()
                let value = try body(&reader)
                reader.skipWhitespace()
                guard reader.atEnd else { return nil }
                return value
            } catch {
                return nil
            }
        }
    }

    /// The members an object has shown so far, by number: a second one of a name gives up.
    struct SeenMembers {
        private var bits: UInt64 = 0

        mutating func first(_ member: Int) throws(Failure) {
            let bit: UInt64 = 1 << UInt64(member)
            guard bits & bit == 0 else { throw FastRecordDecoding.giveUp }
            bits |= bit
        }

        func has(_ member: Int) -> Bool { bits & (1 << UInt64(member)) != 0 }
    }
}

// MARK: Values, each read at the reader's position (whitespace before it already skipped).

extension JSONByteParser {
    private typealias Fast = FastRecordDecoding

    mutating func skipByteOrderMark() {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
    }

    var atEnd: Bool { index == bytes.count }

    /// Reads `null` when it is next: `true`; otherwise reads nothing.
    mutating func readNull() throws(Failure) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    mutating func readString() throws(Failure) -> String {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Fast.giveUp }
        return try string()
    }

    mutating func readOptionalString() throws(Failure) -> String? {
        if try readNull() { return nil }
        return try readString()
    }

    /// A number as the parser gives it (`.int` when integral and in range, else `.double`).
    mutating func readNumber() throws(Failure) -> JSONValue {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
            throw Fast.giveUp
        }
        return try number()
    }

    mutating func readInt() throws(Failure) -> Int {
        guard case .int(let number) = try readNumber() else { throw Fast.giveUp }
        return number
    }

    mutating func readOptionalInt() throws(Failure) -> Int? {
        if try readNull() { return nil }
        return try readInt()
    }

    /// A number as JSONDecoder reads a `Double`: from its text (an integer it would read as `Int`
    /// rounds the same way; one with a fraction or exponent is not read through `Int`).
    mutating func readDouble() throws(Failure) -> Double {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
            throw Fast.giveUp
        }
        let start = index
        let text = try numberText().text
        guard let value = Double(text) else { throw failure("invalid number") }
        guard value.isFinite else { throw Failure(offset: start, message: "number out of range") }
        // JSONDecoder refuses a number too small for a `Double`: let it say so.
        if Self.underflows(text, to: value) { throw Fast.giveUp }
        return value
    }

    mutating func readOptionalDouble() throws(Failure) -> Double? {
        if try readNull() { return nil }
        return try readDouble()
    }

    mutating func readOptionalBool() throws(Failure) -> Bool? {
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        case UInt8(ascii: "n"): try literal("null"); return nil
        default: throw Fast.giveUp
        }
    }

    /// `[String]?` (`nil` for `null`).
    mutating func readStrings(depth: Int) throws(Failure) -> [String]? {
        if try readNull() { return nil }
        var strings: [String] = []
        try readArray(depth: depth) { (reader: inout JSONByteParser) throws(Failure) in strings.append(try reader.readString()) }
        return strings
    }

    /// `[Double]?` (`nil` for `null`; a `null` item gives up).
    mutating func readDoubles(depth: Int) throws(Failure) -> [Double]? {
        if try readNull() { return nil }
        var numbers: [Double] = []
        try readArray(depth: depth) { (reader: inout JSONByteParser) throws(Failure) in numbers.append(try reader.readDouble()) }
        return numbers
    }

    /// `[String: JSONValue]?` (`nil` for `null`).
    mutating func readJSONObject(depth: Int) throws(Failure) -> [String: JSONValue]? {
        if try readNull() { return nil }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{"), case .object(let members) = try value(depth: depth) else { throw Fast.giveUp }
        return members
    }

    // MARK: Records

    /// `Usage` (`promptTokens`, `completionTokens`; `totalTokens` is read and ignored).
    mutating func usage(depth: Int) throws(Failure) -> Usage {
        var usage = Usage.zero
        var seen = Fast.SeenMembers()
        try readObject(depth: depth) { (reader: inout JSONByteParser, name: String) throws(Failure) in
            switch name {
            case "promptTokens": try seen.first(0); usage.promptTokens = try reader.readOptionalInt() ?? 0
            case "completionTokens": try seen.first(1); usage.completionTokens = try reader.readOptionalInt() ?? 0
            case "totalTokens": try seen.first(2); _ = try reader.value(depth: depth + 1)  // not read by `Usage`
            default: throw Fast.giveUp
            }
        }
        return usage
    }

    /// `Usage?` (`nil` for `null`).
    mutating func optionalUsage(depth: Int) throws(Failure) -> Usage? {
        if try readNull() { return nil }
        return try usage(depth: depth)
    }

    /// A value of `tree`'s shape read as a `JSONValue` and handed to the tree reader (rare members:
    /// tool calls, errors).
    private mutating func viaTree<T>(depth: Int, _ tree: (JSONValue) -> T?) throws(Failure) -> T {
        guard let read = tree(try value(depth: depth)) else { throw Fast.giveUp }
        return read
    }

    mutating func testSample(depth: Int) throws(Failure) -> TestSample {
        var sample = TestSample(id: "")
        var seen = Fast.SeenMembers()
        try readObject(depth: depth) { (reader: inout JSONByteParser, name: String) throws(Failure) in
            let inner = depth + 1
            switch name {
            case "id": try seen.first(0); sample.id = try reader.readString()
            case "schemaVersion":
                try seen.first(1)
                let version = try reader.readInt()
                guard version <= TestSample.currentSchemaVersion else { throw Fast.giveUp }
                sample.schemaVersion = version
            case "input": try seen.first(2); sample.input = try reader.readOptionalString()
            case "system": try seen.first(3); sample.system = try reader.readOptionalString()
            case "expected": try seen.first(4); sample.expected = try reader.readOptionalString()
            case "criteria": try seen.first(5); sample.criteria = try reader.readOptionalString()
            case "turns": try seen.first(6); sample.turns = try reader.readStrings(depth: inner)
            case "context": try seen.first(7); sample.context = try reader.readStrings(depth: inner)
            case "tags": try seen.first(8); sample.tags = try reader.readStrings(depth: inner) ?? []
            case "metadata": try seen.first(9); sample.metadata = try reader.readJSONObject(depth: inner) ?? [:]
            case "referenceContexts": try seen.first(10); sample.referenceContexts = try reader.readStrings(depth: inner)
            case "maxSteps":
                try seen.first(11)
                let steps = try reader.readOptionalInt()
                guard (steps ?? 1) >= 1 else { throw Fast.giveUp }
                sample.maxSteps = steps
            default: throw Fast.giveUp
            }
        }
        // An id; exactly one of input / turns (a scenario gave up above); turns not empty.
        guard !sample.id.isEmpty, (sample.input != nil) != (sample.turns != nil), sample.turns?.isEmpty != true else { throw Fast.giveUp }
        return sample
    }

    mutating func message(depth: Int) throws(Failure) -> Message {
        var message = Message(role: .user, content: "")
        var seen = Fast.SeenMembers()
        try readObject(depth: depth) { (reader: inout JSONByteParser, name: String) throws(Failure) in
            switch name {
            case "role":
                try seen.first(0)
                guard let role = MessageRole(rawValue: try reader.readString()) else { throw Fast.giveUp }
                message.role = role
            case "content": try seen.first(1); message.content = try reader.readString()
            case "toolCalls":
                try seen.first(2)
                let calls: [ToolCall]? = try reader.viaTree(depth: depth + 1, Fast.toolCalls)
                message.toolCalls = calls
            case "toolCallId": try seen.first(3); message.toolCallId = try reader.readOptionalString()
            case "name": try seen.first(4); message.name = try reader.readOptionalString()
            case "isError": try seen.first(5); message.isError = try reader.readOptionalBool()
            default: throw Fast.giveUp
            }
        }
        guard seen.has(0), seen.has(1) else { throw Fast.giveUp }
        return message
    }

    mutating func turnRecord(depth: Int) throws(Failure) -> TurnRecord {
        var turn = TurnRecord(index: 0, latencyMs: 0)
        var seen = Fast.SeenMembers()
        try readObject(depth: depth) { (reader: inout JSONByteParser, name: String) throws(Failure) in
            let inner = depth + 1
            switch name {
            case "index": try seen.first(0); turn.index = try reader.readInt()
            case "latencyMs": try seen.first(1); turn.latencyMs = try reader.readDouble()
            case "usage": try seen.first(2); turn.usage = try reader.usage(depth: inner)
            case "attempts": try seen.first(3); turn.attempts = try reader.readInt()
            case "costUSD": try seen.first(4); turn.costUSD = try reader.readOptionalDouble()
            case "finishReason": try seen.first(5); turn.finishReason = try reader.readOptionalString()
            case "toolCalls":
                try seen.first(6)
                let calls: [ToolCall]? = try reader.viaTree(depth: inner, Fast.toolCalls)
                turn.toolCalls = calls
            case "retrievedContexts": try seen.first(7); turn.retrievedContexts = try reader.readStrings(depth: inner)
            case "timeToFirstTokenMs": try seen.first(8); turn.timeToFirstTokenMs = try reader.readOptionalDouble()
            case "tokensPerSecond": try seen.first(9); turn.tokensPerSecond = try reader.readOptionalDouble()
            default: throw Fast.giveUp
            }
        }
        guard seen.has(0), seen.has(1), seen.has(2), seen.has(3) else { throw Fast.giveUp }
        return turn
    }

    mutating func runRecord() throws(Failure) -> RunRecord {
        var record = RunRecord(sample: TestSample(id: ""), target: "", status: .ok)
        record.output = nil
        var seen = Fast.SeenMembers()
        try readObject(depth: 0) { (reader: inout JSONByteParser, name: String) throws(Failure) in
            switch name {
            case "sampleId": try seen.first(0); record.sampleId = try reader.readString()
            case "target": try seen.first(1); record.target = try reader.readString()
            case "status":
                try seen.first(2)
                guard let status = RunRecord.Status(rawValue: try reader.readString()) else { throw Fast.giveUp }
                record.status = status
            case "sample": try seen.first(3); record.sample = try reader.testSample(depth: 1)
            case "schemaVersion": try seen.first(4); record.schemaVersion = try reader.readInt()
            case "transcript":
                try seen.first(5)
                var messages: [Message] = []
                if try !reader.readNull() {
                    try reader.readArray(depth: 1) { (reader: inout JSONByteParser) throws(Failure) in messages.append(try reader.message(depth: 2)) }
                }
                record.transcript = messages
            case "turns":
                try seen.first(6)
                var turns: [TurnRecord] = []
                if try !reader.readNull() {
                    try reader.readArray(depth: 1) { (reader: inout JSONByteParser) throws(Failure) in turns.append(try reader.turnRecord(depth: 2)) }
                }
                record.turns = turns
            case "output": try seen.first(7); record.output = try reader.readOptionalString()
            case "stopReason": try seen.first(8); record.stopReason = try reader.readOptionalString()
            case "usage": try seen.first(9); record.usage = try reader.optionalUsage(depth: 1) ?? .zero
            case "simulatorUsage": try seen.first(10); record.simulatorUsage = try reader.optionalUsage(depth: 1)
            case "costUSD": try seen.first(11); record.costUSD = try reader.readOptionalDouble()
            case "latencyMs": try seen.first(12); record.latencyMs = try reader.readOptionalDouble() ?? 0
            case "attempts": try seen.first(13); record.attempts = try reader.readOptionalInt() ?? 0
            case "error":
                try seen.first(14)
                if try reader.readNull() {
                    record.error = nil
                } else {
                    let info: ErrorInfo = try reader.viaTree(depth: 1, Fast.errorInfo)
                    record.error = info
                }
            case "startedAt": try seen.first(15); record.startedAt = try reader.readDate()
            case "finishedAt": try seen.first(16); record.finishedAt = try reader.readDate()
            default: throw Fast.giveUp
            }
        }
        guard seen.has(0), seen.has(1), seen.has(2), seen.has(3) else { throw Fast.giveUp }
        return record
    }

    /// A date in the form `JSONCoding` writes, or `null`.
    private mutating func readDate() throws(Failure) -> Date? {
        guard let text = try readOptionalString() else { return nil }
        guard let date = Fast.date(text) else { throw Fast.giveUp }
        return date
    }

    mutating func evalRecord(depth: Int) throws(Failure) -> EvalRecord {
        var record = EvalRecord(sampleId: "", metric: "", type: "", status: .scored)
        var seen = Fast.SeenMembers()
        try readObject(depth: depth) { (reader: inout JSONByteParser, name: String) throws(Failure) in
            let inner = depth + 1
            switch name {
            case "sampleId": try seen.first(0); record.sampleId = try reader.readString()
            case "metric": try seen.first(1); record.metric = try reader.readString()
            case "type": try seen.first(2); record.type = try reader.readString()
            case "status":
                try seen.first(3)
                guard let status = EvalRecord.Status(rawValue: try reader.readString()) else { throw Fast.giveUp }
                record.status = status
            case "schemaVersion": try seen.first(4); record.schemaVersion = try reader.readInt()
            case "score": try seen.first(5); record.score = try reader.readOptionalDouble()
            case "threshold": try seen.first(6); record.threshold = try reader.readOptionalDouble()
            case "spread": try seen.first(7); record.spread = try reader.readOptionalDouble()
            case "costUSD": try seen.first(8); record.costUSD = try reader.readOptionalDouble()
            case "passed": try seen.first(9); record.passed = try reader.readOptionalBool()
            case "straddlesThreshold": try seen.first(10); record.straddlesThreshold = try reader.readOptionalBool()
            case "reason": try seen.first(11); record.reason = try reader.readOptionalString()
            case "votes": try seen.first(12); record.votes = try reader.readDoubles(depth: inner)
            case "tags": try seen.first(13); record.tags = try reader.readStrings(depth: inner) ?? []
            case "details": try seen.first(14); record.details = try reader.readJSONObject(depth: inner)
            case "usage": try seen.first(15); record.usage = try reader.optionalUsage(depth: inner)
            default: throw Fast.giveUp
            }
        }
        guard seen.has(0), seen.has(1), seen.has(2), seen.has(3) else { throw Fast.giveUp }
        return record
    }
}
