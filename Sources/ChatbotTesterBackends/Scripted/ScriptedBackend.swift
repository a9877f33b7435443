import ChatbotTesterCore
import Foundation

/// A deterministic rule/FAQ bot for demos and tests, with no network and no key.
///
/// The last user message is matched against `rules` in order (case-insensitive substring, or a
/// regular expression after `regex:`), then against the FAQ file, else `default` answers. Replies
/// may use `{{input}}`. As a judge or generator it answers valid JSON when the request asks for
/// JSON or a JSON schema; as a simulated user it says `stopPhrase` once the conversation holds
/// `stopAfterTurns` assistant messages. It also embeds texts as hashed bag-of-words vectors.
struct ScriptedBackend: ChatBackend, EmbeddingBackend {
    struct Rule: Sendable {
        enum Pattern: Sendable {
            case substring(String)
            case regex(NSRegularExpression)
        }

        var patterns: [Pattern]
        var reply: String

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
        let text = DeterministicJSON.answer(reply(to: request), format: request.responseFormat)
        let prompt = request.messages.reduce(0) { $0 + HashedEmbedding.tokenCount($1.content) }
        return ChatResponse(
            content: text, finishReason: "stop",
            usage: Usage(promptTokens: prompt, completionTokens: HashedEmbedding.tokenCount(text)), latencyMs: latencyMs,
            model: request.model ?? model, session: request.session)
    }

    /// The plain-text reply, before any JSON shaping.
    func reply(to request: ChatRequest) -> String {
        if let stopPhrase, let stopAfterTurns, request.messages.count(where: { $0.role == .assistant }) >= stopAfterTurns {
            return stopPhrase
        }
        let input = request.messages.last(where: { $0.role == .user })?.content ?? ""
        let values = RequestTemplate.Values(request, model: model, apiKey: "")
        if let rule = rules.first(where: { $0.matches(input) }) {
            return RequestTemplate.render(rule.reply, values)
        }
        if let entry = faqMatch(input) {
            return RequestTemplate.render(entry.answer, values)
        }
        return RequestTemplate.render(defaultReply, values)
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
