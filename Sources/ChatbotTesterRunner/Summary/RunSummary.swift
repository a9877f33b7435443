import ChatbotTesterCore

/// Percentiles of a latency histogram, in milliseconds.
public struct LatencySummary: Sendable, Hashable, Codable {
    public var count: Int
    public var meanMs: Double?
    public var p50Ms: Double?
    public var p90Ms: Double?
    public var p99Ms: Double?
    public var maxMs: Double?

    public init(_ histogram: LatencyHistogram) {
        count = histogram.count
        meanMs = histogram.meanMs
        p50Ms = histogram.percentile(0.5)
        p90Ms = histogram.percentile(0.9)
        p99Ms = histogram.percentile(0.99)
        maxMs = histogram.maxMs
    }
}

/// The outcome of a run: counts, usage, cost, latency percentiles and why it stopped.
///
/// Counts cover the whole run, including records journaled by an earlier session when resuming
/// (`resumed` says how many), so a resumed run reports the same totals as an uninterrupted one.
public struct RunSummary: Sendable, Hashable, Codable {
    /// The target backend instance.
    public var target: String
    /// Why the run ended.
    public var stopReason: RunStopReason
    /// The error that ended the run when `stopReason == .error`.
    public var error: ErrorInfo?
    /// Totals over every recorded sample.
    public var statistics: RunStatistics
    /// Records carried over from the journal of an earlier session.
    public var resumed: Int
    /// Input samples skipped because their id was already journaled.
    public var skipped: Int
    /// Input samples skipped because their id appeared earlier in the input.
    public var duplicates: Int
    /// Samples in flight when the run was cancelled: not recorded, played again on resume.
    public var abandoned: Int
    /// Samples played in this session.
    public var played: Int
    /// Wall time of this session, in seconds.
    public var durationSeconds: Double
    /// The configured budget, if any.
    public var budgetUSD: Double?
    /// Per-sample latency percentiles.
    public var latency: LatencySummary
    /// Per-turn latency percentiles of the target.
    public var turnLatency: LatencySummary

    public init(
        target: String, stopReason: RunStopReason, error: ErrorInfo? = nil, statistics: RunStatistics, resumed: Int,
        skipped: Int, duplicates: Int, abandoned: Int, played: Int, durationSeconds: Double, budgetUSD: Double?
    ) {
        self.target = target
        self.stopReason = stopReason
        self.error = error
        self.statistics = statistics
        self.resumed = resumed
        self.skipped = skipped
        self.duplicates = duplicates
        self.abandoned = abandoned
        self.played = played
        self.durationSeconds = durationSeconds
        self.budgetUSD = budgetUSD
        self.latency = LatencySummary(statistics.latency)
        self.turnLatency = LatencySummary(statistics.turnLatency)
    }

    /// Samples recorded `ok`.
    public var ok: Int { statistics.ok }
    /// Samples recorded as failed (unmeasured).
    public var failed: Int { statistics.error }
    /// Total cost in US dollars.
    public var costUSD: Double { statistics.costUSD }
    /// Samples played per second in this session.
    public var samplesPerSecond: Double { durationSeconds > 0 ? Double(played) / durationSeconds : 0 }
}
