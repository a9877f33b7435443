/// What the middleware needs from the outside world, injectable for tests and clusters.
public struct MiddlewareEnvironment: Sendable {
    /// Time for backoff sleeps, rate limits, timeouts and latency.
    public var clock: any TesterClock
    /// A uniform draw from `[0, 1)` for retry jitter.
    public var random: @Sendable () -> Double
    /// Prices by model name, used when a backend sets no `pricing`.
    public var priceTable: PriceTable
    /// Running totals per instance, when someone wants them.
    public var ledger: UsageLedger?
    /// Builds the rate budget of an instance. The default is a `LocalRateBudget`; a cluster worker
    /// passes one that draws on a budget its coordinator grants.
    public var makeRateBudget: @Sendable (_ instance: String, _ limits: RateLimits, _ clock: any TesterClock) -> any RateBudget
    /// Builds the circuit breaker of an instance. The default is a `LocalCircuitBreaker`; a cluster
    /// worker passes one its coordinator keeps, counting every worker's attempts.
    public var makeCircuitBreaker: @Sendable (_ instance: String, _ settings: CircuitBreaker.Settings) -> any CircuitBreakerGate

    public init(
        clock: any TesterClock = SystemTesterClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        priceTable: PriceTable = .builtIn, ledger: UsageLedger? = nil,
        makeRateBudget: @escaping @Sendable (_ instance: String, _ limits: RateLimits, _ clock: any TesterClock) -> any RateBudget = {
            LocalRateBudget(limits: $1, clock: $2)
        },
        makeCircuitBreaker: @escaping @Sendable (_ instance: String, _ settings: CircuitBreaker.Settings) -> any CircuitBreakerGate = {
            LocalCircuitBreaker(instance: $0, settings: $1)
        }
    ) {
        self.clock = clock
        self.random = random
        self.priceTable = priceTable
        self.ledger = ledger
        self.makeRateBudget = makeRateBudget
        self.makeCircuitBreaker = makeCircuitBreaker
    }

    /// The real clock, random jitter, the built-in price table, local rate budgets.
    public static var system: MiddlewareEnvironment { MiddlewareEnvironment() }
}
