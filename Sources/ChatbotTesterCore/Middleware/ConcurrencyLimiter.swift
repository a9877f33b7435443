/// An async, FIFO, cancellation-safe counting semaphore with an adjustable limit: the per-backend
/// concurrency pool.
///
/// A task cancelled while waiting leaves the queue at once with `CancellationError` and never holds
/// a slot; a task that was granted a slot must `release()` it (use `withSlot`).
public final class ConcurrencyLimiter: Sendable {
    private struct State {
        var machine: ConcurrencyLimiterState
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    }

    private let state: Locked<State>

    public init(limit: Int) {
        state = Locked(State(machine: ConcurrencyLimiterState(limit: limit)))
    }

    /// The current limit.
    public var limit: Int { state.withLock { $0.machine.limit } }
    /// Slots held now.
    public var inFlight: Int { state.withLock { $0.machine.inFlight } }
    /// Tasks waiting for a slot.
    public var waiting: Int { state.withLock { $0.machine.waiting } }

    /// Waits for a slot.
    public func acquire() async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Bool? in
                    if Task.isCancelled { return nil }
                    if s.machine.acquire(id) { return true }
                    s.waiters[id] = continuation
                    return false
                }
                switch outcome {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: continuation.resume()
                case false?: break
                }
            }
        } onCancel: {
            let continuation = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard s.machine.cancel(id) else { return nil }
                return s.waiters.removeValue(forKey: id)
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Gives a slot back.
    public func release() {
        let granted = state.withLock { s in s.machine.release().compactMap { s.waiters.removeValue(forKey: $0) } }
        for continuation in granted { continuation.resume() }
    }

    /// Changes the limit (adaptive concurrency).
    public func setLimit(_ limit: Int) {
        let granted = state.withLock { s in s.machine.setLimit(limit).compactMap { s.waiters.removeValue(forKey: $0) } }
        for continuation in granted { continuation.resume() }
    }

    /// Runs `body` holding a slot.
    public func withSlot<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }
}
