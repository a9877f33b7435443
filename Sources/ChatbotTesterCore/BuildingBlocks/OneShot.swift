/// An outcome set once (a value or an error) that any number of tasks await: tasks that wait
/// before it is set are resumed when it is, later ones get it at once. Only the first ``set(_:)``
/// counts; waiting is not cancellable (a cancelled waiter keeps waiting). It is a ``OneShotSlot``
/// under a lock of its own.
///
/// ```swift
/// let spool = OneShot<ClusterSpool, any Error>()
/// Task { spool.set(Result { try writeSpool() }) }
/// let ready = try await spool.value()   // from any number of tasks
/// ```
public final class OneShot<Success: Sendable, Failure: Error>: Sendable {
    private let slot = Locked(OneShotSlot<Success, Failure>())

    /// An outcome not set yet.
    public init() {}

    /// Sets the outcome and resumes the tasks waiting for it; returns `false` (and changes nothing)
    /// when it was set already.
    @discardableResult
    public func set(_ outcome: Result<Success, Failure>) -> Bool {
        guard let delivery = slot.withLock({ $0.set(outcome) }) else { return false }
        delivery.resume()
        return true
    }

    /// The outcome, once set (without waiting).
    public var outcome: Result<Success, Failure>? { slot.withLock { $0.outcome } }

    /// How many tasks wait for the outcome (none once it is set).
    public var waitingCount: Int { slot.withLock { $0.waitingCount } }

    /// Waits for the outcome.
    public func result() async -> Result<Success, Failure> {
        await slot.outcome()
    }

    /// Waits for the outcome: its value, or its error thrown.
    public func value() async throws(Failure) -> Success {
        try await result().get()
    }
}

extension Locked {
    /// Waits for the outcome of the ``OneShotSlot`` this lock guards: at once when it is set, else
    /// once ``OneShotSlot/set(_:)`` hands this waiter over.
    public func outcome<Success: Sendable, Failure: Error>() async -> Result<Success, Failure>
    where Value == OneShotSlot<Success, Failure> {
        await withCheckedContinuation { (waiter: OneShotSlot<Success, Failure>.Waiter) in
            if let outcome = withLock({ $0.wait(waiter) }) { waiter.resume(returning: outcome) }
        }
    }
}
