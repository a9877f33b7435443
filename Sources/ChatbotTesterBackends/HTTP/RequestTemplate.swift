import ChatbotTesterCore
import Foundation

/// A JSON (or string) template with `{{placeholder}}`s filled from a chat request.
///
/// Placeholders: `{{input}}` (last user message), `{{messages}}` (the conversation as a JSON array
/// of `{role, content}`), `{{system}}` (system messages joined), `{{session}}` (the session carried
/// from the previous reply), `{{sampleId}}` (the request's `sampleId` tag), `{{model}}` and
/// `{{apiKey}}` (the configured secret, for headers), `{{tools}}` (the tools offered, a JSON array of
/// `{name, description, parameters}`) and `{{toolChoice}}` (`"auto"`, `"none"`, `"required"`,
/// `{"tool": name}` or `null`). Messages carry `toolCalls` / `toolCallId` / `name` / `isError` when
/// they have them. A string that is exactly `{{messages}}`, `{{session}}`, `{{tools}}` or
/// `{{toolChoice}}` becomes that JSON value; inside longer strings values are spliced in as text.
struct RequestTemplate: Sendable, Hashable {
    static let placeholders: Set<String> = [
        "input", "messages", "system", "session", "sampleId", "model", "apiKey", "tools", "toolChoice",
    ]
    /// Placeholders that become their JSON value when a string is exactly that placeholder.
    static let jsonPlaceholders: Set<String> = ["messages", "session", "tools", "toolChoice"]

    /// Values a template is filled with.
    struct Values: Sendable {
        var input: String
        var messages: JSONValue
        var tools: JSONValue
        var toolChoice: JSONValue
        var system: String
        var session: JSONValue?
        var sampleId: String
        var model: String
        var apiKey: String

        init(_ request: ChatRequest, model: String, apiKey: String) {
            input = request.messages.last(where: { $0.role == .user })?.content ?? ""
            messages = ToolWire.messages(request.messages)
            tools = ToolWire.tools(request.tools)
            toolChoice = ToolWire.choice(request.toolChoice)
            system = request.messages.filter { $0.role == .system }.map(\.content).joined(separator: "\n\n")
            session = request.session
            sampleId = request.tags["sampleId"] ?? ""
            self.model = model
            self.apiKey = apiKey
        }

        func json(_ name: String) -> JSONValue {
            switch name {
            case "messages": messages
            case "tools": tools
            case "toolChoice": toolChoice
            case "session": session ?? .null
            default: .string(text(name))
            }
        }

        func text(_ name: String) -> String {
            switch name {
            case "input": input
            case "messages": JSONWire.text(messages)
            case "tools": JSONWire.text(tools)
            case "toolChoice": toolChoice.isNull ? "" : (toolChoice.stringValue ?? JSONWire.text(toolChoice))
            case "system": system
            case "session":
                switch session {
                case .none, .null?: ""
                case .string(let value)?: value
                case let value?: value.canonicalText
                }
            case "sampleId": sampleId
            case "model": model
            case "apiKey": apiKey
            default: ""
            }
        }
    }

    /// Every placeholder named in `value`, for validation.
    static func names(in value: JSONValue) -> Set<String> {
        switch value {
        case .string(let text): Set(pieces(text).compactMap { if case .placeholder(let name) = $0 { name } else { nil } })
        case .array(let items): items.reduce(into: Set()) { $0.formUnion(names(in: $1)) }
        case .object(let members): members.values.reduce(into: Set()) { $0.formUnion(names(in: $1)) }
        default: []
        }
    }

    /// Throws a config error naming `field` when `value` uses an unknown placeholder.
    static func check(_ value: JSONValue, field: String) throws {
        for name in names(in: value).sorted() where !placeholders.contains(name) {
            throw ChatbotTesterError(
                .invalidConfig,
                "unknown placeholder '{{\(name)}}' (known: \(placeholders.sorted().map { "{{\($0)}}" }.joined(separator: ", ")))",
                location: SourceLocation(field: field))
        }
    }

    enum Piece: Hashable {
        case literal(Substring)
        case placeholder(String)
    }

    /// Splits text into literals and `{{name}}` placeholders.
    static func pieces(_ text: String) -> [Piece] {
        var pieces: [Piece] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            if open.lowerBound > rest.startIndex { pieces.append(.literal(rest[..<open.lowerBound])) }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            pieces.append(.placeholder(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.literal(rest)) }
        return pieces
    }

    /// Fills a text template; `escape` transforms each spliced value (e.g. URL-encoding).
    static func render(_ text: String, _ values: Values, escape: (String) -> String = { $0 }) -> String {
        var output = ""
        for piece in pieces(text) {
            switch piece {
            case .literal(let literal): output += literal
            case .placeholder(let name): output += escape(values.text(name))
            }
        }
        return output
    }

    /// Fills a JSON template.
    static func render(_ template: JSONValue, _ values: Values) -> JSONValue {
        switch template {
        case .string(let text):
            let parts = pieces(text)
            if parts.count == 1, case .placeholder(let name) = parts[0] { return values.json(name) }
            return .string(render(text, values))
        case .array(let items):
            return .array(items.map { render($0, values) })
        case .object(let members):
            return .object(members.mapValues { render($0, values) })
        default:
            return template
        }
    }

    /// Percent-encodes a value spliced into a URL.
    static func urlEscape(_ value: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
