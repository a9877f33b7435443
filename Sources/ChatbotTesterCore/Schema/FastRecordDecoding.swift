import Foundation

/// Decoding of the record types from `JSONByteParser` values, without `JSONDecoder`: the hot
/// paths (dataset lines, `results.jsonl`, `evals.jsonl`) read millions of records.
///
/// Each function covers the shapes records take in practice and returns `nil` for anything else —
/// a field it does not know (a newer schema, a `scenario`), a value of another type, a date in
/// another form — and the caller then decodes with the type's `Codable` decoder. That decoder is the
/// reference: it produces every error message (file:line:field), and a differential test checks
/// that both give equal values for every field of every record type (and fails when a type gains
/// a field this file does not know).
enum FastRecordDecoding {
    /// The value `JSONDecoder` (with `JSONCoding`'s settings) would give for `bytes`, or `nil`
    /// when it cannot tell without it (malformed JSON included: the decoder then gives the error).
    /// Read straight from the bytes in one pass (`decodeBytes`).
    static func decode<Value>(_ type: Value.Type, from bytes: Data) -> Value? {
        decodeBytes(type, from: bytes)
    }

    /// The same through a `JSONValue` tree (the first fast path; `decode` reads the bytes in one
    /// pass instead): the differential tests hold the two to the same values.
    static func decodeViaTree<Value>(_ type: Value.Type, from bytes: Data) -> Value? {
        guard type == TestSample.self || type == RunRecord.self || type == EvalRecord.self,
            let value = try? JSONByteParser.parse(bytes), case .object(let object) = value
        else { return nil }
        if type == TestSample.self { return testSample(object) as? Value }
        if type == RunRecord.self { return runRecord(object) as? Value }
        return evalRecord(object) as? Value
    }

    // MARK: Field readers: nil means "not the simple shape" (fall back).

    /// A present value: `.some(nil)` for JSON null (what `decodeIfPresent` returns), nil for another type.
    private static func optionalString(_ value: JSONValue) -> String?? {
        switch value {
        case .string(let text): return .some(text)
        case .null: return .some(nil)
        default: return nil
        }
    }

    private static func optionalDouble(_ value: JSONValue) -> Double?? {
        switch value {
        case .double(let number): return .some(number)
        case .int(let number): return .some(Double(number))
        case .null: return .some(nil)
        default: return nil
        }
    }

    private static func optionalInt(_ value: JSONValue) -> Int?? {
        switch value {
        case .int(let number): return .some(number)
        case .null: return .some(nil)
        default: return nil
        }
    }

    private static func optionalBool(_ value: JSONValue) -> Bool?? {
        switch value {
        case .bool(let flag): return .some(flag)
        case .null: return .some(nil)
        default: return nil
        }
    }

    private static func optionalStrings(_ value: JSONValue) -> [String]?? {
        switch value {
        case .null: return .some(nil)
        case .array(let items):
            var strings: [String] = []
            strings.reserveCapacity(items.count)
            for item in items {
                guard case .string(let text) = item else { return nil }
                strings.append(text)
            }
            return .some(strings)
        default: return nil
        }
    }

    private static func optionalDoubles(_ value: JSONValue) -> [Double]?? {
        switch value {
        case .null: return .some(nil)
        case .array(let items):
            var numbers: [Double] = []
            for item in items {
                guard let number = optionalDouble(item), let number else { return nil }
                numbers.append(number)
            }
            return .some(numbers)
        default: return nil
        }
    }

    private static func optionalObject(_ value: JSONValue) -> [String: JSONValue]?? {
        switch value {
        case .object(let members): return .some(members)
        case .null: return .some(nil)
        default: return nil
        }
    }

    /// `Usage` (its decoder ignores other members, `totalTokens` among them).
    /// The members `usage` reads (`totalTokens` is written and ignored); any other falls back.
    static let usageFields: Set<String> = ["promptTokens", "completionTokens", "totalTokens"]

