import Foundation

/// Time as middleware and sinks see it: a monotonic reading and a sleep.
///
/// Injected everywhere time matters (retry backoff, rate limits, timeouts, progress redraws), so tests
/// can count requested sleeps and advance a virtual clock instead of waiting on the wall clock.
public protocol TesterClock: Sendable {
    /// Monotonic seconds since an arbitrary origin.
    func now() -> Double
    /// Suspends for `seconds` (returns at once for zero or less). Throws `CancellationError` when
    /// the task is cancelled while asleep.
    func sleep(seconds: Double) async throws
}

/// The real clock: `ContinuousClock` readings and `Task.sleep`.
public struct SystemTesterClock: TesterClock {
    private let origin = ContinuousClock.now

    public init() {}

    public func now() -> Double {
        let elapsed = origin.duration(to: ContinuousClock.now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: .nanoseconds(Int64(min(seconds, 1e9) * 1e9)))
    }
}
