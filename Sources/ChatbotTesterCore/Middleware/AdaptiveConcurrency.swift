/// AIMD concurrency control as a pure value: additive increase on success, multiplicative decrease
/// when the provider says "slow down" (429 / rate limited).
///
/// Calls take a ticket when they start. A burst of 429s from calls that were all in flight before
/// the last cut causes one cut, not one per error: only a call started after the last cut can cut
/// again.
public struct AdaptiveConcurrency: Sendable, Hashable {
    public let minimum: Int
    public let maximum: Int
    /// The fractional window; the usable limit is its floor.
    public private(set) var window: Double
    /// The factor applied on a cut.
    public let decrease: Double
    private var issued: UInt64 = 0
    private var lastCutTicket: UInt64 = 0

    /// Starts at `maximum` (or `initial`) and moves within `[minimum, maximum]`.
    public init(minimum: Int = 1, maximum: Int, initial: Int? = nil, decrease: Double = 0.5) {
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self.window = Double(min(self.maximum, max(self.minimum, initial ?? maximum)))
        self.decrease = decrease
    }

    /// The limit to enforce now.
    public var limit: Int { Int(window) }

    /// A call starts; keep the ticket for `rateLimited(ticket:)`.
    public mutating func start() -> UInt64 {
        issued += 1
        return issued
    }

    /// A call succeeded: grow by about one per window of successes. Returns the new limit when it changed.
    public mutating func succeeded() -> Int? {
        let before = limit
        window = min(Double(maximum), window + 1 / window)
        return limit != before ? limit : nil
    }

    /// A call that started with `ticket` was rate limited: cut unless an earlier cut already covered
    /// it. Returns the new limit when it changed.
    public mutating func rateLimited(ticket: UInt64) -> Int? {
        guard ticket > lastCutTicket else { return nil }
        lastCutTicket = issued
        let before = limit
        window = max(Double(minimum), (window * decrease).rounded(.down))
        return limit != before ? limit : nil
    }
}
