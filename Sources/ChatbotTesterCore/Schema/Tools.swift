import Foundation

/// One tool call a model made: which tool, with which arguments.
///
/// `arguments` is the parsed JSON (normally an object). A provider's argument text that does not
/// parse as JSON is kept as `.string(raw)`; metrics treat a `.string` as unparseable arguments.
public struct ToolCall: Sendable, Hashable, Codable {
    /// The provider's id of the call; a `.tool` message answers it with `toolCallId`.
    public var id: String
    /// The tool's name.
    public var name: String
    /// The arguments (a JSON object, or `.string` when the text was not JSON).
    public var arguments: JSONValue

    public init(id: String, name: String, arguments: JSONValue = [:]) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case id, name, arguments }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        arguments = c.contains(.arguments) ? try c.decode(JSONValue.self, forKey: .arguments) : [:]
    }
}

/// A tool offered to a model: its name, what it does, and the JSON Schema of its arguments.
public struct ToolDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    /// A JSON Schema object describing the arguments.
    public var parameters: JSONValue?

    public init(name: String, description: String? = nil, parameters: JSONValue? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, description, parameters }

    public init(from decoder: any Decoder) throws {
        self = try Self(decoding: decoder.strictContainer(keyedBy: CodingKeys.self), name: .name, description: .description, parameters: .parameters)
    }

    /// Decodes the definition's members from `c` (a `ToolDefinition`'s own keys, or a `ToolSpec`'s
    /// of the same names), checking the name and that `parameters` is an object.
    init<K: CodingKey>(decoding c: KeyedDecodingContainer<K>, name nameKey: K, description descriptionKey: K, parameters parametersKey: K) throws {
        name = try c.decode(String.self, forKey: nameKey)
        try ToolDefinition.checkName(name, in: c, key: nameKey)
        description = try c.decodeIfPresent(String.self, forKey: descriptionKey)
        parameters = try c.decodeIfPresent(JSONValue.self, forKey: parametersKey)
        if let parameters, parameters.objectValue == nil {
            throw DecodingError.dataCorruptedError(
                forKey: parametersKey, in: c, debugDescription: "parameters must be a JSON Schema object")
        }
    }

    static func checkName<K: CodingKey>(_ name: String, in c: KeyedDecodingContainer<K>, key: K) throws {
        if name.isEmpty || name.count > 128 || name.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "a tool name must be 1 to 128 characters without spaces")
        }
    }
}

/// Whether and which tool the model must call.
///
/// JSON: `"auto"`, `"none"`, `"required"`, or `{"tool": "name"}`.
public enum ToolChoice: Sendable, Hashable, Codable {
    /// The model decides.
    case auto
    /// The model must not call a tool.
    case none
    /// The model must call some tool.
    case required
    /// The model must call this tool.
    case tool(String)

    private enum Keys: String, CodingKey, CaseIterable { case tool }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            switch text {
            case "auto": self = .auto
            case "none": self = .none
            case "required": self = .required
            default:
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "unknown tool choice '\(text)' (auto, none, required, or {tool: NAME})"))
            }
            return
        }
        let c = try decoder.strictContainer(keyedBy: Keys.self)
        let name = try c.decode(String.self, forKey: .tool)
        try ToolDefinition.checkName(name, in: c, key: .tool)
        self = .tool(name)
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .auto, .none, .required:
            var c = encoder.singleValueContainer()
            try c.encode(self == .auto ? "auto" : self == .none ? "none" : "required")
        case .tool(let name):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(name, forKey: .tool)
        }
    }
}

/// How a streamed reply arrived.
public struct StreamTiming: Sendable, Hashable, Codable {
    /// Milliseconds from sending the request to the first content (or tool-call) delta.
    public var timeToFirstTokenMs: Double
    /// Completion tokens per second after the first token, when usage was reported.
    public var tokensPerSecond: Double?
    /// Content chunks received.
    public var chunks: Int

