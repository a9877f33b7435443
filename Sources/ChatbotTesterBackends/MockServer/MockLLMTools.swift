import ChatbotTesterCore
import Foundation

/// The mock server's deterministic agent behaviour, the same for both wire formats.
///
/// - Tools offered and the last message is the user's: it calls the first offered tool whose name
///   appears in the user's text (case-insensitive); `required`/`any` tool choice calls the first tool
///   when none is named, a named tool choice calls that tool, `none` calls nothing.
///   `MOCK_TOOL_CALLS: name {json}; other {json}` scripts the calls exactly (several = parallel calls).
/// - Arguments come from the tool's parameter schema: a property `p` takes the value written as `p=value`,
///   `p: value` or `p="two words"` in the user's text (typed by the schema: integer, number, boolean,
///   else string); a required property not written there gets a schema-shaped default
///   (`DeterministicJSON`, strings the user's text).
/// - The last messages are tool results: it answers in text quoting them, `<tool> returned: <result>`
///   (one line per result).
enum MockLLMTools {
    /// An offered tool: its name and parameter schema.
    struct Offered: Sendable, Hashable {
        var name: String
        var parameters: JSONValue?
    }

    /// A call the mock makes.
    struct Call: Sendable, Hashable {
        var name: String
        var arguments: JSONValue
    }

    /// How the request constrains tool use.
    enum Choice: Sendable, Hashable {
        case auto, none, required
        case named(String)
    }

    /// The calls to make for the user's `text`, or `[]` for a text answer.
    static func calls(offered: [Offered], choice: Choice, text: String, parallel: Bool) -> [Call] {
        guard !offered.isEmpty, choice != .none else { return [] }
        if let scripted = scriptedCalls(text) { return parallel ? scripted : Array(scripted.prefix(1)) }
        let lowered = text.lowercased()
        let tool: Offered?
        switch choice {
        case .named(let name): tool = offered.first { $0.name == name } ?? Offered(name: name, parameters: nil)
        case .required: tool = offered.first { lowered.contains($0.name.lowercased()) } ?? offered.first
        case .auto: tool = offered.first { lowered.contains($0.name.lowercased()) }
        case .none: tool = nil
        }
        guard let tool else { return [] }
        return [Call(name: tool.name, arguments: arguments(for: tool.parameters, text: text))]
    }

