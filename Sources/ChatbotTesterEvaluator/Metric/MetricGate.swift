/// Run-level conditions on one metric's aggregate that decide the exit code.
///
/// Written beside the metric's other options: `{type: llm-judge, threshold: 0.7, passRate: 0.9}`.
/// When a metric has a per-sample `threshold` and no gate key, the gate is `passRate: 1.0` (every
/// scored sample must pass). Unmeasured samples never count as passed or failed; bound them with
/// `maxUnmeasured`.
public struct MetricGate: Sendable, Hashable, Codable {
    /// Minimum fraction of scored samples that pass their threshold, in [0, 1].
    public var passRate: Double?
    /// Minimum mean score over scored samples, in [0, 1].
    public var mean: Double?
    /// Maximum fraction of evaluated samples left unmeasured, in [0, 1].
    public var maxUnmeasured: Double?

    public init(passRate: Double? = nil, mean: Double? = nil, maxUnmeasured: Double? = nil) {
        self.passRate = passRate
        self.mean = mean
        self.maxUnmeasured = maxUnmeasured
    }

    /// Whether any condition is set.
    public var isEmpty: Bool { passRate == nil && mean == nil && maxUnmeasured == nil }
}

/// The verdict of one gate condition on the aggregate.
public struct GateResult: Sendable, Hashable, Codable {
    /// The metric instance name.
    public var metric: String
    /// `passRate`, `mean` or `maxUnmeasured`.
    public var condition: String
    /// The configured limit.
    public var limit: Double
    /// The measured value; `nil` when nothing was scored (a `passRate`/`mean` gate then fails).
    public var actual: Double?
    public var passed: Bool

    public init(metric: String, condition: String, limit: Double, actual: Double?, passed: Bool) {
        self.metric = metric
        self.condition = condition
        self.limit = limit
        self.actual = actual
        self.passed = passed
    }
}
