import ChatbotTesterCore

/// One metric's mergeable statistics: counts, an exact score sum, a score histogram and judge spend.
///
/// `mean`, `passRate` and the percentiles are computed from these, so a merged aggregate reports
/// exactly what one process would have. The computed values are also written to JSON for readers,
/// and ignored when decoding.
public struct MetricStats: Sendable, Hashable, Codable {
    public var type: String
    public var threshold: Double?
    public var weight: Double
    public var gate: MetricGate
    /// Records with a score.
    public var scored: Int = 0
    /// Scored records that met the threshold.
    public var passed: Int = 0
    /// Scored records below the threshold.
    public var failed: Int = 0
    /// Records that could not be scored.
    public var unmeasured: Int = 0
    /// Scored records whose votes straddle the threshold.
    public var straddling: Int = 0
    public var scoreSum = ExactSum()
    public var histogram = ScoreHistogram(.linear)
    public var judgeUsage = Usage.zero
    public var judgeCostUSD = ExactSum()

    public init(type: String, threshold: Double? = nil, weight: Double = 1, gate: MetricGate = MetricGate()) {
        self.type = type
        self.threshold = threshold
        self.weight = weight
        self.gate = gate
    }

    /// Every record evaluated (scored + unmeasured).
    public var total: Int { scored + unmeasured }
    /// Mean score over scored records.
    public var mean: Double? { scored == 0 ? nil : scoreSum.value / Double(scored) }
    /// Fraction of scored records with a pass/fail verdict that passed.
    public var passRate: Double? { passed + failed == 0 ? nil : Double(passed) / Double(passed + failed) }
    /// Fraction of all records that were unmeasured.
    public var unmeasuredRate: Double? { total == 0 ? nil : Double(unmeasured) / Double(total) }
    public var p50: Double? { histogram.quantile(0.5) }
    public var p90: Double? { histogram.quantile(0.9) }
    public var p99: Double? { histogram.quantile(0.99) }

    public mutating func add(_ record: EvalRecord) {
        if let usage = record.usage { judgeUsage += usage }
        if let cost = record.costUSD { judgeCostUSD.add(cost) }
        guard record.status == .scored, let score = record.score else {
            unmeasured += 1
            return
        }
        scored += 1
        scoreSum.add(score)
        histogram.add(score)
        if record.passed == true { passed += 1 } else if record.passed == false { failed += 1 }
        if record.straddlesThreshold == true { straddling += 1 }
        if threshold == nil { threshold = record.threshold }
    }

    public mutating func merge(_ other: MetricStats) {
        scored += other.scored
        passed += other.passed
        failed += other.failed
        unmeasured += other.unmeasured
        straddling += other.straddling
        scoreSum.merge(other.scoreSum)
        histogram.merge(other.histogram)
        judgeUsage += other.judgeUsage
        judgeCostUSD.merge(other.judgeCostUSD)
        if threshold == nil { threshold = other.threshold }
        if gate.isEmpty { gate = other.gate }
    }

    /// The gate verdicts for this metric.
    public func gateResults(metric: String) -> [GateResult] {
        var results: [GateResult] = []
        if let limit = gate.passRate {
            results.append(GateResult(metric: metric, condition: "passRate", limit: limit, actual: passRate, passed: (passRate ?? -1) >= limit - 1e-12))
        }
        if let limit = gate.mean {
            results.append(GateResult(metric: metric, condition: "mean", limit: limit, actual: mean, passed: (mean ?? -1) >= limit - 1e-12))
        }
        if let limit = gate.maxUnmeasured {
            let rate = unmeasuredRate ?? 0
            results.append(GateResult(metric: metric, condition: "maxUnmeasured", limit: limit, actual: rate, passed: rate <= limit + 1e-12))
        }
        return results
    }

    private enum CodingKeys: String, CodingKey {
        case type, threshold, weight, gate, scored, passed, failed, unmeasured, straddling, scoreSum, histogram, judgeUsage,
            judgeCostUSD, mean, passRate, p50, p90, p99
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold)
        weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? 1
        gate = try c.decodeIfPresent(MetricGate.self, forKey: .gate) ?? MetricGate()
        scored = try c.decode(Int.self, forKey: .scored)
        passed = try c.decode(Int.self, forKey: .passed)
        failed = try c.decode(Int.self, forKey: .failed)
        unmeasured = try c.decode(Int.self, forKey: .unmeasured)
        straddling = try c.decodeIfPresent(Int.self, forKey: .straddling) ?? 0
        scoreSum = try c.decode(ExactSum.self, forKey: .scoreSum)
        histogram = try c.decode(ScoreHistogram.self, forKey: .histogram)
        judgeUsage = try c.decodeIfPresent(Usage.self, forKey: .judgeUsage) ?? .zero
        judgeCostUSD = try c.decodeIfPresent(ExactSum.self, forKey: .judgeCostUSD) ?? ExactSum()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(threshold, forKey: .threshold)
        try c.encode(weight, forKey: .weight)
        try c.encode(gate, forKey: .gate)
        try c.encode(scored, forKey: .scored)
        try c.encode(passed, forKey: .passed)
        try c.encode(failed, forKey: .failed)
        try c.encode(unmeasured, forKey: .unmeasured)
        try c.encode(straddling, forKey: .straddling)
        try c.encode(scoreSum, forKey: .scoreSum)
        try c.encode(histogram, forKey: .histogram)
        try c.encode(judgeUsage, forKey: .judgeUsage)
        try c.encode(judgeCostUSD, forKey: .judgeCostUSD)
        try c.encodeIfPresent(mean, forKey: .mean)
        try c.encodeIfPresent(passRate, forKey: .passRate)
        try c.encodeIfPresent(p50, forKey: .p50)
        try c.encodeIfPresent(p90, forKey: .p90)
        try c.encodeIfPresent(p99, forKey: .p99)
    }
}
