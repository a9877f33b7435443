import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import ChatbotTesterRunner
import Foundation

/// The real job on a worker: the pipeline's Runner plays each case against the target, the
/// Evaluator scores it with the job's metrics — exactly what a single-process `run` + `evaluate`
/// does per sample, so merged results and summaries match it. A scored record carries its report
/// part (`ClusterReportPart`, `EvaluationOutput.reportPart(for:)`): the rows and numbers the
/// reports read, so the coordinator's merge does not decode it.
///
/// The worker rebuilds the `TestJob` from the job config it receives in `welcome` (secrets stay
/// `{env: NAME}` references, resolved in the worker's own environment) with the registry of the
/// executable hosting it.
public struct PipelineShardProcessor: ShardProcessor {
    public let job: TestJob
    public let runner: Runner
    /// Whether each record is scored with the job's metrics (`test`), or only played (`run`).
    public let scoring: Bool

    public init(job: TestJob, runner: Runner, scoring: Bool = true) {
        self.job = job
        self.runner = runner
        self.scoring = scoring
    }

    /// The factory workers use: rebuilds the job with `registry` (the host's backend types) and
    /// `metrics` (its metric types), with rate budgets granted by the coordinator.
    public static func factory(metrics: MetricRegistry = .builtinMetrics) -> ShardProcessorFactory {
        { setup, registry, context in
            guard let value = setup.job["config"], value.objectValue != nil else {
                throw ChatbotTesterError(.proto, "the welcome carries no job config (job.config)", location: SourceLocation(field: "job.config"))
            }
            // `${VAR}` expansions arrive unexpanded: this worker expands them in its own environment.
            let document = try ConfigDocument.recorded(setup.job, source: setup.job["source"]?.stringValue ?? "<coordinator>")
            let base = setup.job["baseDirectory"]?.stringValue.map { URL(fileURLWithPath: $0) }
                ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let config = try JobConfig(document: document, baseDirectory: base)
            let components = PipelineComponents(
                backends: registry, metrics: metrics,
                middleware: BackendMiddleware.make(environment: MiddlewareEnvironment(makeRateBudget: context.makeRateBudget)))
            var settings = JobSettings(outputDirectory: context.stateDirectory.path, concurrency: setup.job["concurrency"]?.intValue)
            // One response cache per job, shared by its workers: the coordinator's `.state` when this
            // worker can use it (same host, same user), else the worker's own.
            if let shared = setup.job["stateDirectory"]?.stringValue, let usable = Self.usableSharedState(shared) {
                settings.stateDirectory = usable
            }
            let job = try await TestJob.prepare(config: config, components: components, settings: settings, events: context.events)
            let scoring = setup.job["score"]?.boolValue ?? true
            return PipelineShardProcessor(job: job, runner: try await job.makeRunner(journal: nil), scoring: scoring)
        }
    }

    public func process(_ samples: [IndexedSample], emit: @escaping @Sendable (ClusterRecord) async -> Void) async throws {
        let runner = runner, job = job, scoring = scoring
        // The coordinator bounds what this worker holds (its share of run.concurrency): play it all.
        await Self.emitConcurrently(samples, limit: samples.count, emit: emit) { item in
            let run = await runner.play(item.sample)
            let evals = scoring ? await job.evaluator.evaluate(run) : []
            var record = ClusterRecord(sampleId: item.sample.id, index: item.index, run: run, evals: evals)
            // What the reports read of it, made here so the coordinator's merge need not decode it.
            if scoring, let body = EvaluationOutput.reportPart(for: SampleEvaluation(run: run, evals: evals)) {
                record.reportPart = ClusterReportPart.make(sampleId: item.sample.id, index: item.index, run: run, body: body)
            }
            return record
        }
    }
}

extension PipelineShardProcessor {
    /// The coordinator's shared state directory when this worker can use it: its parent exists
    /// here (same host) and it is a private directory of this user (`PrivateDirectory`, Core).
    static func usableSharedState(_ path: String) -> URL? {
        let url = URL(fileURLWithPath: path, isDirectory: true)
        guard FileManager.default.fileExists(atPath: url.deletingLastPathComponent().path) else { return nil }
        return try? PrivateDirectory.verifyOrCreate(url)
    }
}

extension ClusterJobSetup {
    /// The setup for running a pipeline job config on workers: its backends and the config itself,
    /// exactly as written. Secrets travel as `{env: NAME}` / `{file: PATH}` references and `${VAR}`
    /// expansions unexpanded (with `expansions` saying where they are), so each worker resolves and
    /// expands them in its own environment; every other value reaches the workers byte for byte.
    public static func pipeline(config: JobConfig, concurrency: Int? = nil) throws -> ClusterJobSetup {
        var job = config.document.recordFields
        job["processor"] = "pipeline"
        job["source"] = .string(config.document.source)
        job["baseDirectory"] = .string(config.baseDirectory.path)
        if let concurrency { job["concurrency"] = .int(concurrency) }
        // The coordinator reads only the shared rate limits from `registry`; those (never secret)
        // travel expanded so it can enforce them, everything else as written.
        var backends = try config.document.asWritten["backends"].map { try $0.decode(RegistryConfig.self) } ?? RegistryConfig()
        for name in backends.names {
            if let limits = config.backends[name]?.options["rateLimit"] { backends[name]?.options["rateLimit"] = limits }
        }
        return ClusterJobSetup(registry: backends, job: .object(job))
    }
}

/// Picks the processor named by the job spec's `processor` key: `pipeline` (the default, the
/// full Runner + Evaluator) or one of `others` (a host's own processors, by name).
public enum ClusterProcessors {
    public static func factory(metrics: MetricRegistry = .builtinMetrics, others: [String: ShardProcessorFactory] = [:]) -> ShardProcessorFactory {
        let pipeline = PipelineShardProcessor.factory(metrics: metrics)
        return { setup, registry, context in
            let name = setup.job["processor"]?.stringValue ?? "pipeline"
            if name == "pipeline" { return try await pipeline(setup, registry, context) }
            guard let other = others[name] else {
                let known = (["pipeline"] + others.keys.sorted()).joined(separator: ", ")
                throw ChatbotTesterError(.invalidConfig, "unknown processor '\(name)' (\(known))", location: SourceLocation(field: "job.processor"))
            }
            return try await other(setup, registry, context)
        }
    }
}
