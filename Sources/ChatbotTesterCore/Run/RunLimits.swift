/// The run-level stop rules every mode applies the same way: the cost budget and the failure
/// policy. One value counts finished samples for the whole run — the Runner's scheduler in one
/// process, the coordinator for a sharded run — so a job stops at the same point however it runs.
///
/// ```swift
/// var limits = RunLimits(budgetUSD: 5, failurePolicy: FailurePolicy(maxFailures: 50), spentUSD: spentBefore)
/// if let reason = limits.recordFinished(failed: record.status == .error, costUSD: record.costUSD) { stop(reason) }
/// ```
/// Spending is cumulative across sessions (a resume passes what earlier sessions spent); failures
/// count in this session only, as `FailurePolicy` documents.
public struct RunLimits: Sendable, Hashable {
    /// Stop starting samples once this many US dollars are spent.
    public let budgetUSD: Double?
    /// When failed samples stop the run.
    public let failurePolicy: FailurePolicy
    /// Dollars spent so far (earlier sessions included).
    public private(set) var spentUSD: Double
    /// Failed samples finished in this session.
    public private(set) var failures = 0
    /// Samples finished in this session.
    public private(set) var finished = 0
    /// The most one finished sample has cost so far (0 before any cost is seen).
    public private(set) var largestCostUSD = 0.0

    public init(budgetUSD: Double? = nil, failurePolicy: FailurePolicy = .never, spentUSD: Double = 0) {
        self.budgetUSD = budgetUSD
        self.failurePolicy = failurePolicy
        self.spentUSD = spentUSD
    }

    /// `.budgetExceeded` when earlier sessions already spent the budget: nothing may start.
    public var exhaustedBeforeStart: RunStopReason? {
        if let budgetUSD, spentUSD >= budgetUSD { return .budgetExceeded }
        return nil
    }

    /// Counts one finished sample; returns why the run must stop starting samples, if it must.
    public mutating func recordFinished(failed: Bool, costUSD: Double?) -> RunStopReason? {
        finished += 1
        spentUSD += costUSD ?? 0
        largestCostUSD = max(largestCostUSD, costUSD ?? 0)
        if failed { failures += 1 }
        if let budgetUSD, spentUSD >= budgetUSD { return .budgetExceeded }
        if failurePolicy.shouldAbort(failures: failures, finished: finished) { return .failurePolicy }
        return nil
    }

    /// Whether `samples` more finished samples could make a rule stop the run, judged by what
    /// was seen so far: each costing as much as the costliest one yet (nothing, before any cost),
    /// and each failing once any has failed (none, before). A scheduler that holds samples ahead
    /// of its slots (a sharded run's prefetch window) stops holding any while this is true, so that
    /// a stop finds no more started than one process would have.
    public func mayStop(within samples: Int) -> Bool {
        let samples = max(0, samples)
        if let budgetUSD, spentUSD + largestCostUSD * Double(samples) >= budgetUSD { return true }
        guard failures > 0 else { return false }
        return failurePolicy.shouldAbort(failures: failures + samples, finished: finished + samples)
    }
}
