import ChatbotTesterCore
import Foundation

/// Runs a set of metrics over run records: one record at a time (`evaluate(_:)`) or a whole stream
/// with bounded concurrency, results in input order, and a mergeable aggregate.
///
/// ```swift
/// let evaluator = try await Evaluator(specs: config.evaluate.metrics, backends: backendSet, events: bus)
/// let outcome = try await evaluator.evaluateFile(results: dir/"results.jsonl", outputDirectory: dir)
/// exit(outcome.summary.passed ? 0 : 1)
/// ```
public struct Evaluator: Sendable {
    /// The metrics, in config order.
    public let metrics: [any EvaluationMetric]
    /// The shared options of each metric (names, thresholds, gates), in the same order.
    public let descriptors: [MetricCommon]
    /// Samples evaluated at once.
    public var concurrency: Int
    /// Run-level gate: the largest fraction of runs that may have errored (`nil`: no limit).
    public var maxErrorRate: Double?
    public let events: EventBus
    /// The metrics as synchronous scorers, when every one of them is (deterministic checks):
    /// then a record is scored in one call, without a task per metric.
    let synchronousMetrics: [ScoringMetric]?

    /// Uses ready-made metrics. `descriptors` default to each metric's name/type with no threshold.
    public init(metrics: [any EvaluationMetric], descriptors: [MetricCommon]? = nil, concurrency: Int = 8, events: EventBus = EventBus()) {
        self.metrics = metrics
        self.descriptors =
            descriptors ?? metrics.map { ($0 as? ScoringMetric)?.common ?? MetricCommon(name: $0.name, type: $0.type, threshold: nil) }
        self.concurrency = max(1, concurrency)
        self.events = events
        let scorers = metrics.compactMap { $0 as? ScoringMetric }.filter(\.isSynchronous)
        self.synchronousMetrics = scorers.count == metrics.count ? scorers : nil
    }

    /// Whether every metric scores without suspending (deterministic checks): `evaluateNow` works
    /// and files are evaluated many records per task.
    public var isSynchronous: Bool { synchronousMetrics != nil }

    /// Every metric's records for one run, scored without suspending, in metric order — what
    /// `evaluate(_:)` returns; `nil` when a metric needs the asynchronous path (a judge, an
    /// embedding backend).
    public func evaluateNow(_ record: RunRecord) -> [EvalRecord]? {
        guard let synchronousMetrics else { return nil }
        var records: [EvalRecord] = []
        records.reserveCapacity(synchronousMetrics.count)
        for index in synchronousMetrics.indices { synchronousMetrics[index].appendNow(record, to: &records) }
        let masker = SecretMasker.shared
        if !masker.isEmpty {
            for index in records.indices { records[index] = records[index].masked(by: masker) }
        }
        return records
    }

    /// Builds the metrics of a job from their specs (the `evaluate.metrics` list of a job config).
    ///
    /// Repeated types without a `name` are named `contains`, `contains-2`, … Judges and embedding
    /// metrics take their backend by name from `backends`.
    public init(
        specs: [ComponentSpec], registry: MetricRegistry = .builtinMetrics, backends: BackendSet? = nil,
        secrets: SecretResolver = SecretResolver(), events: EventBus = EventBus(), concurrency: Int = 8, maxErrorRate: Double? = nil
    ) async throws {
        var metrics: [any EvaluationMetric] = []
        var descriptors: [MetricCommon] = []
        for (spec, name) in zip(specs, Self.instanceNames(specs)) {
            let context = ComponentContext(instanceName: name, section: "evaluate.metrics", secrets: secrets, events: events, backends: backends)
            let metric = try await registry.make(spec, context: context)
            let common = try MetricCommon(
                type: spec.type, options: ComponentOptions(spec.options, context: context), context: context, defaultThreshold: nil)
            metrics.append(metric)
            descriptors.append((metric as? ScoringMetric)?.common ?? common)
        }
        self.init(metrics: metrics, descriptors: descriptors, concurrency: concurrency, events: events)
        self.maxErrorRate = maxErrorRate
    }

    /// Builds the evaluator of a job's `evaluate:` section: its metrics, `concurrency` and the
    /// `maxErrorRate` run gate.
    public init(
        config: EvaluationConfig, registry: MetricRegistry = .builtinMetrics, backends: BackendSet? = nil,
        secrets: SecretResolver = SecretResolver(), events: EventBus = EventBus()
    ) async throws {
        try await self.init(
            specs: config.metrics, registry: registry, backends: backends, secrets: secrets, events: events, concurrency: config.concurrency,
            maxErrorRate: config.maxErrorRate)
    }

    /// Checks every spec (types, options) without building anything; returns all problems at once.
    public static func validate(specs: [ComponentSpec], registry: MetricRegistry = .builtinMetrics) -> [ChatbotTesterError] {
        var problems: [ChatbotTesterError] = []
        var seen: Set<String> = []
        for (spec, name) in zip(specs, instanceNames(specs)) {
            let context = ComponentContext(instanceName: name, section: "evaluate.metrics")
            do { try registry.validate(spec, context: context) } catch { problems.append(.wrap(error)) }
            if !seen.insert(name).inserted {
                problems.append(
                    ChatbotTesterError(.invalidConfig, "two metrics are named '\(name)'", location: SourceLocation(field: context.fieldPath("name"))))
            }
        }
        return problems
    }

