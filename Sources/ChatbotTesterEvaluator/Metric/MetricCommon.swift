import ChatbotTesterCore

/// The options every metric shares, parsed once: `name`, `threshold`, `weight`, `tags` (filter) and
/// the run-level gate keys `passRate`, `mean`, `maxUnmeasured`.
///
/// Built-in metrics hold one and use it to turn a `MetricScore` into an `EvalRecord`; user metrics
/// get the same behaviour through `MetricRegistry.registerScoring`.
public struct MetricCommon: Sendable, Hashable {
    /// The instance name written to each `EvalRecord`.
    public var name: String
    /// The registered type.
    public var type: String
    /// Per-sample pass threshold on the [0, 1] score; `nil` makes the metric informational.
    public var threshold: Double?
    /// Weight of this metric in the overall score (default 1).
    public var weight: Double
    /// When set, only samples carrying at least one of these tags are evaluated.
    public var tags: [String]?
    /// Run-level gate (defaults to `passRate: 1` when a threshold is set).
    public var gate: MetricGate

    /// Keys every metric accepts.
    public static let sharedOptions: [OptionSpec] = [
        OptionSpec("name", .string, "instance name shown in reports (default: the type, suffixed when repeated)"),
        OptionSpec("threshold", .number, "per-sample pass threshold on the [0, 1] score"),
        OptionSpec("weight", .number, default: "1", "weight in the overall score"),
        OptionSpec("tags", .array, "evaluate only samples with at least one of these tags"),
        OptionSpec("passRate", .number, "run gate: minimum fraction of scored samples that pass"),
        OptionSpec("mean", .number, "run gate: minimum mean score"),
        OptionSpec("maxUnmeasured", .number, "run gate: maximum fraction of samples left unmeasured"),
    ]

    public init(
        name: String, type: String, threshold: Double?, weight: Double = 1, tags: [String]? = nil, gate: MetricGate? = nil
    ) {
        self.name = name
        self.type = type
        self.threshold = threshold
        self.weight = weight
        self.tags = tags
        if let gate, !gate.isEmpty {
            self.gate = gate
        } else {
            self.gate = threshold == nil ? MetricGate() : MetricGate(passRate: 1)
        }
    }

    /// Parses the shared keys from a metric's options.
    /// - Parameter defaultThreshold: the type's threshold when the config gives none.
    public init(type: String, options: ComponentOptions, context: ComponentContext, defaultThreshold: Double?) throws {
        let name = try options.string("name") ?? (context.instanceName.isEmpty ? type : context.instanceName)
        let threshold = try options.double("threshold") ?? defaultThreshold
        for key in ["threshold", "passRate", "mean", "maxUnmeasured"] {
            if let value = try options.double(key), !(0...1).contains(value) {
                throw ChatbotTesterError(
                    .invalidConfig, "'\(key)' must be between 0 and 1 (got \(value))",
                    location: SourceLocation(field: context.fieldPath(key)))
            }
        }
        let gate = MetricGate(
            passRate: try options.double("passRate"), mean: try options.double("mean"),
            maxUnmeasured: try options.double("maxUnmeasured"))
        self.init(
            name: name, type: type, threshold: threshold, weight: try options.double("weight") ?? 1,
            tags: try options.strings("tags"), gate: gate)
    }

    /// Whether the metric evaluates this sample (its `tags` filter).
    public func applies(to record: RunRecord) -> Bool {
        guard let tags, !tags.isEmpty else { return true }
        return record.sample.tags.contains(where: tags.contains)
    }

    /// The `EvalRecord` for a score: pass/fail from the threshold, straddle from the votes.
    public func record(for run: RunRecord, _ score: MetricScore) -> EvalRecord {
        var spread: Double?
        var straddles: Bool?
        if let votes = score.votes, !votes.isEmpty {
            spread = (votes.max() ?? 0) - (votes.min() ?? 0)
            if let threshold {
                let passing = votes.filter { $0 >= threshold }.count
                straddles = passing > 0 && passing < votes.count
            }
        }
        let passed: Bool? = score.score.flatMap { value in threshold.map { value >= $0 - 1e-12 } }
        return EvalRecord(
            sampleId: run.sampleId, metric: name, type: type, status: score.isMeasured ? .scored : .unmeasured,
            score: score.score, passed: passed, threshold: threshold, reason: score.reason, votes: score.votes,
            spread: spread, straddlesThreshold: straddles, usage: score.usage, costUSD: score.costUSD,
            tags: run.sample.tags, details: score.details)
    }

    /// An unmeasured record with a reason.
    public func unmeasured(_ run: RunRecord, _ reason: String) -> EvalRecord {
        record(for: run, .unmeasured(reason))
    }

    /// The unmeasured record for a run that errored, or `nil` when the run completed.
    public func erroredRun(_ run: RunRecord) -> EvalRecord? {
        guard run.status == .error else { return nil }
        let why = run.error.map { "\($0.code): \($0.message)" } ?? "unknown error"
        return unmeasured(run, "run failed (\(why))")
    }
}
