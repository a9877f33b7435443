import ChatbotTesterCore

/// The mergeable summary of an evaluation: run statistics, per-metric statistics, and the same per
/// tag. Built record by record (`add`), merged exactly across shards (`merge`), Codable.
///
/// Merging is exact because every field is a count, a fixed-point sum, a min/max-free fixed-bucket
/// histogram or a set union; so `a.merged(b) == whole` for any split of the records.
public struct EvalAggregate: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1

    public var schemaVersion = Self.currentSchemaVersion
    public var runs = RunStats()
    /// Metric instance name → statistics.
    public var metrics: [String: MetricStats] = [:]
    /// Tag → metric instance name → statistics.
    public var byTag: [String: [String: MetricStats]] = [:]
    /// Run-level gate: the largest fraction of runs that may end in an error (`nil`: no limit).
    public var maxErrorRate: Double?

    public init() {}

    /// An aggregate that already lists the metrics (so a metric with no records still shows, with its gate).
    public init(metrics: [MetricCommon]) {
        for metric in metrics {
            self.metrics[metric.name] = MetricStats(type: metric.type, threshold: metric.threshold, weight: metric.weight, gate: metric.gate)
        }
    }

    /// Counts one run record.
    public mutating func add(_ run: RunRecord) {
        runs.add(run)
    }

    /// Counts one evaluation.
    public mutating func add(_ eval: EvalRecord) {
        metrics[eval.metric, default: Self.stats(for: eval)].add(eval)
        // Each tag once (a set only when there are several: most records have one tag or none).
        for tag in eval.tags.count < 2 ? eval.tags : Array(Set(eval.tags)) {
            byTag[tag, default: [:]][eval.metric, default: MetricStats(type: eval.type, threshold: eval.threshold)].add(eval)
        }
    }

    /// Statistics for a metric first seen in a record: its gate is the default for its threshold.
    static func stats(for eval: EvalRecord) -> MetricStats {
        MetricStats(type: eval.type, threshold: eval.threshold, gate: eval.threshold == nil ? MetricGate() : MetricGate(passRate: 1))
    }

    /// Counts a run and its evaluations.
    public mutating func add(_ run: RunRecord, evals: [EvalRecord]) {
        add(run)
        for index in evals.indices { add(evals[index]) }
    }

    /// Adds another aggregate (a shard's) into this one.
    public mutating func merge(_ other: EvalAggregate) {
        runs.merge(other.runs)
        if maxErrorRate == nil { maxErrorRate = other.maxErrorRate }
        for (name, stats) in other.metrics { metrics[name, default: MetricStats(type: stats.type)].merge(stats) }
        for (tag, perMetric) in other.byTag {
            for (name, stats) in perMetric { byTag[tag, default: [:]][name, default: MetricStats(type: stats.type)].merge(stats) }
        }
    }

    /// This aggregate merged with another.
    public func merged(_ other: EvalAggregate) -> EvalAggregate {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Every gate verdict: the run error gate (metric `(runs)`), then each metric's, sorted by metric.
    public var gateResults: [GateResult] {
        var results: [GateResult] = []
        if let limit = maxErrorRate {
            let rate = runs.samples == 0 ? 0 : Double(runs.errored) / Double(runs.samples)
            results.append(GateResult(metric: "(runs)", condition: "maxErrorRate", limit: limit, actual: rate, passed: rate <= limit + 1e-12))
        }
        return results + metrics.keys.sorted().flatMap { metrics[$0]!.gateResults(metric: $0) }
    }

    /// Whether every gate passes (the exit code is 0 exactly when this is true).
    public var passed: Bool { gateResults.allSatisfy(\.passed) }

    /// The weighted mean of the metric means (metrics with nothing scored are left out).
    public var overallScore: Double? {
        // In name order: a sum in dictionary order differs in its last bits from one run to the next.
        let parts = metrics.keys.sorted().compactMap { name in metrics[name].flatMap { stats in stats.mean.map { ($0 * stats.weight, stats.weight) } } }
        let weights = parts.reduce(0) { $0 + $1.1 }
        return weights > 0 ? parts.reduce(0) { $0 + $1.0 } / weights : nil
    }

    /// Metric names in display order.
    public var metricNames: [String] { metrics.keys.sorted() }
}
