import DequeModule

/// The pure state of a FIFO counting semaphore whose limit can change: no locks, no continuations.
///
/// `ConcurrencyLimiter` carries out the actions this returns (resume these waiters).
public struct ConcurrencyLimiterState: Sendable, Hashable {
    /// How many holders may be inside at once.
    public private(set) var limit: Int
    /// How many hold a slot now.
    public private(set) var inFlight = 0
    private var queue = Deque<UInt64>()

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// How many wait for a slot.
    public var waiting: Int { queue.count }

    /// Asks for a slot for waiter `id`: `true` when granted now, `false` when queued.
    /// Queued waiters are served first, so a newcomer never overtakes them.
    public mutating func acquire(_ id: UInt64) -> Bool {
        if waiting == 0, inFlight < limit {
            inFlight += 1
            return true
        }
        queue.append(id)
        return false
    }

    /// Gives a slot back; returns the waiters that now hold a slot (resume them).
    public mutating func release() -> [UInt64] {
        inFlight = max(0, inFlight - 1)
        return grant()
    }

    /// Removes a queued waiter (its task was cancelled): `true` when it was still queued.
    public mutating func cancel(_ id: UInt64) -> Bool {
        guard let index = queue.firstIndex(of: id) else { return false }
        queue.remove(at: index)
        return true
    }

    /// Changes the limit; returns the waiters that now hold a slot. Holders above a lowered limit
    /// keep their slot; new grants wait until `inFlight` is below the limit.
    public mutating func setLimit(_ newLimit: Int) -> [UInt64] {
        limit = max(1, newLimit)
        return grant()
    }

    private mutating func grant() -> [UInt64] {
        var granted: [UInt64] = []
        while inFlight < limit, let next = queue.popFirst() {
            granted.append(next)
            inFlight += 1
        }
        return granted
    }
}
