/// Rough token counts for rate limiting before a provider reports real usage.
///
/// About four characters per token plus a few per message, and the completion budget
/// (`maxTokens`, or `defaultCompletionTokens`). The rate limiter corrects the estimate with the
/// real usage afterwards, so it only needs to be in the right range.
public enum TokenEstimator {
    /// The completion tokens assumed when a request sets no `maxTokens`.
    public static let defaultCompletionTokens = 256

    /// Tokens of a text.
    public static func tokens(in text: String) -> Int {
        (text.utf8.count + 3) / 4
    }

    /// Prompt plus expected completion tokens of a chat request.
    public static func estimate(_ request: ChatRequest) -> Int {
        let prompt = request.messages.reduce(0) { $0 + tokens(in: $1.content) + 4 }
        return prompt + (request.maxTokens ?? defaultCompletionTokens)
    }

    /// Tokens of an embedding call.
    public static func estimate(embedding inputs: [String]) -> Int {
        inputs.reduce(0) { $0 + tokens(in: $1) }
    }
}