    public init(timeToFirstTokenMs: Double, tokensPerSecond: Double? = nil, chunks: Int) {
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.tokensPerSecond = tokensPerSecond
        self.chunks = chunks
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case timeToFirstTokenMs, tokensPerSecond, chunks }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        timeToFirstTokenMs = try c.decode(Double.self, forKey: .timeToFirstTokenMs)
        tokensPerSecond = try c.decodeIfPresent(Double.self, forKey: .tokensPerSecond)
        chunks = try c.decodeIfPresent(Int.self, forKey: .chunks) ?? 0
    }
}

/// A tool call a case expects, for the `trajectory` and `tool-args` metrics.
public struct ExpectedToolCall: Sendable, Hashable, Codable {
    public var name: String
    /// The expected arguments (how they are compared is the metric's choice); `nil`: any.
    public var arguments: JSONValue?

    public init(name: String, arguments: JSONValue? = nil) {
        self.name = name
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, arguments }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        arguments = try c.decodeIfPresent(JSONValue.self, forKey: .arguments)
    }
}

/// What a tool call returns to the model: a result, or an error.
public enum ToolOutcome: Sendable, Hashable {
    /// A result; a string is sent as it is, any other JSON value as compact JSON.
    case result(JSONValue)
    /// An error text (the `.tool` message gets `isError: true`).
    case error(String)

    /// The text of the `.tool` message.
    public var content: String {
        switch self {
        case .result(let value): value.stringValue ?? value.compactText
        case .error(let text): text
        }
    }

    /// Whether this is an error.
    public var isError: Bool { if case .error = self { true } else { false } }
}

/// One rule of a tool's `results`: when the call's arguments contain `match` (a JSON subset), the
/// rule's `result` (or `error`) answers it.
public struct ToolResultRule: Sendable, Hashable, Codable {
    /// A JSON subset of the arguments (see `JSONValue.contains(subset:)`).
    public var match: JSONValue
    public var outcome: ToolOutcome

