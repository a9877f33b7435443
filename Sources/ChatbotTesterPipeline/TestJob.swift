import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterGenerator
import ChatbotTesterRunner
import Foundation

/// A job ready to go: the config checked, backends and metrics built, the output directory chosen.
///
/// ```swift
/// let job = try await TestJob.prepare(config: config, components: .builtin(), settings: JobSettings(), events: bus)
/// let outcome = try await job.test()      // generate or read → run → evaluate → reports
/// exit(outcome.exitStatus)
/// ```
/// Every config problem is found before the first request: unknown types and options, a missing
/// target or simulator, metric specs, judge backends and secrets — reported all at once.
public struct TestJob: Sendable {
    public let config: JobConfig
    public let components: PipelineComponents
    public let settings: JobSettings
    public let events: EventBus
    /// The `run:` section, with command-line overrides.
    public let runOptions: RunnerOptions
    /// The backend instance played against.
    public let targetName: String
    /// The `evaluate:` section (no metrics when absent).
    public let evaluation: EvaluationConfig
    /// The `generate:` section, when cases are generated.
    public let generateSpec: GenerateSpec?
    /// The job's backends, built lazily and shared by every stage.
    public let backends: BackendSet
    /// Where every output file goes.
    public let outputDirectory: URL
    /// The metrics, built.
    public let evaluator: Evaluator

    /// Checks the config, builds the target, the simulator and the metrics (resolving their
    /// secrets), and creates the output directory. Throws one error listing every problem.
    public static func prepare(
        config: JobConfig, components: PipelineComponents, settings: JobSettings = JobSettings(), events: EventBus = EventBus()
    ) async throws -> TestJob {
        let parts = await assemble(config: config, components: components, settings: settings, events: events, requireSecrets: true)
        if !parts.problems.isEmpty { throw Self.combine(parts.problems, source: config.document.source) }
        let outputDirectory = parts.outputDirectory
        do {
            try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw ChatbotTesterError(.io, "cannot create the output directory", location: SourceLocation(source: outputDirectory.path), cause: error)
        }
        // The backends' state (response cache: replies the job paid for) is private to the user, in
        // one process and for the workers that share it. One that exists and is not private is left
        // as it is: a sharded run then gives each worker its own.
        if settings.stateDirectory == nil { _ = try? PrivateDirectory.verifyOrCreate(outputDirectory.appendingPathComponent(".state")) }
        return TestJob(
            config: config, components: components, settings: settings, events: events, runOptions: parts.runOptions,
            targetName: parts.targetName!, evaluation: parts.evaluation, generateSpec: parts.generateSpec, backends: parts.backends,
            outputDirectory: outputDirectory, evaluator: parts.evaluator!)
    }

    /// What `check` found: the problems `test` would stop on, and warnings.
    public struct CheckReport: Sendable {
        /// Every problem, each naming file, line and field; `test` refuses the job with `error`.
        public var problems: [any Error]
        /// Things that do not stop a check but would stop a run (unset secrets, unless required).
        public var warnings: [ChatbotTesterError]
        /// The one error `test` would throw for `problems` (nil when there are none).
        public var error: ChatbotTesterError?
    }

    /// Runs every check `test` runs before its first request — the same code as `prepare`, plus
    /// the scan of a dataset file — without creating any file. `chatbot-tester validate CONFIG`
    /// uses it. Unset secret references are warnings unless `requireSecrets`.
    public static func check(
        config: JobConfig, components: PipelineComponents, settings: JobSettings = JobSettings(), requireSecrets: Bool = false
    ) async -> CheckReport {
        let events = EventBus()
        let parts = await assemble(config: config, components: components, settings: settings, events: events, requireSecrets: requireSecrets)
        var problems = parts.problems
        if problems.isEmpty, parts.generateSpec == nil, let url = config.datasetURL(), !isStream(url) {
            do {
                _ = try await scanDataset(url, source: config.dataset)
            } catch {
                problems.append(error)
            }
        }
        await events.shutdown()
        return CheckReport(
            problems: problems, warnings: parts.warnings,
            error: problems.isEmpty ? nil : Self.combine(problems, source: config.document.source))
    }