    private static func usage(_ value: JSONValue) -> Usage? {
        guard case .object(let members) = value, members.keys.allSatisfy(usageFields.contains) else { return nil }
        var usage = Usage.zero
        if let field = members["promptTokens"] {
            guard let number = optionalInt(field) else { return nil }
            usage.promptTokens = number ?? 0
        }
        if let field = members["completionTokens"] {
            guard let number = optionalInt(field) else { return nil }
            usage.completionTokens = number ?? 0
        }
        return usage
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (what `JSONCoding` writes); other ISO-8601 forms fall back.
    static func date(_ text: String) -> Date? {
        let parsed = text.utf8.withContiguousStorageIfAvailable { b -> Date? in
            guard b.count == 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x5A else { return nil }
            func number(_ start: Int, _ count: Int) -> Int? {
                var value = 0
                for i in start..<(start + count) {
                    let digit = Int(b[i]) - 0x30
                    guard digit >= 0, digit <= 9 else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2), year >= 1971, (1...12).contains(month), (1...28).contains(day),
                hour < 24, minute < 60, second < 60
            else { return nil }
            let days = CivilDate.days(year: year, month: month, day: day)
            return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3_600 + minute * 60 + second))
        }
        return parsed ?? nil
    }

    // MARK: Records

    /// The members `testSample` reads; any other (a newer schema's field) falls back.
    static let testSampleFields: Set<String> = [
        "schemaVersion", "id", "input", "system", "turns", "expected", "criteria", "context", "tags", "metadata", "maxSteps",
        "referenceContexts",
    ]
    /// Members of `TestSample` left to `JSONDecoder` (cases with a scenario or tools: rarer, and richer).
    static let testSampleFallbackFields: Set<String> = ["scenario", "tools", "toolChoice", "expectedTools"]

    static func testSample(_ object: [String: JSONValue]) -> TestSample? {
        guard case .string(let id)? = object["id"], !id.isEmpty else { return nil }
        var sample = TestSample(id: id)
        for (name, value) in object {
            switch name {
            case "id": break
            case "schemaVersion":
                guard case .int(let version) = value, version <= TestSample.currentSchemaVersion else { return nil }
                sample.schemaVersion = version
            case "input": guard let text = optionalString(value) else { return nil }; sample.input = text
            case "system": guard let text = optionalString(value) else { return nil }; sample.system = text
            case "expected": guard let text = optionalString(value) else { return nil }; sample.expected = text
            case "criteria": guard let text = optionalString(value) else { return nil }; sample.criteria = text
            case "turns": guard let list = optionalStrings(value) else { return nil }; sample.turns = list
            case "context": guard let list = optionalStrings(value) else { return nil }; sample.context = list
            case "tags": guard let list = optionalStrings(value) else { return nil }; sample.tags = list ?? []
            case "metadata": guard let members = optionalObject(value) else { return nil }; sample.metadata = members ?? [:]
            case "referenceContexts": guard let list = optionalStrings(value) else { return nil }; sample.referenceContexts = list
            case "maxSteps":
                guard let steps = optionalInt(value), (steps ?? 1) >= 1 else { return nil }
                sample.maxSteps = steps
            default: return nil
            }
        }
        // Exactly one of input / turns (a scenario fell back above); turns not empty.
        guard (sample.input != nil) != (sample.turns != nil), sample.turns?.isEmpty != true else { return nil }
        return sample
    }

    /// The members `message` reads.
    static let messageFields: Set<String> = ["role", "content", "toolCalls", "toolCallId", "name", "isError"]

    static func message(_ value: JSONValue) -> Message? {
        guard case .object(let members) = value, case .string(let role)? = members["role"],
            let messageRole = MessageRole(rawValue: role), case .string(let content)? = members["content"]
        else { return nil }
        var message = Message(role: messageRole, content: content)
        guard members.count > 2 else { return message }
        for (name, value) in members {
            switch name {
            case "role", "content": break
            case "toolCalls": guard let calls = toolCalls(value) else { return nil }; message.toolCalls = calls
            case "toolCallId": guard let text = optionalString(value) else { return nil }; message.toolCallId = text
            case "name": guard let text = optionalString(value) else { return nil }; message.name = text
            case "isError": guard let flag = optionalBool(value) else { return nil }; message.isError = flag
            default: return nil
            }
        }
        return message
    }

