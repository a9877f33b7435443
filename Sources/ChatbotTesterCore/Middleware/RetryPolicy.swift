/// When and how long to wait before trying a failed backend call again: a pure decision.
///
/// Exponential backoff with full jitter: after attempt `n` the wait is a uniform draw from
/// `[0, min(maxDelaySeconds, baseDelaySeconds · 2^(n-1)))`. A rate-limited error that carries a
/// `Retry-After` waits exactly that long (unless it exceeds `maxRetryAfterSeconds`, then the call
/// gives up at once rather than sleep for minutes). Only errors whose `RetryDisposition` is
/// retryable are retried; everything else, cancellation included, gives up.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Total attempts, the first one included (1 disables retries).
    public var attempts: Int
    /// The backoff before the second attempt, before jitter.
    public var baseDelaySeconds: Double
    /// The backoff never grows beyond this, before jitter.
    public var maxDelaySeconds: Double
    /// A server's `Retry-After` longer than this makes the call give up instead of waiting.
    public var maxRetryAfterSeconds: Double

    public init(attempts: Int = 4, baseDelaySeconds: Double = 0.5, maxDelaySeconds: Double = 30, maxRetryAfterSeconds: Double = 300) {
        self.attempts = attempts
        self.baseDelaySeconds = baseDelaySeconds
        self.maxDelaySeconds = maxDelaySeconds
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
    }

    /// What to do after a failed attempt.
    public enum Decision: Sendable, Hashable {
        /// Sleep this many seconds, then try again.
        case retry(afterSeconds: Double)
        /// Stop and report the error.
        case giveUp
    }

    /// The backoff cap (before jitter) after attempt `attempt` (1-based).
    public func backoffCeiling(afterAttempt attempt: Int) -> Double {
        let exponent = Double(max(0, min(attempt - 1, 60)))
        return min(maxDelaySeconds, baseDelaySeconds * pow2(exponent))
    }

    /// Decides after attempt `attempt` (1-based) failed with `disposition`.
    /// - Parameter random: a uniform draw from `[0, 1)`, injected so tests are exact.
    public func decide(afterAttempt attempt: Int, disposition: RetryDisposition, random: Double) -> Decision {
        guard attempt < attempts, disposition.isRetryable else { return .giveUp }
        if case .rateLimited(let retryAfter?) = disposition {
            return retryAfter > maxRetryAfterSeconds ? .giveUp : .retry(afterSeconds: max(0, retryAfter))
        }
        let jitter = min(max(random, 0), 1)
        return .retry(afterSeconds: backoffCeiling(afterAttempt: attempt) * jitter)
    }

    /// Decides for any error: `ChatbotTesterError` carries its disposition; cancellation and other
    /// errors are not retried.
    public func decide(afterAttempt attempt: Int, error: any Error, random: Double) -> Decision {
        guard let error = error as? ChatbotTesterError, error.code != .cancelled else { return .giveUp }
        return decide(afterAttempt: attempt, disposition: error.retry, random: random)
    }

    private func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) { value *= 2 }
        return value
    }
}