    /// The parts of a job, built as far as the config allows, with every problem found.
    struct Parts {
        var problems: [any Error] = []
        var warnings: [ChatbotTesterError] = []
        var runOptions = RunnerOptions()
        var targetName: String?
        var evaluation = EvaluationConfig(metrics: [])
        var generateSpec: GenerateSpec?
        var backends: BackendSet
        var outputDirectory: URL
        var evaluator: Evaluator?
    }

    /// The checks and builds `prepare` and `check` share.
    static func assemble(
        config: JobConfig, components: PipelineComponents, settings: JobSettings, events: EventBus, requireSecrets: Bool
    ) async -> Parts {
        var problems: [any Error] = []
        var warnings: [ChatbotTesterError] = []
        func attempt<T>(_ body: () throws -> T?) -> T? {
            do { return try body() } catch {
                problems.append(config.document.locate(error))
                return nil
            }
        }
        /// A build failure: an unset secret is only a warning when secrets are not required.
        func building(_ error: any Error, locate: (any Error) -> any Error) {
            let located = locate(error)
            if !requireSecrets, let tester = located as? ChatbotTesterError, tester.code == .missingSecret {
                warnings.append(tester)
            } else {
                problems.append(located)
            }
        }

        var runOptions = attempt { try config.section("run", as: RunnerOptions.self) } ?? RunnerOptions()
        if let concurrency = settings.concurrency { runOptions.concurrency = concurrency }
        _ = attempt { try runOptions.validate(section: "run") }
        let evaluation = attempt { try config.section("evaluate", as: EvaluationConfig.self) } ?? EvaluationConfig(metrics: [])
        let generateSpec = attempt { () -> GenerateSpec? in
            guard let value = config.document.value["generate"], !value.isNull else { return nil }
            return try GenerateSpec.decode(value, field: "generate", source: config.document.source)
        }
        if let generateSpec {
            _ = attempt { try generateSpec.validate(backends: config.backends, baseDirectory: config.baseDirectory) }
        }
        if config.dataset == nil, !config.has("generate") {
            problems.append(
                ChatbotTesterError(
                    .invalidConfig, "the job needs a 'dataset' file or a 'generate' section", location: config.document.location(of: "")))
        }

        // The target: named, or the only backend.
        var targetName = runOptions.target
        if targetName == nil {
            if config.backends.names.count == 1 {
                targetName = config.backends.names[0]
            } else {
                problems.append(
                    ChatbotTesterError(
                        .invalidConfig, "run.target is required when the config has \(config.backends.names.count) backends",
                        location: config.document.location(of: "run")))
            }
        }
        var named = [("run.target", targetName), ("run.simulator", runOptions.simulator)]
        for (index, tool) in (runOptions.tools ?? []).enumerated() {
            if case .executor(let name) = tool.answer { named.append(("run.tools[\(index)].executor", name)) }
        }
        for (field, name) in named {
            if let name, config.backends[name] == nil {
                problems.append(
                    ChatbotTesterError(
                        .invalidConfig, "no backend named '\(name)' (configured: \(config.backends.names.joined(separator: ", ")))",
                        location: config.document.location(of: field)))
            }
        }
        if let baseline = evaluation.baseline {
            let url = Self.baselineEvals(baseline, config: config)
            if !FileManager.default.fileExists(atPath: url.path) {
                problems.append(
                    ChatbotTesterError(
                        .invalidConfig, "no baseline evaluations at \(url.path) (a run directory or its evals.jsonl)",
                        location: config.document.location(of: "evaluate.baseline")))
            }
        }
        let metricNames = Evaluator.instanceNames(evaluation.metrics)
        func locateMetric(_ error: any Error) -> any Error {
            config.document.locate(Self.indexMetricField(error, names: metricNames))
        }
        for error in Evaluator.validate(specs: evaluation.metrics, registry: components.metrics) {
            problems.append(locateMetric(error))
        }

        // Run-level middleware defaults reach the target; its own settings win.
        var registryConfig = config.backends
        if let targetName {
            var defaults: [String: JSONValue] = [:]
            if let timeout = runOptions.timeoutSeconds { defaults["timeoutSeconds"] = .double(timeout) }
            if let retries = runOptions.retries { defaults["retry"] = ["attempts": .int(max(0, retries) + 1)] }
            registryConfig = BackendMiddleware.applyingDefaults(defaults, to: targetName, in: registryConfig)
        }
        let outputDirectory = Self.outputDirectory(config: config, settings: settings)
        let backends = BackendSet(
            config: registryConfig, registry: components.backends, secrets: settings.secrets, events: events,
            stateDirectory: settings.stateDirectory ?? outputDirectory.appendingPathComponent(".state", isDirectory: true),
            wrapper: components.middleware, baseDirectory: config.baseDirectory)
        for name in registryConfig.names {
            let context = ComponentContext(instanceName: name, section: "backends", baseDirectory: config.baseDirectory)
            do { try components.backends.validate(registryConfig[name]!, context: context) } catch {
                problems.append(config.document.locate(error))
            }
        }
        var parts = Parts(
            runOptions: runOptions, targetName: targetName, evaluation: evaluation, generateSpec: generateSpec, backends: backends,
            outputDirectory: outputDirectory)
        guard problems.isEmpty else {
            parts.problems = problems
            return parts
        }

        // Build what the run needs now, so a missing secret fails before the first sample.
        do {
            _ = try await backends.chat(targetName!)
            if let simulator = runOptions.simulator { _ = try await backends.chat(simulator) }
        } catch {
            building(error, locate: config.document.locate)
        }
        do {
            parts.evaluator = try await Evaluator(
                config: evaluation, registry: components.metrics, backends: backends, secrets: settings.secrets, events: events)
        } catch {
            building(error, locate: locateMetric)
        }
        parts.problems = problems
        parts.warnings = warnings
        return parts
    }

