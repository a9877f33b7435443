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
    /// Whether each case's events (`run.sample.started`, `.completed`/`.failed`,
    /// `evaluate.sample.completed`) are emitted on the job's bus as cases finish, as one process's
    /// Runner and Evaluator emit them: a coordinated worker logging its events does; an indexed
    /// worker emits them itself, once it has journaled each record.
    public let emitsCaseEvents: Bool

    public init(job: TestJob, runner: Runner, scoring: Bool = true, emitsCaseEvents: Bool = false) {
        self.job = job
        self.runner = runner
        self.scoring = scoring
        self.emitsCaseEvents = emitsCaseEvents
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
                middleware: BackendMiddleware.make(environment: MiddlewareEnvironment(makeRateBudget: context.makeRateBudget, makeCircuitBreaker: context.makeCircuitBreaker)))
            var settings = JobSettings(outputDirectory: context.stateDirectory.path, concurrency: setup.job["concurrency"]?.intValue)
            // One response cache per job, shared by its workers: the coordinator's `.state` when this
            // worker can use it (same host, same user), else the worker's own.
            if let shared = setup.job["stateDirectory"]?.stringValue, let usable = Self.usableSharedState(shared) {
                settings.stateDirectory = usable
            }
            // Each case's events, as one process writes them to its events.jsonl: into this
            // worker's own log in the run's `events/` (same host), flushed when the worker exits.
            let eventsDirectory = Self.eventsDirectory(of: setup)
            if let eventsDirectory { Self.logEvents(of: context, in: eventsDirectory) }
            let job = try await TestJob.prepare(config: config, components: components, settings: settings, events: context.events)
            let scoring = setup.job["score"]?.boolValue ?? true
            return PipelineShardProcessor(
                job: job, runner: try await job.makeRunner(journal: nil), scoring: scoring, emitsCaseEvents: eventsDirectory != nil)
        }
    }

    public func process(_ samples: [IndexedSample], emit: @escaping @Sendable (ClusterRecord) async -> Void) async throws {
        let runner = runner, job = job, scoring = scoring, emitsCaseEvents = emitsCaseEvents
        // The coordinator bounds what this worker holds (its share of run.concurrency): play it all.
        await Self.emitConcurrently(samples, limit: samples.count, emit: emit) { item in
            // Each case's events, as one process's Runner and Evaluator emit them (no cost when
            // nothing listens: no event log, no display).
            let logging = emitsCaseEvents && job.events.hasSubscribers
            if logging { job.events.emit(RunSampleStartedEvent(sampleId: item.sample.id, index: item.index)) }
            let run = await runner.play(item.sample)
            let evals = scoring ? await job.evaluator.evaluate(run) : []
            if logging { Self.emitFinished(run: run, evals: evals, scoring: scoring, on: job.events) }
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
    /// Emits what one process emits when a case is recorded: `run.sample.completed` or
    /// `run.sample.failed`, then `evaluate.sample.completed` when it was scored. Nothing for a case
    /// a backend that is down refused (not data about the bot: it is played again, as one process
    /// does not record it either).
    static func emitFinished(run: RunRecord, evals: [EvalRecord], scoring: Bool, on events: EventBus) {
        guard RunStopReason.stopping(for: run.error) == nil else { return }
        if run.status == .ok {
            events.emit(RunSampleCompletedEvent(record: run))
        } else {
            events.emit(RunSampleFailedEvent(record: run))
        }
        if scoring { events.emit(Evaluator.completed(SampleEvaluation(run: run, evals: evals))) }
    }

    /// Where the workers of a sharded `test` log their cases' events: `events/` in the run's output
    /// directory, the parent of the shared state directory the setup names (`stateDirectory`,
    /// `<out>/.state`); nil for a setup without one (an SDK run, an indexed run). Derived rather
    /// than sent, so a spool written before workers logged events still resumes (its setup, and
    /// so its digest, is unchanged).
    static func eventsDirectory(of setup: ClusterJobSetup) -> URL? {
        guard let state = setup.job["stateDirectory"]?.stringValue, !state.isEmpty else { return nil }
        return URL(fileURLWithPath: state, isDirectory: true).deletingLastPathComponent()
            .appendingPathComponent(ShardedRunStage.eventsDirectoryName, isDirectory: true)
    }

    /// The file a worker logs its events to in a run's `events/` directory: its id (characters
    /// other than letters, digits, `.`, `_` and `-` as `_`), then its pid unless the id ends with
    /// it, so two workers never write one file.
    static func eventLogName(workerId: String, pid: Int32 = getpid()) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        var name = String(workerId.prefix(100).map { allowed.contains($0) ? $0 : "_" })
        if name.isEmpty || name.hasPrefix(".") { name = "worker" + name }
        if !name.hasSuffix("-\(pid)") { name += "-\(pid)" }
        return name + ".jsonl"
    }

    /// Subscribes a log of every event of `context`'s bus (`JSONLEventLogSink`: masked, as
    /// `events.jsonl` is) to `directory/<eventLogName>` when `directory`'s parent (the run's
    /// output directory) exists here; a worker on another host, or one that cannot write there,
    /// logs nothing and says so on its bus. The run goes on either way.
    static func logEvents(of context: ClusterWorkerContext, in directory: URL) {
        guard FileManager.default.fileExists(atPath: directory.deletingLastPathComponent().path) else { return }
        let url = directory.appendingPathComponent(eventLogName(workerId: context.workerId))
        do {
            context.events.subscribe(try JSONLEventLogSink(url: url))
        } catch {
            context.events.emit(LogEvent(.warning, "this worker's events are not logged: \(error)", source: url.path))
        }
    }

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
