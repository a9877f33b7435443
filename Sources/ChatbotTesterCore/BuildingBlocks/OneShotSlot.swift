/// An outcome set once (a value or an error) that any number of tasks await, kept inside the
/// caller's own locked state so that setting it and the caller's other changes are one lock turn.
/// ``OneShot`` wraps one in a lock of its own for when nothing else shares it.
///
/// Tasks that wait before the outcome is set are kept, in the order they came, and handed back by
/// ``set(_:)`` to be resumed once the lock is let go; tasks that come later get the outcome at once
/// from ``wait(_:)``. Only the first ``set(_:)`` counts: later ones are refused (they return `nil`
/// and change nothing). Waiting is not cancellable: a cancelled waiter keeps waiting for the outcome.
///
/// ```swift
/// struct State { var exit = OneShotSlot<Int32, Never>(); var pid: pid_t }
/// let state = Locked(State(pid: pid))
///
/// // The reaper: set the status (and anything else under the same lock), then resume the waiters.
/// state.withLock { $0.exit.set(.success(status)) }?.resume()
///
/// // A waiter.
/// let status = await withCheckedContinuation { waiter in
///     if let set = state.withLock({ $0.exit.wait(waiter) }) { waiter.resume(returning: set) }
/// }.get()
/// ```
public struct OneShotSlot<Success: Sendable, Failure: Error>: Sendable {
    /// The continuation of a waiting task; it is resumed with the outcome.
    public typealias Waiter = CheckedContinuation<Result<Success, Failure>, Never>

    /// The waiters to resume with an outcome just set (``set(_:)``'s result).
    public struct Delivery: Sendable {
        /// The outcome set.
        public let outcome: Result<Success, Failure>
        /// The tasks that waited, in the order they came.
        public let waiters: [Waiter]

        /// Resumes every waiter with the outcome, in the order they came (call it outside the lock).
        public func resume() {
            for waiter in waiters { waiter.resume(returning: outcome) }
        }
    }

    /// The outcome, once set.
    public private(set) var outcome: Result<Success, Failure>?
    private var waiters: [Waiter] = []

    /// A slot not set yet, with no waiter.
    public init() {}

    /// Whether the outcome is set.
    public var isSet: Bool { outcome != nil }

    /// How many tasks wait for the outcome (none once it is set).
    public var waitingCount: Int { waiters.count }

    /// Sets the outcome: returns the waiters to resume with it, or `nil` (nothing changed) when it
    /// was set already.
    public mutating func set(_ outcome: Result<Success, Failure>) -> Delivery? {
        guard self.outcome == nil else { return nil }
        self.outcome = outcome
        defer { waiters = [] }
        return Delivery(outcome: outcome, waiters: waiters)
    }

    /// Keeps `waiter` until the outcome is set; returns the outcome instead when it is set already
    /// (resume `waiter` with it at once, outside the lock).
    public mutating func wait(_ waiter: Waiter) -> Result<Success, Failure>? {
        if let outcome { return outcome }
        waiters.append(waiter)
        return nil
    }
}

extension OneShotSlot where Failure == Never {
    /// The value, once set (an outcome that cannot fail).
    public var value: Success? {
        guard case .success(let value)? = outcome else { return nil }
        return value
    }
}
