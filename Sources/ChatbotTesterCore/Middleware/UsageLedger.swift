/// Running totals of backend calls per instance: calls, cache hits, failures, retries, tokens, cost.
///
/// Pass one in `MiddlewareEnvironment.ledger` to read what a job spent (summaries, budgets).
public final class UsageLedger: Sendable {
    /// The totals of one backend instance.
    public struct Totals: Sendable, Hashable, Codable {
        /// Calls that returned a reply (cache hits included).
        public var calls = 0
        /// Replies served from the response cache.
        public var cacheHits = 0
        /// Calls that failed after all attempts.
        public var failures = 0
        /// Retries made (attempts beyond the first).
        public var retries = 0
        public var usage = Usage.zero
        /// Dollars spent on calls whose price is known (cache hits cost nothing).
        public var costUSD = 0.0
        /// Calls whose cost could not be priced.
        public var unpricedCalls = 0

        public init() {}
    }

    private let totals = Locked<[String: Totals]>([:])

    public init() {}

    /// The totals of `backend`.
    public func totals(for backend: String) -> Totals { totals.withLock { $0[backend] ?? Totals() } }

    /// Totals of every instance.
    public var all: [String: Totals] { totals.current }

    /// Updates the totals of `backend`.
    public func record(_ backend: String, _ update: (inout Totals) -> Void) {
        totals.withLock { update(&$0[backend, default: Totals()]) }
    }
}
