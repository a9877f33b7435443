/// The author of a message in a conversation.
public enum MessageRole: String, Sendable, Hashable, Codable, CaseIterable {
    case system, user, assistant, tool
}

/// One message of a conversation.
///
/// An assistant message that calls tools carries `toolCalls` (its `content` may be empty); each
/// call is answered by a `.tool` message with the call's `toolCallId`, the tool's `name` and the
/// result text in `content` (`isError` when the result is an error). The tool fields are omitted
/// from the JSON when unset, so a plain text message encodes as `{"content":…,"role":…}`.
public struct Message: Sendable, Hashable, Codable {
    public var role: MessageRole
    public var content: String
    /// The tools an assistant message calls, in call order.
    public var toolCalls: [ToolCall]?
    /// On a `.tool` message: the id of the call it answers.
    public var toolCallId: String?
    /// On a `.tool` message: the tool's name.
    public var name: String?
    /// On a `.tool` message: whether the result is an error.
    public var isError: Bool?

    public init(
        role: MessageRole, content: String, toolCalls: [ToolCall]? = nil, toolCallId: String? = nil, name: String? = nil,
        isError: Bool? = nil
    ) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
        self.name = name
        self.isError = isError
    }

    public static func system(_ content: String) -> Message { Message(role: .system, content: content) }
    public static func user(_ content: String) -> Message { Message(role: .user, content: content) }
    public static func assistant(_ content: String) -> Message { Message(role: .assistant, content: content) }

    /// An assistant message, with the tools it calls (none: a plain reply).
    public static func assistant(_ content: String, toolCalls: [ToolCall]) -> Message {
        Message(role: .assistant, content: content, toolCalls: toolCalls.isEmpty ? nil : toolCalls)
    }

    /// A tool result answering the call `callId` to tool `name`.
    public static func tool(callId: String, name: String, content: String, isError: Bool = false) -> Message {
        Message(role: .tool, content: content, toolCallId: callId, name: name, isError: isError ? true : nil)
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case role, content, toolCalls, toolCallId, name, isError }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        role = try c.decode(MessageRole.self, forKey: .role)
        content = try c.decode(String.self, forKey: .content)
        toolCalls = try c.decodeIfPresent([ToolCall].self, forKey: .toolCalls)
        toolCallId = try c.decodeIfPresent(String.self, forKey: .toolCallId)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        isError = try c.decodeIfPresent(Bool.self, forKey: .isError)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(role, forKey: .role)
        try c.encode(content, forKey: .content)
        if let toolCalls, !toolCalls.isEmpty { try c.encode(toolCalls, forKey: .toolCalls) }
        try c.encodeIfPresent(toolCallId, forKey: .toolCallId)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeIfPresent(isError, forKey: .isError)
    }
}
