import ChatbotTesterCore

extension RunRecord {
    /// The reply a single-answer metric checks: the last assistant message.
    public var reply: String? { output ?? transcript.last(where: { $0.role == .assistant })?.content }

    /// The transcript as plain text (`role: content` lines) for judges; the system prompt is left out
    /// unless `includeSystem`. Tool calls and tool results get lines of their own.
    public func transcriptText(includeSystem: Bool = false) -> String {
        transcript.filter { includeSystem || $0.role != .system }.map(\.judgeText).joined(separator: "\n")
    }
}

extension Message {
    /// The message as a judge reads it: `role: content`, a tool result as
    /// `tool result (name): content` (`ERROR` marked), and a line per tool call
    /// (`assistant calls name({"arg":1})`).
    public var judgeText: String {
        var text: String
        if role == .tool {
            text = "tool result (\(name ?? "tool"))\(isError == true ? " ERROR" : ""): \(content)"
        } else {
            text = "\(role.rawValue): \(content)"
        }
        for call in toolCalls ?? [] { text += "\n\(role.rawValue) calls \(call.name)(\(call.arguments.canonicalText))" }
        return text
    }
}

/// Why a metric could not be applied; thrown inside scoring closures and recorded as unmeasured.
struct NotApplicable: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ComponentOptions {
    /// The metric's reference text: the `value` option when given, else the sample's `expected`.
    func reference(_ record: RunRecord, key: String = "value") throws -> String {
        if let value = try string(key) { return value }
        guard let expected = record.sample.expected else {
            throw NotApplicable("no '\(key)' option and the sample has no 'expected'")
        }
        return expected
    }

    /// A string option restricted to `allowed` values.
    func choice(_ key: String, _ allowed: [String], default value: String) throws -> String {
        guard let given = try string(key) else { return value }
        guard allowed.contains(given) else {
            throw ChatbotTesterError(
                .invalidConfig, "'\(key)' must be one of \(allowed.joined(separator: ", ")) (got '\(given)')",
                location: SourceLocation(field: context.fieldPath(key)))
        }
        return given
    }

    /// An invalid-config error naming this option's field.
    func invalid(_ key: String, _ message: String) -> ChatbotTesterError {
        ChatbotTesterError(.invalidConfig, message, location: SourceLocation(field: context.fieldPath(key)))
    }
}

/// The reply of a record, or `NotApplicable` when the bot said nothing.
func requireReply(_ record: RunRecord) throws -> String {
    guard let reply = record.reply else { throw NotApplicable("the run has no assistant reply") }
    return reply
}
