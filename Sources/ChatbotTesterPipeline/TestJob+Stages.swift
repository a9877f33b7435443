import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterGenerator
import ChatbotTesterRunner
import Foundation

/// What a job produced, and the exit status it earns.
public struct JobOutcome: Sendable {
    public var outputDirectory: URL
    /// Set when the cases were generated.
    public var generation: GenerationReport?
    public var run: RunSummary?
    public var evaluation: EvalSummary?

    public init(outputDirectory: URL, generation: GenerationReport? = nil, run: RunSummary? = nil, evaluation: EvalSummary? = nil) {
        self.outputDirectory = outputDirectory
        self.generation = generation
        self.run = run
        self.evaluation = evaluation
    }

    /// 0 every threshold passed, 1 a threshold failed (or, with no metric configured, a case
    /// errored), 3 the run was aborted (budget, failure policy, interrupt).
    public var exitStatus: Int32 {
        if let run, run.stopReason.isAborted { return 3 }
        if let evaluation, !evaluation.passed { return 1 }
        if let run, run.statistics.error > 0, evaluation?.gates.isEmpty ?? true { return 1 }
        return 0
    }
}

/// A job stage beginning or ending, for the CLI to show.
public struct JobStageEvent: TesterEvent {
    public static let kind = "job.stage"
    public var stage: String
    public var started: Bool
    public var detail: String?

    public init(stage: String, started: Bool, detail: String? = nil) {
        self.stage = stage
        self.started = started
        self.detail = detail
    }
}

extension TestJob {
    /// The whole pipeline: the dataset (or generation), the run, the evaluation and every report.
    public func test() async throws -> JobOutcome {
        try writeJobRecord()
        var outcome = JobOutcome(outputDirectory: outputDirectory)
        let (dataset, generation) = try await datasetToRun()
        outcome.generation = generation
        let summary = try await run(dataset: dataset)
        outcome.run = summary
        // An interrupted run stops here (everything recorded is kept); a budget or failure-policy
        // stop still evaluates what was recorded.
        if summary.stopReason == .cancelled || Task.isCancelled { return outcome }
        outcome.evaluation = try await evaluate(results: output("results.jsonl"))
        return outcome
    }

    /// The dataset the job plays: the config's `dataset`, or `dataset.jsonl` in the output directory
    /// generated now from the `generate:` section (resumed with `settings.resume`).
    public func datasetToRun() async throws -> (url: URL, generation: GenerationReport?) {
        guard generateSpec != nil else { return (config.datasetURL()!, nil) }
        let url = output("dataset.jsonl")
        return (url, try await generate(to: url, resume: settings.resume))
    }

    /// Generates the cases of the `generate:` section into `url`.
    public func generate(to url: URL, resume: Bool = false) async throws -> GenerationReport {
        guard let generateSpec else {
            throw ChatbotTesterError(.invalidConfig, "the config has no 'generate' section", location: config.document.location(of: ""))
        }
        events.emit(JobStageEvent(stage: "generate", started: true))
        let generator = Generator(spec: generateSpec, backends: backends, events: events, baseDirectory: config.baseDirectory)
        let report: GenerationReport
        do {
            report = try await generator.write(to: url, resume: resume)
        } catch {
            throw config.document.locate(error)
        }
        events.emit(JobStageEvent(stage: "generate", started: false, detail: url.path))
        return report
    }

    /// Checks a dataset file and counts the cases that will run; throws listing the bad lines.
    public func scanDataset(_ url: URL) async throws -> Int {
        let reader = DatasetReader(url: url, limit: config.dataset?.limit, tags: config.dataset?.tags)
        let scan: DatasetReader.Scan
        do {
            scan = try await reader.scan()
        } catch {
            throw ChatbotTesterError(.invalidInput, "cannot read the dataset", location: SourceLocation(source: url.path), cause: error)
        }
        guard scan.invalid == 0 else {
            var lines = scan.errors.map { "  - \($0.description)" }
            if scan.invalid > scan.errors.count { lines.append("  - … and \(scan.invalid - scan.errors.count) more") }
            throw ChatbotTesterError(
                .invalidInput, "\(scan.invalid) invalid line\(scan.invalid == 1 ? "" : "s") in \(url.path) (fix them, or check with `chatbot-tester validate`):\n"
                    + lines.joined(separator: "\n"))
        }
        return scan.selected
    }

    /// Plays the dataset against the target: journals every record, then writes `results.jsonl`
    /// (each id once, in dataset order) and `run-summary.json`.
    public func run(dataset: URL) async throws -> RunSummary {
        let total = try await scanDataset(dataset)
        events.emit(JobStageEvent(stage: "run", started: true, detail: "\(total) cases against \(targetName)"))
        let runner = try await makeRunner(journal: RunJournal(store: store))
        let reader = DatasetReader(url: dataset, limit: config.dataset?.limit, tags: config.dataset?.tags)
        let summary = try await runner.runAll(reader.samples(), resume: settings.resume, total: total)
        // Finish the files even when the run was interrupted: a fresh task does not inherit the
        // cancellation, so the journal is read to the end.
        let store = self.store
        try await Task {
            try await ResultsWriter.write(store: store, to: "results.jsonl")
            try await store.write(JSONCoding.encoder(pretty: true).encode(summary), to: "run-summary.json")
        }.value
        events.emit(JobStageEvent(stage: "run", started: false, detail: summary.stopReason.rawValue))
        return summary
    }

    /// A runner for this job's target (used by `run` and by cluster workers).
    public func makeRunner(journal: RunJournal?) async throws -> Runner {
        let target = try await backends.chat(targetName)
        let backends = self.backends
        let defaultSimulator = runOptions.simulator
        let document = config.document
        return Runner(
            target: target, targetName: targetName, options: runOptions,
            simulators: { name in
                guard let name = name ?? defaultSimulator else {
                    throw ChatbotTesterError(
                        .invalidConfig, "a scenario case needs a simulated user: set run.simulator or the case's scenario.simulator",
                        location: document.location(of: "run.simulator"))
                }
                return try await backends.chat(name)
            }, events: events, journal: journal)
    }

    /// Scores `results` with the job's metrics: `evals.jsonl` and every report. With
    /// `evaluate.baseline`, the reports also compare against that run.
    public func evaluate(results: URL) async throws -> EvalSummary {
        events.emit(JobStageEvent(stage: "evaluate", started: true))
        let options = ReportOptions(title: config.name ?? "chatbot-tester", htmlSampleCap: evaluation.htmlSampleCap)
        let baselineEvals = evaluation.baseline.map { Self.baselineEvals($0, config: config) }
        let outcome = try await evaluator.evaluateFile(
            results: results, outputDirectory: outputDirectory, options: options, baselineEvals: baselineEvals)
        events.emit(JobStageEvent(stage: "evaluate", started: false))
        return outcome.summary
    }

    /// Writes `job.json`: the config exactly as written — secrets as `{env: NAME}` / `{file: PATH}`
    /// references, `${VAR}` expansions unexpanded (with the list of variables it uses) — for
    /// reproducibility. A literal credential is refused when the config is loaded, so none can be here.
    public func writeJobRecord() throws {
        var record = config.document.recordFields
        record["source"] = .string(config.document.source)
        record["version"] = .string(ChatbotTesterCoreInfo.version)
        let data = SecretMasker.shared.mask(try JSONCoding.encoder(pretty: true).encode(JSONValue.object(record)))
        try FileArtifactStore.atomicWrite(data, to: output("job.json"))
    }
}
