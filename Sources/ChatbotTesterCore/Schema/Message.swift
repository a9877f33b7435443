/// The author of a message in a conversation.
public enum MessageRole: String, Sendable, Hashable, Codable, CaseIterable {
    case system, user, assistant, tool
}

/// One message of a conversation.
public struct Message: Sendable, Hashable, Codable {
    public var role: MessageRole
    public var content: String

    public init(role: MessageRole, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> Message { Message(role: .system, content: content) }
    public static func user(_ content: String) -> Message { Message(role: .user, content: content) }
    public static func assistant(_ content: String) -> Message { Message(role: .assistant, content: content) }

    private enum CodingKeys: String, CodingKey, CaseIterable { case role, content }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(MessageRole.self, forKey: .role)
        content = try c.decode(String.self, forKey: .content)
    }
}
