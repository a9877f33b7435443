/// Rough token counts for rate limiting before a provider reports real usage.
///
/// About four characters per token plus a few per message, and the completion budget: the
/// `max_tokens` (or `max_completion_tokens`) a backend's `extraBody` sends in every request body
/// (it replaces the request's), else the request's `maxTokens`, else the backend's (its `maxTokens`
/// option, filled in when the request sets none), else `defaultCompletionTokens`. The rate limiter corrects the estimate with the
/// real usage afterwards, so it only needs to be in the right range — but a reply can be no longer
/// than `maxTokens`, so with it set the estimate is what a provider's own limiter counts.
public enum TokenEstimator {
    /// The completion tokens assumed when neither the request nor the backend sets `maxTokens`.
    public static let defaultCompletionTokens = 256

    /// Tokens of a text.
    public static func tokens(in text: String) -> Int {
        (text.utf8.count + 3) / 4
    }

    /// Prompt plus expected completion tokens of a chat request.
    /// - Parameters:
    ///   - backendMaxTokens: the backend's `maxTokens`, used when the request sets none.
    ///   - forcedMaxTokens: a limit the backend sends whatever the request says (its `extraBody`).
    public static func estimate(_ request: ChatRequest, backendMaxTokens: Int? = nil, forcedMaxTokens: Int? = nil) -> Int {
        let prompt = request.messages.reduce(0) { $0 + tokens(in: $1.content) + 4 }
        return prompt + max(0, forcedMaxTokens ?? request.maxTokens ?? backendMaxTokens ?? defaultCompletionTokens)
    }

    /// The completion limit an `extraBody` option (members merged over every request body) sets:
    /// its `max_tokens`, else `max_completion_tokens`, else `max_output_tokens`.
    public static func forcedMaxTokens(extraBody: JSONValue?) -> Int? {
        guard let body = extraBody?.objectValue else { return nil }
        return ["max_tokens", "max_completion_tokens", "max_output_tokens"].lazy.compactMap { body[$0]?.intValue }.first
    }

    /// Tokens of an embedding call.
    public static func estimate(embedding inputs: [String]) -> Int {
        inputs.reduce(0) { $0 + tokens(in: $1) }
    }
}