    /// The instance name of each spec: its `name`, else its type (suffixed `-2`, `-3`… when repeated).
    public static func instanceNames(_ specs: [ComponentSpec]) -> [String] {
        var counts: [String: Int] = [:]
        let explicit = Set(specs.compactMap { $0.options["name"]?.stringValue })
        return specs.map { spec in
            if let name = spec.options["name"]?.stringValue { return name }
            var candidate = spec.type
            repeat {
                counts[spec.type, default: 0] += 1
                let n = counts[spec.type]!
                candidate = n == 1 ? spec.type : "\(spec.type)-\(n)"
            } while explicit.contains(candidate)
            return candidate
        }
    }

    /// An empty aggregate listing this evaluator's metrics and gates.
    public func emptyAggregate() -> EvalAggregate {
        var aggregate = EvalAggregate(metrics: descriptors)
        aggregate.maxErrorRate = maxErrorRate
        return aggregate
    }

    /// Every metric's records for one run, in metric order. The metrics of one run are evaluated
    /// concurrently (so a sample with three judges waits for the slowest, not the sum). Never throws
    /// for a metric failure: it becomes an unmeasured record.
    public func evaluate(_ record: RunRecord) async -> [EvalRecord] {
        if let records = evaluateNow(record) { return records }
        return await withTaskGroup(of: (Int, [EvalRecord]).self) { group in
            for index in metrics.indices {
                let metric = metrics[index]
                let common = descriptors[index]
                group.addTask {
                    // Assigned in do/catch and returned once: Swift 6.3 with -O miscompiles
                    // `do { return (index, try await …) } catch { return (index, …) }` in a task-group
                    // child (the tuples arrive with a wrong index; seen only in release builds).
                    let records: [EvalRecord]
                    do {
                        records = try await metric.evaluate(record)
                    } catch {
                        records = [common.unmeasured(record, "metric failed: \(ChatbotTesterError.wrap(error).description)")]
                    }
                    return (index, records)
                }
            }
            var parts = [[EvalRecord]](repeating: [], count: metrics.count)
            for await (index, records) in group { parts[index] = records }
            return parts.flatMap { $0 }.map { $0.masked() }  // a judge may quote a key
        }
    }

    /// Evaluates a stream of runs with bounded concurrency; `onSample` sees results in input order.
    /// - Returns: the aggregate of everything evaluated.
    public func evaluate<Records: AsyncSequence & Sendable>(
        _ records: Records, onSample: (SampleEvaluation) async throws -> Void = { _ in }
    ) async throws -> EvalAggregate where Records.Element == RunRecord {
        var aggregate = emptyAggregate()
        events.emit(EvalStageChanged(started: true))
        if isSynchronous {
            // Deterministic metrics: scored inline, in order, without a task per record.
            for try await record in records {
                try Task.checkCancellation()
                let sample = SampleEvaluation(run: record, evals: evaluateNow(record) ?? [])
                aggregate.add(record, evals: sample.evals)
                emitCompleted(sample)
                try await onSample(sample)
            }
            events.emit(EvalStageChanged(started: false))
            return aggregate
        }
        let window = concurrency * 2
        try await withThrowingTaskGroup(of: (Int, SampleEvaluation).self) { group in
            var iterator = records.makeAsyncIterator()
            var submitted = 0
            var exhausted = false
            // Scored samples by submission order, until every earlier one is emitted.
            var ready = ReorderBuffer<SampleEvaluation>(limit: window, maxSpan: window)
            while true {
                while !exhausted, submitted - ready.next < window, submitted - ready.next - ready.count < concurrency {
                    guard let record = try await iterator.next() else {
                        exhausted = true
                        break
                    }
                    let index = submitted
                    group.addTask { (index, SampleEvaluation(run: record, evals: await self.evaluate(record))) }
                    submitted += 1
                }
                guard let (index, sample) = try await group.next() else { break }
                let inserted = ready.insert(sample, at: index)
                assert(inserted == .accepted, "fewer than `window` are submitted and not emitted")
                // A cancelled evaluation stops here: its half-made (unmeasured) records are not emitted.
                try Task.checkCancellation()
                while let next = ready.popNext() {
                    if let run = next.run { aggregate.add(run, evals: next.evals) }
                    emitCompleted(next)
                    try await onSample(next)
                }
            }
        }
        events.emit(EvalStageChanged(started: false))
        return aggregate
    }

    /// The progress event of one evaluated sample.
    func emitCompleted(_ sample: SampleEvaluation) {
        events.emit(Self.completed(sample))
    }

    /// The progress event of one evaluated sample (made on any task): what a worker that scores
    /// samples one at a time emits for each.
    public static func completed(_ sample: SampleEvaluation) -> EvalSampleCompleted {
        var failed: [String] = []
        var unmeasured: [String] = []
        // By index: no copy of each record (its strings retained and released) just to read two fields.
        let evals = sample.evals
        for index in evals.indices {
            if evals[index].passed == false { failed.append(evals[index].metric) }
            if evals[index].status == .unmeasured { unmeasured.append(evals[index].metric) }
        }
        return EvalSampleCompleted(sampleId: sample.sampleId, failed: failed, unmeasured: unmeasured)
    }
}