    /// The members of a `ToolCall` (`arguments` absent reads as `{}`).
    static let toolCallFields: Set<String> = ["id", "name", "arguments"]

    /// A `[ToolCall]?` as `decodeIfPresent` reads it (`.some(nil)` for null).
    static func toolCalls(_ value: JSONValue) -> [ToolCall]?? {
        switch value {
        case .null: return .some(nil)
        case .array(let items):
            var calls: [ToolCall] = []
            for item in items {
                guard case .object(let members) = item, members.keys.allSatisfy(toolCallFields.contains),
                    case .string(let id)? = members["id"], case .string(let name)? = members["name"]
                else { return nil }
                calls.append(ToolCall(id: id, name: name, arguments: members["arguments"] ?? .object([:])))
            }
            return .some(calls)
        default: return nil
        }
    }

    /// The members `turnRecord` reads. Its synthesized decoder ignores others, but one this file does
    /// not know (a newer field) falls back, so it is never dropped.
    static let turnRecordFields: Set<String> = [
        "index", "latencyMs", "usage", "costUSD", "attempts", "finishReason", "toolCalls", "retrievedContexts", "timeToFirstTokenMs",
        "tokensPerSecond",
    ]

    static func turnRecord(_ value: JSONValue) -> TurnRecord? {
        guard case .object(let members) = value, members.keys.allSatisfy(turnRecordFields.contains), case .int(let index)? = members["index"],
            let latencyField = members["latencyMs"], let latency = optionalDouble(latencyField), let latencyMs = latency,
            let usageField = members["usage"], let usage = usage(usageField), case .int(let attempts)? = members["attempts"]
        else { return nil }
        var turn = TurnRecord(index: index, latencyMs: latencyMs, usage: usage, attempts: attempts)
        if let field = members["costUSD"] {
            guard let cost = optionalDouble(field) else { return nil }
            turn.costUSD = cost
        }
        if let field = members["finishReason"] {
            guard let reason = optionalString(field) else { return nil }
            turn.finishReason = reason
        }
        guard members.count > 4 else { return turn }
        if let field = members["toolCalls"] {
            guard let calls = toolCalls(field) else { return nil }
            turn.toolCalls = calls
        }
        if let field = members["retrievedContexts"] {
            guard let contexts = optionalStrings(field) else { return nil }
            turn.retrievedContexts = contexts
        }
        if let field = members["timeToFirstTokenMs"] {
            guard let time = optionalDouble(field) else { return nil }
            turn.timeToFirstTokenMs = time
        }
        if let field = members["tokensPerSecond"] {
            guard let rate = optionalDouble(field) else { return nil }
            turn.tokensPerSecond = rate
        }
        return turn
    }

    /// The members of an `error` the fast path reads; any other falls back.
    static let errorInfoFields: Set<String> = ["code", "message", "status"]

    /// An `ErrorInfo` object.
    static func errorInfo(_ value: JSONValue) -> ErrorInfo? {
        guard case .object(let members) = value, members.keys.allSatisfy(errorInfoFields.contains), case .string(let code)? = members["code"],
            case .string(let message)? = members["message"]
        else { return nil }
        var info = ErrorInfo(code: code, message: message)
        if let field = members["status"] {
            guard let status = optionalInt(field) else { return nil }
            info.status = status
        }
        return info
    }

    /// The members `runRecord` reads; any other falls back.
    static let runRecordFields: Set<String> = [
        "schemaVersion", "sampleId", "target", "status", "sample", "transcript", "output", "turns", "usage", "simulatorUsage",
        "costUSD", "latencyMs", "attempts", "stopReason", "error", "startedAt", "finishedAt",
    ]