    public init(match: JSONValue, outcome: ToolOutcome) {
        self.match = match
        self.outcome = outcome
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case match, result, error }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        match = try c.decode(JSONValue.self, forKey: .match)
        switch (c.contains(.result), c.contains(.error)) {
        case (true, false): outcome = .result(try c.decode(JSONValue.self, forKey: .result))
        case (false, true): outcome = .error(try c.decode(String.self, forKey: .error))
        case (true, true):
            throw DecodingError.dataCorruptedError(forKey: .error, in: c, debugDescription: "a rule takes 'result' or 'error', not both")
        case (false, false):
            throw DecodingError.keyNotFound(
                CodingKeys.result, .init(codingPath: c.codingPath, debugDescription: "a rule needs 'result' or 'error'"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(match, forKey: .match)
        switch outcome {
        case .result(let value): try c.encode(value, forKey: .result)
        case .error(let text): try c.encode(text, forKey: .error)
        }
    }
}

/// How the runner answers the calls to one tool.
public enum ToolAnswer: Sendable, Hashable {
    /// Always this result.
    case result(JSONValue)
    /// The first rule whose `match` is a subset of the arguments; else `default`; else an error.
    case match([ToolResultRule], default: JSONValue?)
    /// A backend instance (`http` / `exec`) that receives the call as JSON; its reply content is
    /// the result.
    case executor(String)
    /// Always this error.
    case error(String)
}

/// A tool offered to the bot for a case, and how the runner answers calls to it.
///
/// JSON: the `ToolDefinition` members (`name`, `description`, `parameters`) plus exactly one of
/// `result` (a fixed JSON value or string), `results` (`[{match, result | error}]`, first match
/// wins, with an optional `default`), `executor` (a backend instance name) or `error` (a text).
///
/// ```json
/// {"name": "get_weather", "parameters": {"type": "object"},
///  "results": [{"match": {"city": "Paris"}, "result": {"temp": 18}}], "default": {"temp": 20}}
/// ```
public struct ToolSpec: Sendable, Hashable, Codable {
    /// What the model is told about the tool.
    public var definition: ToolDefinition
    /// How the runner answers calls to it.
    public var answer: ToolAnswer

    public init(_ definition: ToolDefinition, answer: ToolAnswer) {
        self.definition = definition
        self.answer = answer
    }

    /// The tool's name.
    public var name: String { definition.name }

    /// The first name declared twice in `tools`, if any.
    public static func firstDuplicateName(_ tools: [ToolSpec]) -> String? {
        var seen = Set<String>()
        return tools.first { !seen.insert($0.name).inserted }?.name
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, parameters, result, results, `default`, executor, error
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        definition = try ToolDefinition(decoding: c, name: .name, description: .description, parameters: .parameters)
        let given = [CodingKeys.result, .results, .executor, .error].filter { c.contains($0) }
        guard given.count == 1 else {
            let message =
                given.isEmpty
                ? "tool '\(definition.name)' needs one of 'result', 'results', 'executor' or 'error'"
                : "tool '\(definition.name)' takes only one of 'result', 'results', 'executor' or 'error'"
            throw DecodingError.dataCorruptedError(forKey: given.last ?? .result, in: c, debugDescription: message)
        }
        if c.contains(.default), given[0] != .results {
            throw DecodingError.dataCorruptedError(forKey: .default, in: c, debugDescription: "'default' goes with 'results'")
        }
        switch given[0] {
        case .result: answer = .result(try c.decode(JSONValue.self, forKey: .result))
        case .results:
            let rules = try c.decode([ToolResultRule].self, forKey: .results)
            // Not `cond ? value : nil`: JSONValue is nil-literal expressible, so that `nil` is `.null`.
            var fallback: JSONValue?
            if c.contains(.default) { fallback = try c.decode(JSONValue.self, forKey: .default) }
            answer = .match(rules, default: fallback)
        case .executor:
            let name = try c.decode(String.self, forKey: .executor)
            if name.isEmpty {
                throw DecodingError.dataCorruptedError(forKey: .executor, in: c, debugDescription: "executor must name a backend instance")
            }
            answer = .executor(name)
        default: answer = .error(try c.decode(String.self, forKey: .error))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(definition.name, forKey: .name)
        try c.encodeIfPresent(definition.description, forKey: .description)
        try c.encodeIfPresent(definition.parameters, forKey: .parameters)
        switch answer {
        case .result(let value): try c.encode(value, forKey: .result)
        case .match(let rules, let fallback):
            try c.encode(rules, forKey: .results)
            if let fallback { try c.encode(fallback, forKey: .default) }
        case .executor(let name): try c.encode(name, forKey: .executor)
        case .error(let text): try c.encode(text, forKey: .error)
        }
    }

    /// The outcome of a call with `arguments` for the answers that need no backend (`nil` for
    /// `executor`).
    public func fixedOutcome(for arguments: JSONValue) -> ToolOutcome? {
        switch answer {
        case .result(let value): return .result(value)
        case .error(let text): return .error(text)
        case .executor: return nil
        case .match(let rules, let fallback):
            if let rule = rules.first(where: { arguments.contains(subset: $0.match) }) { return rule.outcome }
            if let fallback { return .result(fallback) }
            return .error("no result of tool '\(name)' matches the arguments \(arguments.canonicalText)")
        }
    }
}

extension JSONValue {
    /// Compact JSON text with sorted keys, written by `JSONByteWriter` (no `JSONEncoder`: tool
    /// results and executor calls are written on every agent step).
    public var compactText: String { String(decoding: JSONByteWriter.bytes(self), as: UTF8.self) }

    /// Whether `subset` is contained in this value: every member of a `subset` object is present
    /// here with a contained value (other members here are ignored); arrays have the same length
    /// and contain element by element; numbers compare by value (`1` matches `1.0`); anything else
    /// is equal.
    public func contains(subset: JSONValue) -> Bool {
        switch (self, subset) {
        case (.object(let whole), .object(let part)):
            for (key, value) in part {
                guard let mine = whole[key], mine.contains(subset: value) else { return false }
            }
            return true
        case (.array(let whole), .array(let part)):
            guard whole.count == part.count else { return false }
            return zip(whole, part).allSatisfy { $0.contains(subset: $1) }
        case (.int, .double), (.double, .int), (.double, .double):
            return doubleValue == subset.doubleValue
        default:
            return self == subset
        }
    }
}
