import ChatbotTesterCore
import Foundation

/// Tool-call arguments as providers send them: JSON text, kept as `.string(raw)` when it does not parse.
enum ToolArguments {
    static func parse(_ text: String) -> JSONValue {
        let trimmed = text.trimmingASCIIWhitespace()
        if trimmed.isEmpty { return .object([:]) }
        return (try? JSONWire.parse(Data(trimmed.utf8))) ?? .string(text)
    }

    /// JSON text of arguments for the wire (a `.string` is sent as it was received).
    static func text(_ arguments: JSONValue) -> String {
        if case .string(let raw) = arguments { return raw }
        return JSONWire.text(arguments)
    }
}

/// The provider-neutral JSON shapes of tools, tool calls and contexts that the `http` body template
/// and the `exec` protocol use, and the reading of tool calls and contexts from a bot's own JSON.
enum ToolWire {
    /// `[{role, content, toolCalls?: [{id, name, arguments}], toolCallId?, name?, isError?}]`: a plain
    /// conversation is exactly the `{role, content}` list it always was.
    static func messages(_ messages: [Message]) -> JSONValue {
        .array(
            messages.map { message in
                var wire: [String: JSONValue] = ["role": .string(message.role.rawValue), "content": .string(message.content)]
                if let calls = message.toolCalls, !calls.isEmpty { wire["toolCalls"] = .array(calls.map(call)) }
                if let id = message.toolCallId { wire["toolCallId"] = .string(id) }
                if let name = message.name { wire["name"] = .string(name) }
                if let isError = message.isError { wire["isError"] = .bool(isError) }
                return .object(wire)
            })
    }

    /// `{id, name, arguments}` with the arguments as JSON (a string when they did not parse).
    static func call(_ call: ToolCall) -> JSONValue {
        ["id": .string(call.id), "name": .string(call.name), "arguments": call.arguments]
    }

    /// `[{name, description?, parameters?}]`.
    static func tools(_ tools: [ToolDefinition]) -> JSONValue {
        .array(
            tools.map { tool in
                var wire: [String: JSONValue] = ["name": .string(tool.name)]
                if let description = tool.description { wire["description"] = .string(description) }
                if let parameters = tool.parameters { wire["parameters"] = parameters }
                return .object(wire)
            })
    }

    /// `"auto" | "none" | "required" | {"tool": name}`, or `null` when the request sets none.
    static func choice(_ choice: ToolChoice?) -> JSONValue {
        switch choice {
        case nil: .null
        case .auto?: "auto"
        case .none?: "none"
        case .required?: "required"
        case .tool(let name)?: ["tool": .string(name)]
        }
    }

    /// Tool calls from a bot's JSON, in the shapes bots use: `{id, name, arguments}` (arguments an
    /// object or JSON text), OpenAI's `{id, type: "function", function: {name, arguments}}` and
    /// Anthropic's `{id, name, input}`. A single call object counts as a list of one; entries without
    /// a name are skipped; a missing id becomes `call_<position>`.
    static func calls(from value: JSONValue) -> [ToolCall] {
        let items = value.arrayValue ?? (value.objectValue != nil ? [value] : [])
        return items.enumerated().compactMap { position, item in
            let function = item["function"]
            guard let name = function?["name"]?.stringValue ?? item["name"]?.stringValue ?? item["tool"]?.stringValue else { return nil }
            let raw = function?["arguments"] ?? item["arguments"] ?? item["input"] ?? item["args"] ?? .object([:])
            let arguments: JSONValue
            switch raw {
            case .string(let text): arguments = ToolArguments.parse(text)
            case .null: arguments = .object([:])
            default: arguments = raw
            }
            let id = item["id"]?.stringValue ?? item["id"].flatMap { $0.isNull ? nil : $0.canonicalText } ?? "call_\(position)"
            return ToolCall(id: id, name: name, arguments: arguments)
        }
    }

    /// Retrieved contexts from a bot's JSON: strings as they are; objects by their `text`, `content`,
    /// `page_content` or `chunk` member (else their JSON text); a single string counts as a list of one.
    static func contexts(from value: JSONValue) -> [String] {
        let items = value.arrayValue ?? [value]
        return items.compactMap { item in
            if item.isNull { return nil }
            if let text = item.stringValue { return text }
            for key in ["text", "content", "page_content", "chunk"] {
                if let text = item[key]?.stringValue { return text }
            }
            return item.canonicalText
        }
    }
}
