/// A token bucket as a pure value: refills at `ratePerSecond` up to `capacity`.
///
/// Reservations may drive the balance below zero; the returned wait is the time until the deficit
/// is refilled. Reserving in call order therefore queues callers FIFO, and over any interval of
/// `t` seconds at most `capacity + ratePerSecond · t` is granted.
public struct TokenBucket: Sendable, Hashable {
    /// The most that can be spent at once after an idle period (the burst).
    public let capacity: Double
    /// The refill rate.
    public let ratePerSecond: Double
    /// What is left to spend now; negative while reservations wait for refill.
    public private(set) var balance: Double
    private var updatedAt: Double

    /// A full bucket at time `now`.
    public init(capacity: Double, ratePerSecond: Double, now: Double) {
        self.capacity = max(capacity, 1e-9)
        self.ratePerSecond = max(ratePerSecond, 1e-9)
        self.balance = self.capacity
        self.updatedAt = now
    }

    private mutating func refill(now: Double) {
        if now > updatedAt {
            balance = min(capacity, balance + (now - updatedAt) * ratePerSecond)
            updatedAt = now
        }
    }

    /// Reserves `amount` and returns how many seconds the caller must wait before using it (0 when
    /// it is available now).
    public mutating func reserve(_ amount: Double, now: Double) -> Double {
        refill(now: now)
        balance -= amount
        return balance >= 0 ? 0 : -balance / ratePerSecond
    }

    /// Adds back `amount` (a cancelled reservation, or an over-estimate corrected by real usage).
    public mutating func refund(_ amount: Double, now: Double) {
        refill(now: now)
        balance = min(capacity, balance + amount)
    }

    /// Charges `amount` more without waiting (an under-estimate corrected by real usage); later
    /// reservations wait for it.
    public mutating func charge(_ amount: Double, now: Double) {
        refill(now: now)
        balance -= amount
    }
}
