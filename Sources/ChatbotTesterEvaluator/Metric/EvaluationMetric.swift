import ChatbotTesterCore

/// Scores one run record: a deterministic check, an embedding comparison or an LLM judge.
///
/// A metric sees the whole `RunRecord` (sample, transcript, usage, latency), so conversation-level
/// metrics judge the complete transcript. It returns one or more `EvalRecord`s — usually one.
///
/// An evaluation that cannot be made is data, not a throw: return an `EvalRecord` with
/// `status == .unmeasured` and a reason. A thrown error is caught by the `Evaluator` and recorded
/// the same way, so one broken metric never stops a run.
public protocol EvaluationMetric: Sendable {
    /// The instance name written to `EvalRecord.metric` (defaults to the type name).
    var name: String { get }
    /// The registered type name (`contains`, `llm-judge`, …).
    var type: String { get }
    /// Scores one record.
    func evaluate(_ record: RunRecord) async throws -> [EvalRecord]
}

/// The metric registry: type name → factory. Built-ins come from `BuiltinMetrics.register(into:)`.
public typealias MetricRegistry = ComponentRegistry<any EvaluationMetric>

extension ComponentRegistry where Component == any EvaluationMetric {
    /// An empty metric registry that accepts the options every metric shares (`name`, `threshold`,
    /// `weight`, `tags`, and the run-level gates `passRate`, `mean`, `maxUnmeasured`).
    public static func metrics() -> MetricRegistry {
        MetricRegistry(sharedOptions: MetricCommon.sharedOptions)
    }

    /// A metric registry holding every built-in metric.
    public static var builtinMetrics: MetricRegistry {
        var registry = MetricRegistry.metrics()
        BuiltinMetrics.register(into: &registry)
        return registry
    }

    /// Registers a metric type whose body returns one `MetricScore` per record; the shared options
    /// (name, threshold, tags filter, errored runs) are handled for you.
    ///
    /// ```swift
    /// registry.registerScoring("polite", summary: "says please") { options, _ in
    ///     { record in MetricScore.bool(record.output?.contains("please") == true, reason: "looked for 'please'") }
    /// }
    /// ```
    public mutating func registerScoring(
        _ name: String, summary: String = "", options: [OptionSpec] = [], defaultThreshold: Double? = 1,
        factory: @escaping @Sendable (ComponentOptions, ComponentContext) async throws -> @Sendable (RunRecord) async throws -> MetricScore
    ) {
        register(name, summary: summary, options: options) { opts, context in
            let common = try MetricCommon(type: name, options: opts, context: context, defaultThreshold: defaultThreshold)
            let body = try await factory(opts, context)
            return ScoringMetric(common: common, body: body)
        }
    }

    /// Registers a deterministic metric type: like `registerScoring`, but the body never suspends,
    /// so the `Evaluator` scores such metrics inline, many records per task (see
    /// `ScoringMetric.evaluateNow`). Use it for checks that need no network and no judge.
    ///
    /// ```swift
    /// registry.registerSynchronousScoring("polite", summary: "says please") { options, _ in
    ///     { record in MetricScore.bool(record.output?.contains("please") == true, reason: "looked for 'please'") }
    /// }
    /// ```
    public mutating func registerSynchronousScoring(
        _ name: String, summary: String = "", options: [OptionSpec] = [], defaultThreshold: Double? = 1,
        factory: @escaping @Sendable (ComponentOptions, ComponentContext) async throws -> @Sendable (RunRecord) throws -> MetricScore
    ) {
        register(name, summary: summary, options: options) { opts, context in
            let common = try MetricCommon(type: name, options: opts, context: context, defaultThreshold: defaultThreshold)
            let body = try await factory(opts, context)
            return ScoringMetric(common: common, synchronousBody: body)
        }
    }
}