    private init(
        config: JobConfig, components: PipelineComponents, settings: JobSettings, events: EventBus, runOptions: RunnerOptions,
        targetName: String, evaluation: EvaluationConfig, generateSpec: GenerateSpec?, backends: BackendSet, outputDirectory: URL,
        evaluator: Evaluator
    ) {
        self.config = config
        self.components = components
        self.settings = settings
        self.events = events
        self.runOptions = runOptions
        self.targetName = targetName
        self.evaluation = evaluation
        self.generateSpec = generateSpec
        self.backends = backends
        self.outputDirectory = outputDirectory
        self.evaluator = evaluator
    }

    /// `--out`, else the config's `output`, else `runs/<name or config file name>`.
    public static func outputDirectory(config: JobConfig, settings: JobSettings) -> URL {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let path =
            settings.outputDirectory ?? config.output
            ?? "runs/\(config.name ?? URL(fileURLWithPath: config.document.source).deletingPathExtension().lastPathComponent)"
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : cwd.appendingPathComponent(path).standardizedFileURL
    }

    /// The `evals.jsonl` a baseline names: a run directory or the file itself, relative to the config.
    static func baselineEvals(_ baseline: String, config: JobConfig) -> URL {
        var url = config.resolve(baseline)
        if url.pathExtension != "jsonl" { url.appendPathComponent("evals.jsonl") }
        return url
    }

    /// `evaluate.metrics.<name>.field` → `evaluate.metrics[i].field`, so the error finds its line.
    static func indexMetricField(_ error: any Error, names: [String]) -> any Error {
        guard var tester = error as? ChatbotTesterError, let field = tester.location?.field else { return error }
        let prefix = "evaluate.metrics."
        guard field.hasPrefix(prefix) else { return error }
        let rest = field.dropFirst(prefix.count)
        for (index, name) in names.enumerated() where rest == name || rest.hasPrefix(name + ".") {
            tester.location?.field = "evaluate.metrics[\(index)]" + rest.dropFirst(name.count)
            return tester
        }
        return error
    }

    static func combine(_ problems: [any Error], source: String) -> ChatbotTesterError {
        if problems.count == 1, let only = problems.first as? ChatbotTesterError { return only }
        let lines = problems.map { "  - \(ChatbotTesterError.wrap($0, code: .invalidConfig).description)" }
        return ChatbotTesterError(.invalidConfig, "\(problems.count) problems in \(source):\n" + lines.joined(separator: "\n"))
    }

    // MARK: Files

    /// `dataset.jsonl` (generated cases), `results.jsonl`, `evals.jsonl`, … in the output directory.
    public func output(_ name: String) -> URL { outputDirectory.appendingPathComponent(name) }

    /// The artifact store over the output directory.
    public var store: FileArtifactStore { FileArtifactStore(root: outputDirectory) }
}
