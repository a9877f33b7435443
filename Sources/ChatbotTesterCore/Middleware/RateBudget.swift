/// Where a backend instance gets permission to send: requests and tokens per unit of time.
///
/// The standard middleware uses a `LocalRateBudget` per instance. A cluster can instead hand each
/// worker a budget that asks its coordinator for grants, so N workers share one provider limit
/// instead of each spending the whole of it; the middleware only sees this protocol.
public protocol RateBudget: Sendable {
    /// Waits until one request, estimated at `estimatedTokens` tokens, may be sent. Throws
    /// `CancellationError` when cancelled while waiting (the reservation is returned).
    func acquire(estimatedTokens: Int) async throws
    /// Corrects the estimate of an acquired request with the usage the provider reported.
    func settle(estimatedTokens: Int, actualTokens: Int)
}

/// A `RateBudget` held entirely in this process: two token buckets (requests, tokens) read through
/// an injected clock. Callers queue FIFO in the order they ask.
public final class LocalRateBudget: RateBudget {
    private struct Buckets {
        var requests: TokenBucket?
        var tokens: TokenBucket?
    }

    public let limits: RateLimits
    private let clock: any TesterClock
    private let buckets: Locked<Buckets>

    public init(limits: RateLimits, clock: any TesterClock = SystemTesterClock()) {
        self.limits = limits
        self.clock = clock
        let now = clock.now()
        buckets = Locked(
            Buckets(
                requests: limits.requestsPerMinute.map { TokenBucket(capacity: limits.requestBurst ?? 1, ratePerSecond: $0 / 60, now: now) },
                tokens: limits.tokensPerMinute.map { TokenBucket(capacity: limits.tokenBurst ?? 1, ratePerSecond: $0 / 60, now: now) }
            ))
    }

    public func acquire(estimatedTokens: Int) async throws {
        try Task.checkCancellation()
        let tokens = Double(max(0, estimatedTokens))
        let wait = buckets.withLock { b -> Double in
            let now = clock.now()
            let requestWait = b.requests?.reserve(1, now: now) ?? 0
            let tokenWait = b.tokens?.reserve(tokens, now: now) ?? 0
            return max(requestWait, tokenWait)
        }
        guard wait > 0 else { return }
        do {
            try await clock.sleep(seconds: wait)
        } catch {
            buckets.withLock { b in
                let now = clock.now()
                b.requests?.refund(1, now: now)
                b.tokens?.refund(tokens, now: now)
            }
            throw error
        }
    }

    public func settle(estimatedTokens: Int, actualTokens: Int) {
        let delta = Double(actualTokens - estimatedTokens)
        guard delta != 0 else { return }
        buckets.withLock { b in
            let now = clock.now()
            if delta > 0 { b.tokens?.charge(delta, now: now) } else { b.tokens?.refund(-delta, now: now) }
        }
    }

    /// The current balances (for tests and diagnostics).
    public var balances: (requests: Double?, tokens: Double?) {
        buckets.withLock { ($0.requests?.balance, $0.tokens?.balance) }
    }
}
