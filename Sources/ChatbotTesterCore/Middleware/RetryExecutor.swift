/// Runs an operation under a `RetryPolicy`, sleeping on an injected clock between attempts.
public struct RetryExecutor: Sendable {
    /// What the executor reports before each retry sleep.
    public struct Notice: Sendable, Hashable {
        /// The attempt that failed (1-based).
        public var attempt: Int
        /// The sleep before the next attempt.
        public var delaySeconds: Double
        /// The error of the failed attempt.
        public var error: ChatbotTesterError
    }

    public var policy: RetryPolicy
    public var clock: any TesterClock
    /// A uniform draw from `[0, 1)` for jitter.
    public var random: @Sendable () -> Double
    /// Called before each retry sleep (emit an event, count retries).
    public var onRetry: @Sendable (Notice) -> Void

    public init(
        policy: RetryPolicy, clock: any TesterClock = SystemTesterClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        onRetry: @escaping @Sendable (Notice) -> Void = { _ in }
    ) {
        self.policy = policy
        self.clock = clock
        self.random = random
        self.onRetry = onRetry
    }

    /// Runs `body` (given the 1-based attempt number) until it succeeds or the policy gives up;
    /// returns the value and the number of attempts made. The last error is rethrown.
    public func run<T: Sendable>(_ body: @Sendable (_ attempt: Int) async throws -> T) async throws -> (value: T, attempts: Int) {
        var attempt = 1
        while true {
            do {
                return (try await body(attempt), attempt)
            } catch {
                try Task.checkCancellation()
                switch policy.decide(afterAttempt: attempt, error: error, random: random()) {
                case .giveUp:
                    throw error
                case .retry(let delay):
                    onRetry(Notice(attempt: attempt, delaySeconds: delay, error: ChatbotTesterError.wrap(error)))
                    try await clock.sleep(seconds: delay)
                    attempt += 1
                }
            }
        }
    }
}
