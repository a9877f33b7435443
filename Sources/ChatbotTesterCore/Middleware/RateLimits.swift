/// Request and token rates a backend instance may use: the `rateLimit:` option.
///
/// ```yaml
/// rateLimit: {requestsPerMinute: 600, tokensPerMinute: 90000, burstSeconds: 1}
/// ```
public struct RateLimits: Sendable, Hashable, Codable {
    /// Requests per minute, or `nil` for no request limit.
    public var requestsPerMinute: Double?
    /// Prompt + completion tokens per minute, or `nil` for no token limit.
    public var tokensPerMinute: Double?
    /// How many seconds' worth of budget may be spent at once after an idle period. Small values
    /// pace calls evenly; 60 allows a whole minute's budget in one burst.
    public var burstSeconds: Double

    public init(requestsPerMinute: Double? = nil, tokensPerMinute: Double? = nil, burstSeconds: Double = 1) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.burstSeconds = burstSeconds
    }

    /// The share of these limits one of several consumers gets (a worker given `1/N` of a
    /// cluster-wide budget by its coordinator).
    public func scaled(by fraction: Double) -> RateLimits {
        RateLimits(
            requestsPerMinute: requestsPerMinute.map { $0 * fraction },
            tokensPerMinute: tokensPerMinute.map { $0 * fraction },
            burstSeconds: burstSeconds)
    }

    /// The request bucket's burst: at least one request.
    var requestBurst: Double? { requestsPerMinute.map { max(1, $0 * burstSeconds / 60) } }
    /// The token bucket's burst.
    var tokenBurst: Double? { tokensPerMinute.map { max(1, $0 * burstSeconds / 60) } }
}
