/// What a progress display knows about one stage: counts and when it started.
public struct ProgressSnapshot: Sendable, Hashable {
    public var stage: String
    /// Items expected, when known.
    public var total: Int?
    /// Items finished (failed ones included).
    public var completed: Int
    /// Items that finished with an error.
    public var failed: Int
    /// Clock reading when the stage started.
    public var startedAt: Double
    /// Clock reading when the stage finished, once it has.
    public var finishedAt: Double?

    public init(stage: String, total: Int? = nil, completed: Int = 0, failed: Int = 0, startedAt: Double, finishedAt: Double? = nil) {
        self.stage = stage
        self.total = total
        self.completed = completed
        self.failed = failed
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// Items per second since the start.
    public func rate(now: Double) -> Double? {
        let elapsed = (finishedAt ?? now) - startedAt
        guard elapsed > 0, completed > 0 else { return nil }
        return Double(completed) / elapsed
    }

    /// Seconds until `total` at the current rate.
    public func eta(now: Double) -> Double? {
        guard let total, completed <= total, let rate = rate(now: now), rate > 0 else { return nil }
        return Double(max(0, total - completed)) / rate
    }

    /// Applies one progress update for this stage.
    public mutating func apply(_ update: ProgressUpdate, now: Double) {
        switch update {
        case .started(_, let total):
            self.total = total
        case .advanced(_, let succeeded, let count):
            completed += count
            if !succeeded { failed += count }
        case .finished:
            finishedAt = now
        }
    }
}