    static func runRecord(_ object: [String: JSONValue]) -> RunRecord? {
        guard case .string(let sampleId)? = object["sampleId"], case .string(let target)? = object["target"],
            case .string(let statusText)? = object["status"], let status = RunRecord.Status(rawValue: statusText),
            case .object(let sampleObject)? = object["sample"], let sample = testSample(sampleObject)
        else { return nil }
        var record = RunRecord(sample: sample, target: target, status: status)
        record.sampleId = sampleId
        record.output = nil
        for (name, value) in object {
            switch name {
            case "sampleId", "target", "status", "sample": break
            case "schemaVersion":
                guard case .int(let version) = value else { return nil }
                record.schemaVersion = version
            case "transcript":
                switch value {
                case .null: record.transcript = []
                case .array(let items):
                    var messages: [Message] = []
                    messages.reserveCapacity(items.count)
                    for item in items {
                        guard let message = message(item) else { return nil }
                        messages.append(message)
                    }
                    record.transcript = messages
                default: return nil
                }
            case "turns":
                switch value {
                case .null: record.turns = []
                case .array(let items):
                    var turns: [TurnRecord] = []
                    for item in items {
                        guard let turn = turnRecord(item) else { return nil }
                        turns.append(turn)
                    }
                    record.turns = turns
                default: return nil
                }
            case "output": guard let text = optionalString(value) else { return nil }; record.output = text
            case "stopReason": guard let text = optionalString(value) else { return nil }; record.stopReason = text
            case "usage":
                if case .null = value { record.usage = .zero } else {
                    guard let usage = usage(value) else { return nil }
                    record.usage = usage
                }
            case "simulatorUsage":
                if case .null = value { record.simulatorUsage = nil } else {
                    guard let usage = usage(value) else { return nil }
                    record.simulatorUsage = usage
                }
            case "costUSD": guard let cost = optionalDouble(value) else { return nil }; record.costUSD = cost
            case "latencyMs": guard let latency = optionalDouble(value) else { return nil }; record.latencyMs = latency ?? 0
            case "attempts": guard let attempts = optionalInt(value) else { return nil }; record.attempts = attempts ?? 0
            case "error":
                if case .null = value { record.error = nil } else {
                    guard let info = errorInfo(value) else { return nil }
                    record.error = info
                }
            case "startedAt", "finishedAt":
                var date: Date?
                switch value {
                case .null: date = nil
                case .string(let text):
                    guard let parsed = Self.date(text) else { return nil }
                    date = parsed
                default: return nil
                }
                if name == "startedAt" { record.startedAt = date } else { record.finishedAt = date }
            default: return nil
            }
        }
        return record
    }

    /// The members `evalRecord` reads; any other falls back.
    static let evalRecordFields: Set<String> = [
        "schemaVersion", "sampleId", "metric", "type", "status", "score", "passed", "threshold", "reason", "votes", "spread",
        "straddlesThreshold", "usage", "costUSD", "tags", "details",
    ]

    static func evalRecord(_ object: [String: JSONValue]) -> EvalRecord? {
        guard case .string(let sampleId)? = object["sampleId"], case .string(let metric)? = object["metric"],
            case .string(let type)? = object["type"], case .string(let statusText)? = object["status"],
            let status = EvalRecord.Status(rawValue: statusText)
        else { return nil }
        var record = EvalRecord(sampleId: sampleId, metric: metric, type: type, status: status)
        for (name, value) in object {
            switch name {
            case "sampleId", "metric", "type", "status": break
            case "schemaVersion":
                guard case .int(let version) = value else { return nil }
                record.schemaVersion = version
            case "score": guard let number = optionalDouble(value) else { return nil }; record.score = number
            case "threshold": guard let number = optionalDouble(value) else { return nil }; record.threshold = number
            case "spread": guard let number = optionalDouble(value) else { return nil }; record.spread = number
            case "costUSD": guard let number = optionalDouble(value) else { return nil }; record.costUSD = number
            case "passed": guard let flag = optionalBool(value) else { return nil }; record.passed = flag
            case "straddlesThreshold": guard let flag = optionalBool(value) else { return nil }; record.straddlesThreshold = flag
            case "reason": guard let text = optionalString(value) else { return nil }; record.reason = text
            case "votes": guard let list = optionalDoubles(value) else { return nil }; record.votes = list
            case "tags": guard let list = optionalStrings(value) else { return nil }; record.tags = list ?? []
            case "details": guard let members = optionalObject(value) else { return nil }; record.details = members
            case "usage":
                if case .null = value { record.usage = nil } else {
                    guard let usage = usage(value) else { return nil }
                    record.usage = usage
                }
            default: return nil
            }
        }
        return record
    }
}
