/// Where one task parks until another wakes it, kept inside the caller's own locked state so that
/// a decision and the wake-up it calls for are taken in one turn of the caller's lock.
///
/// The slot holds at most one parked task and a pending wake: a wake that comes while no task is
/// parked is remembered, and the next ``park(_:)`` hands its continuation straight back, so a wake
/// that comes before the park is never lost. Wakes are coalesced, not counted: any number of them
/// while no task is parked release one park. A caller that has seen, under the same lock, all that
/// the wakes were about forgets them with ``consumeWake()`` (so its next park really waits).
///
/// Nothing is resumed under the lock: ``wake()`` and ``park(_:)`` return the continuation to
/// resume once the lock is let go. The slot does not watch for cancellation: a caller that wants a
/// cancelled task to return wakes the slot from its `withTaskCancellationHandler` handler.
///
/// ```swift
/// struct State { var queue: [Job] = []; var consumer = ParkingSlot() }
/// let state = Locked(State())
///
/// // Producer: queue a job and wake the consumer, in one lock turn.
/// state.withLock { $0.queue.append(job); return $0.consumer.wake() }?.resume()
///
/// // Consumer: take the jobs, or park until there are some.
/// while true {
///     let jobs = state.withLock { s in defer { s.queue = []; s.consumer.consumeWake() }; return s.queue }
///     if !jobs.isEmpty { run(jobs); continue }
///     await withCheckedContinuation { parked in
///         state.withLock { $0.queue.isEmpty ? $0.consumer.park(parked) : parked }?.resume()
///     }
/// }
/// ```
public struct ParkingSlot: Sendable {
    /// The continuation of a parked task.
    public typealias Waiter = CheckedContinuation<Void, Never>

    @usableFromInline var parked: Waiter?
    @usableFromInline var pendingWake = false

    /// An empty slot: no task parked, no wake pending.
    @inlinable
    public init() {}

    /// Whether a task is parked.
    @inlinable
    public var isParked: Bool { parked != nil }

    /// Whether a wake came while no task was parked (the next park returns at once).
    @inlinable
    public var hasPendingWake: Bool { pendingWake }

    /// Parks `waiter`; returns it, to be resumed at once, when a wake is pending (the wake is then
    /// used up). A slot holds one task: parking a second one while one is parked is a programming
    /// error (a precondition failure).
    @inlinable
    public mutating func park(_ waiter: Waiter) -> Waiter? {
        precondition(parked == nil, "ParkingSlot: a task is parked already")
        if pendingWake {
            pendingWake = false
            return waiter
        }
        parked = waiter
        return nil
    }

    /// Wakes the parked task: returns its continuation, to be resumed once the lock is let go. With
    /// no task parked, remembers the wake for the next ``park(_:)`` and returns `nil`.
    @inlinable
    public mutating func wake() -> Waiter? {
        guard let waiter = parked else {
            pendingWake = true
            return nil
        }
        parked = nil
        return waiter
    }

    /// Forgets a pending wake: the caller has seen, under the same lock, the state the wakes were
    /// about, so its next park waits for a new one.
    @inlinable
    public mutating func consumeWake() {
        pendingWake = false
    }
}