    /// `MOCK_TOOL_CALLS: a {"x": 1}; b {}` (arguments optional; `;` or a new line separates calls).
    static func scriptedCalls(_ text: String) -> [Call]? {
        guard let marker = text.range(of: "MOCK_TOOL_CALLS:") else { return nil }
        var calls: [Call] = []
        var rest = Substring(text[marker.upperBound...])
        while let start = rest.firstIndex(where: { !$0.isWhitespace && $0 != ";" }) {
            rest = rest[start...]
            let name = rest.prefix { !$0.isWhitespace && $0 != ";" && $0 != "{" }
            rest = rest.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }
            var arguments: JSONValue = [:]
            if rest.first == "{", let end = balancedObjectEnd(rest) {
                arguments = (try? JSONValue(parsing: String(rest[...end]))) ?? .string(String(rest[...end]))
                rest = rest[rest.index(after: end)...]
            }
            if name.isEmpty { break }
            calls.append(Call(name: String(name), arguments: arguments))
        }
        return calls
    }

    /// The index of the `}` closing the object that `text` starts with (strings respected).
    private static func balancedObjectEnd(_ text: Substring) -> Substring.Index? {
        var depth = 0
        var inString = false
        var escaped = false
        for index in text.indices {
            let character = text[index]
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true
            case "{": depth += 1
            case "}":
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        return nil
    }

    /// Arguments for a parameter schema, read from `text`.
    static func arguments(for parameters: JSONValue?, text: String) -> JSONValue {
        guard let properties = parameters?["properties"]?.objectValue else { return [:] }
        let required = Set(parameters?["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        var members: [String: JSONValue] = [:]
        for name in properties.keys.sorted() {
            let schema = properties[name] ?? [:]
            if let raw = writtenValue(name, in: text) {
                members[name] = typed(raw, schema: schema)
            } else if required.contains(name) {
                members[name] = DeterministicJSON.value(for: schema, text: text)
            }
        }
        return .object(members)
    }

    /// The value written as `name=value`, `name: value` or `name="two words"` in `text`.
    static func writtenValue(_ name: String, in text: String) -> String? {
        var searchFrom = text.startIndex
        while let found = text.range(of: name, options: .caseInsensitive, range: searchFrom..<text.endIndex) {
            searchFrom = found.upperBound
            // A whole word: not preceded by a letter, digit or underscore.
            if found.lowerBound > text.startIndex {
                let before = text[text.index(before: found.lowerBound)]
                if before.isLetter || before.isNumber || before == "_" { continue }
            }
            var rest = text[found.upperBound...]
            guard let separator = rest.first, separator == "=" || separator == ":" else { continue }
            rest = rest.dropFirst().drop { $0 == " " }
            if let quote = rest.first, quote == "\"" || quote == "'" {
                let inside = rest.dropFirst()
                guard let close = inside.firstIndex(of: quote) else { return String(inside) }
                return String(inside[..<close])
            }
            var value = rest.prefix { !$0.isWhitespace && $0 != "," && $0 != ";" && $0 != ")" }
            while let last = value.last, ".?!".contains(last) { value = value.dropLast() }
            return value.isEmpty ? nil : String(value)
        }
        return nil
    }

    static func typed(_ raw: String, schema: JSONValue) -> JSONValue {
        switch schema["type"]?.stringValue {
        case "integer": return Int(raw).map(JSONValue.int) ?? .string(raw)
        case "number": return Int(raw).map(JSONValue.int) ?? Double(raw).map(JSONValue.double) ?? .string(raw)
        case "boolean": return .bool(["true", "yes", "1"].contains(raw.lowercased()))
        case "string": return .string(raw)
        default: return (try? JSONValue(parsing: raw)) ?? .string(raw)
        }
    }

    /// The text answer after tool results: `<tool> returned: <result>`, one line each.
    static func resultAnswer(_ results: [(name: String, content: String)]) -> String {
        results.map { "\($0.name.isEmpty ? "tool" : $0.name) returned: \($0.content)" }.joined(separator: "\n")
    }

    // MARK: - OpenAI wire

    static func openAIOffered(_ body: JSONValue) -> [Offered] {
        (body["tools"]?.arrayValue ?? []).compactMap { tool in
            let function = tool["function"] ?? tool
            return function["name"]?.stringValue.map { Offered(name: $0, parameters: function["parameters"]) }
        }
    }

    static func openAIChoice(_ body: JSONValue) -> Choice {
        switch body["tool_choice"] {
        case .string("none")?: .none
        case .string("required")?: .required
        case let value? where value["function"]?["name"]?.stringValue != nil: .named(value["function"]!["name"]!.stringValue!)
        default: .auto
        }
    }

    /// The tool results at the end of an OpenAI conversation, named by the calls they answer.
    static func openAIResults(_ body: JSONValue) -> [(name: String, content: String)]? {
        let messages = body["messages"]?.arrayValue ?? []
        guard messages.last?["role"] == "tool" else { return nil }
        var names: [String: String] = [:]
        for message in messages {
            for call in message["tool_calls"]?.arrayValue ?? [] {
                if let id = call["id"]?.stringValue { names[id] = call["function"]?["name"]?.stringValue ?? "" }
            }
        }
        let trailing = messages.reversed().prefix { $0["role"] == "tool" }.reversed()
        return trailing.map { message in
            let content = message["content"]
            let text = content?.stringValue ?? content?.arrayValue?.compactMap { $0["text"]?.stringValue }.joined() ?? ""
            return (message["name"]?.stringValue ?? names[message["tool_call_id"]?.stringValue ?? ""] ?? "", text)
        }
    }

    // MARK: - Anthropic wire

    static func anthropicOffered(_ body: JSONValue) -> [Offered] {
        (body["tools"]?.arrayValue ?? []).compactMap { tool in
            tool["name"]?.stringValue.map { Offered(name: $0, parameters: tool["input_schema"]) }
        }
    }

    static func anthropicChoice(_ body: JSONValue) -> Choice {
        switch body["tool_choice"]?["type"]?.stringValue {
        case "none": .none
        case "any": .required
        case "tool": body["tool_choice"]?["name"]?.stringValue.map(Choice.named) ?? .required
        default: .auto
        }
    }

    /// The tool results of the last user message of an Anthropic conversation.
    static func anthropicResults(_ body: JSONValue) -> [(name: String, content: String)]? {
        let messages = body["messages"]?.arrayValue ?? []
        guard let last = messages.last, last["role"] == "user",
            let blocks = last["content"]?.arrayValue, blocks.contains(where: { $0["type"] == "tool_result" })
        else { return nil }
        var names: [String: String] = [:]
        for message in messages {
            for block in message["content"]?.arrayValue ?? [] where block["type"] == "tool_use" {
                if let id = block["id"]?.stringValue { names[id] = block["name"]?.stringValue ?? "" }
            }
        }
        return blocks.filter { $0["type"] == "tool_result" }.map { block in
            let content = block["content"]
            let text = content?.stringValue ?? content?.arrayValue?.compactMap { $0["text"]?.stringValue }.joined() ?? ""
            return (names[block["tool_use_id"]?.stringValue ?? ""] ?? "", text)
        }
    }
}
