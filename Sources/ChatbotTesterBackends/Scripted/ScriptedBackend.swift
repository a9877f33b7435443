import ChatbotTesterCore
import Foundation

/// A deterministic rule/FAQ bot for demos and tests, with no network and no key.
///
/// The last user message is matched against `rules` in order (case-insensitive substring, or a
/// regular expression after `regex:`), then against the FAQ file, else `default` answers. Replies
/// may use `{{input}}`. As a judge or generator it answers valid JSON when the request asks for
/// JSON or a JSON schema; as a simulated user it says `stopPhrase` once the conversation holds
/// `stopAfterTurns` assistant messages. It also embeds texts as hashed bag-of-words vectors.
///
/// A rule may call tools (`toolCalls: [{name, arguments}]`, ids `call_<n>` numbered over the
/// conversation). When the conversation ends with tool results, the rules are tried against those
/// results (joined by newlines) instead of the last user message, so an agent run can be scripted
/// step by step.
struct ScriptedBackend: ChatBackend, EmbeddingBackend {
    struct Rule: Sendable {
        enum Pattern: Sendable {
            case substring(String)
            case regex(NSRegularExpression)
        }

        var patterns: [Pattern]
        var reply: String
        /// Tools the reply calls: name and arguments.
        var toolCalls: [(name: String, arguments: JSONValue)] = []

        func matches(_ text: String) -> Bool {
            patterns.contains { pattern in
                switch pattern {
                case .substring(let needle): text.range(of: needle, options: .caseInsensitive) != nil
                case .regex(let regex): regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
                }
            }
        }
    }

    struct FAQEntry: Sendable {
        var question: String
        var words: Set<Substring>
        var answer: String
    }

    let rules: [Rule]
    let faq: [FAQEntry]
    let defaultReply: String
    let latencyMs: Double
    let stopPhrase: String?
    let stopAfterTurns: Int?
    let dimensions: Int
    let model: String

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        if latencyMs > 0 { try await Task.sleep(for: .milliseconds(latencyMs)) }
        let (plain, rule) = replyAndRule(to: request)
        let calls = toolCalls(of: rule, in: request)
        let text = calls.isEmpty ? DeterministicJSON.answer(plain, format: request.responseFormat) : plain
        let prompt = request.messages.reduce(0) { $0 + HashedEmbedding.tokenCount($1.content) }
        return ChatResponse(
            content: text, finishReason: calls.isEmpty ? "stop" : "tool_calls",
            usage: Usage(promptTokens: prompt, completionTokens: HashedEmbedding.tokenCount(text)), latencyMs: latencyMs,
            model: request.model ?? model, session: request.session, toolCalls: calls)
    }

    /// The tool calls of the matched rule, numbered after the calls already in the conversation.
    func toolCalls(of rule: Rule?, in request: ChatRequest) -> [ToolCall] {
        guard let rule, !rule.toolCalls.isEmpty else { return [] }
        let earlier = request.messages.reduce(0) { $0 + ($1.toolCalls?.count ?? 0) }
        return rule.toolCalls.enumerated().map { ToolCall(id: "call_\(earlier + $0.offset + 1)", name: $0.element.name, arguments: $0.element.arguments) }
    }

    /// The text the rules are tried against: the trailing tool results, else the last user message.
    static func input(of request: ChatRequest) -> String {
        let results = request.messages.reversed().prefix(while: { $0.role == .tool })
        if !results.isEmpty { return results.reversed().map(\.content).joined(separator: "\n") }
        return request.messages.last(where: { $0.role == .user })?.content ?? ""
    }

    /// The plain-text reply, before any JSON shaping.
    func reply(to request: ChatRequest) -> String { replyAndRule(to: request).text }

    /// The plain-text reply and the rule that gave it (none: the FAQ, default or stop phrase).
    func replyAndRule(to request: ChatRequest) -> (text: String, rule: Rule?) {
        if let stopPhrase, let stopAfterTurns, request.messages.count(where: { $0.role == .assistant }) >= stopAfterTurns {
            return (stopPhrase, nil)
        }
        let input = Self.input(of: request)
        let values = RequestTemplate.Values(request, model: model, apiKey: "")
        if let rule = rules.first(where: { $0.matches(input) }) {
            return (RequestTemplate.render(rule.reply, values), rule)
        }
        if let entry = faqMatch(input) {
            return (RequestTemplate.render(entry.answer, values), nil)
        }
        return (RequestTemplate.render(defaultReply, values), nil)
    }

    /// The FAQ entry whose question the input contains, else the one sharing most words (at least half).
    func faqMatch(_ input: String) -> FAQEntry? {
        if let exact = faq.first(where: { input.range(of: $0.question, options: .caseInsensitive) != nil }) { return exact }
        let words = Set(HashedEmbedding.words(input))
        var best: (score: Double, entry: FAQEntry)?
        for entry in faq where !entry.words.isEmpty {
            let score = Double(entry.words.intersection(words).count) / Double(entry.words.count)
            if score >= 0.5, score > (best?.score ?? 0) { best = (score, entry) }
        }
        return best?.entry
    }

    func embed(_ inputs: [String]) async throws -> EmbeddingResponse {
        EmbeddingResponse(
            vectors: inputs.map { HashedEmbedding.vector($0, dimensions: dimensions) },
            usage: Usage(promptTokens: inputs.reduce(0) { $0 + HashedEmbedding.tokenCount($1) }))
    }
}
