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
    /// The error that ended the run when `stopReason` is `.error` or `.targetDown`.
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
    /// One example message per error code in `statistics.errorsByCode` (the first recorded).
    public var errorExamples: [String: String]
    /// Resumed runs: cases recorded as errors by an earlier session and kept (not played again,
    /// as `--retry-errors` would).
    public var keptErrors: Int

    public init(
        target: String, stopReason: RunStopReason, error: ErrorInfo? = nil, statistics: RunStatistics, resumed: Int,
        skipped: Int, duplicates: Int, abandoned: Int, played: Int, durationSeconds: Double, budgetUSD: Double?,
        errorExamples: [String: String] = [:], keptErrors: Int = 0
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
        self.errorExamples = errorExamples
        self.keptErrors = keptErrors
    }

    enum CodingKeys: String, CodingKey {
        case target, stopReason, error, statistics, resumed, skipped, duplicates, abandoned, played, durationSeconds, budgetUSD
        case latency, turnLatency, errorExamples, keptErrors
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        target = try c.decode(String.self, forKey: .target)
        stopReason = try c.decode(RunStopReason.self, forKey: .stopReason)
        error = try c.decodeIfPresent(ErrorInfo.self, forKey: .error)
        statistics = try c.decode(RunStatistics.self, forKey: .statistics)
        resumed = try c.decode(Int.self, forKey: .resumed)
        skipped = try c.decode(Int.self, forKey: .skipped)
        duplicates = try c.decode(Int.self, forKey: .duplicates)
        abandoned = try c.decode(Int.self, forKey: .abandoned)
        played = try c.decode(Int.self, forKey: .played)
        durationSeconds = try c.decode(Double.self, forKey: .durationSeconds)
        budgetUSD = try c.decodeIfPresent(Double.self, forKey: .budgetUSD)
        latency = try c.decode(LatencySummary.self, forKey: .latency)
        turnLatency = try c.decode(LatencySummary.self, forKey: .turnLatency)
        errorExamples = try c.decodeIfPresent([String: String].self, forKey: .errorExamples) ?? [:]
        keptErrors = try c.decodeIfPresent(Int.self, forKey: .keptErrors) ?? 0
    }

    /// The most frequent error codes, most frequent first (ties by code): count and an example message.
    public func topErrors(_ limit: Int = 5) -> [(code: String, count: Int, example: String?)] {
        statistics.errorsByCode.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(limit).map { (code: $0.key, count: $0.value, example: errorExamples[$0.key]) }
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
