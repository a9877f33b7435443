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
    /// Where the outputs were published when not in `outputDirectory` (an `s3://` URL).
    public var location: String?

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
    ///
    /// - Parameter stage: where the cases are played: this process (the default) or workers
    ///   (`ShardedRunStage`); outputs, stop rules and the exit status are the same either way.
    public func test(stage: any JobRunStage = LocalRunStage()) async throws -> JobOutcome {
        try await withOutputLock { try await withRemoteOutput(stage: stage) { try await testHoldingLock(stage: stage) } }
    }

    private func testHoldingLock(stage: any JobRunStage) async throws -> JobOutcome {
        try writeJobRecord()
        var outcome = JobOutcome(outputDirectory: outputDirectory)
        outcome.location = remote?.url
        let (dataset, generation) = try await datasetToRun()
        outcome.generation = generation
        let played = try await play(dataset: dataset, stage: stage, scoring: true)
        outcome.run = played.summary
        // An interrupted run stops here (everything recorded is kept); a budget or failure-policy
        // stop still evaluates what was recorded.
        if played.summary.stopReason == .cancelled || Task.isCancelled { return outcome }
        if let evaluation = played.evaluation {
            outcome.evaluation = evaluation
        } else if played.scored {
            events.emit(JobStageEvent(stage: "evaluate", started: true))
            outcome.evaluation = try await writeReports(results: output("results.jsonl"), evals: output("evals.jsonl"))
            events.emit(JobStageEvent(stage: "evaluate", started: false))
        } else {
            outcome.evaluation = try await evaluate(results: output("results.jsonl"))
        }
        return outcome
    }

    /// `run` alone: the dataset (`dataset`, else the config's or the generated one) played and
    /// written to `results.jsonl` and `run-summary.json`, without evaluation.
    public func runOnly(dataset: URL? = nil, stage: any JobRunStage = LocalRunStage()) async throws -> JobOutcome {
        try await withOutputLock { try await withRemoteOutput(stage: stage) { try await runOnlyHoldingLock(dataset: dataset, stage: stage) } }
    }

    private func runOnlyHoldingLock(dataset: URL?, stage: any JobRunStage) async throws -> JobOutcome {
        try writeJobRecord()
        var outcome = JobOutcome(outputDirectory: outputDirectory)
        outcome.location = remote?.url
        let url: URL
        if let dataset {
            url = dataset
        } else {
            (url, outcome.generation) = try await datasetToRun()
        }
        outcome.run = try await play(dataset: url, stage: stage, scoring: false).summary
        return outcome
    }

    /// The dataset the job plays: the config's `dataset`, or `dataset.jsonl` in the output directory
    /// generated now from the `generate:` section (resumed with `settings.resume`). Standard input
    /// (`dataset: -`) and FIFOs can be read once only, so they are first copied (under the same
    /// line limit, keeping line numbers) into `dataset.jsonl`. A remote dataset (`s3://…`) is
    /// read from its local copy (``fetchInputs()``); generated cases are published at once to a
    /// remote output, so a resumed run elsewhere finds them.
    public func datasetToRun() async throws -> (url: URL, generation: GenerationReport?) {
        guard generateSpec != nil else {
            if let dataset = config.dataset, RemoteLocation.isRemote(dataset.path) {
                try await fetchInputs()
                return (remoteDatasetCopy, nil)
            }
            let url = config.datasetURL()!
            guard Self.isStream(url) else { return (url, nil) }
            let copy = output("dataset.jsonl")
            try await Self.copyLines(from: url, to: copy, maxLineBytes: config.dataset?.lineLimit ?? JSONL.defaultMaxLineBytes)
            return (copy, nil)
        }
        let url = output("dataset.jsonl")
        let report = try await generate(to: url, resume: settings.resume)
        try await publishOutputs(only: ["dataset.jsonl"])
        return (url, report)
    }

    /// Whether `url` is a pipe, FIFO or terminal rather than a file that can be read twice.
    static func isStream(_ url: URL) -> Bool {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return false }
        let kind = info.st_mode & S_IFMT
        return kind == S_IFIFO || kind == S_IFSOCK || (kind == S_IFCHR && url.path == "/dev/stdin")
    }

    /// Copies the lines of a stream into `target`, blank lines kept so line numbers stay the same.
    static func copyLines(from url: URL, to target: URL, maxLineBytes: Int) async throws {
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let handle = try FileHandle.opening(target, for: .truncating)
        defer { try? handle.close() }
        var buffer = Data()
        var written = 0
        for try await (line, bytes) in JSONL.lines(of: url, maxLineBytes: maxLineBytes) {
            buffer.append(contentsOf: repeatElement(0x0A, count: line - written - 1))
            buffer.append(bytes)
            buffer.append(0x0A)
            written = line
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
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
        try await checkDataset(url, each: nil)
    }

    /// Checks a dataset file and counts the cases that will run, as `scanDataset(_:)` does, calling
    /// `each` with every case that will run, in order, in the same pass (while no bad line was
    /// found before it): a stage that stores the cases — the sharded run's spool — reads the
    /// file once. Throws listing the bad lines, or what `each` throws.
    public func checkDataset(_ url: URL, each: ((TestSample) throws -> Void)?) async throws -> Int {
        do {
            return try await Self.scanDataset(url, source: config.dataset, pass: { reader in try await reader.scan(each: each) })
        } catch {
            throw relabelInputs(error)
        }
    }

    /// `checkDataset(_:each:)` for a stage that keeps each case as written (the sharded run's
    /// spool): `each` gets the selected cases' lines (`DatasetReader.scanLines`), most of them
    /// checked at the byte level and not decoded. Same verdicts and messages.
    public func checkDatasetLines(_ url: URL, each: (JSONL.CaseLine) throws -> Void) async throws -> Int {
        do {
            return try await Self.scanDataset(url, source: config.dataset, pass: { reader in try await reader.scanLines(each: each) })
        } catch {
            throw relabelInputs(error)
        }
    }

    /// Emits the run stage's start event for `total` cases (what `JobRunStage.checkAndPlay`
    /// announces once the dataset is checked).
    public func announceRun(total: Int) {
        events.emit(JobStageEvent(stage: "run", started: true, detail: "\(total) cases against \(targetName)"))
    }

    /// Checks a dataset file with the limits of `source`; throws listing the bad lines.
    static func scanDataset(_ url: URL, source: DatasetSource?, each: ((TestSample) throws -> Void)? = nil) async throws -> Int {
        try await scanDataset(url, source: source, pass: { reader in try await reader.scan(each: each) })
    }

    /// Runs `pass` over the dataset's reader; throws listing the bad lines it found.
    private static func scanDataset(
        _ url: URL, source: DatasetSource?, pass: (DatasetReader) async throws -> DatasetReader.Scan
    ) async throws -> Int {
        let reader = DatasetReader(url: url, source: source)
        let scan: DatasetReader.Scan
        do {
            scan = try await pass(reader)
        } catch let error as ChatbotTesterError {
            throw error
        } catch let error as CancellationError {
            throw error
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

    /// Plays the dataset against the target in this process: journals every record, then writes
    /// `results.jsonl` (each id once, in dataset order) and `run-summary.json`.
    public func run(dataset: URL) async throws -> RunSummary {
        let stage = LocalRunStage()
        return try await withOutputLock { try await withRemoteOutput(stage: stage) { try await play(dataset: dataset, stage: stage, scoring: false).summary } }
    }

    /// Checks and counts the dataset, plays it on `stage`, writes `run-summary.json`.
    func play(dataset: URL, stage: any JobRunStage, scoring: Bool) async throws -> JobRunResult {
        let played = try await stage.checkAndPlay(job: self, dataset: dataset, scoring: scoring)
        let store = self.store
        let summary = played.summary
        try await Task { try await store.write(JSONCoding.encoder(pretty: true).encode(summary), to: "run-summary.json") }.value
        events.emit(JobStageEvent(stage: "run", started: false, detail: summary.stopReason.rawValue))
        return played
    }

    /// What a run played in one process leaves in the output directory for a resume: its journals.
    public static let inProcessRunState = [RunJournal.defaultKey, evalJournalKey]
    /// Where a run played over workers journals its records (in its spool).
    public static let shardedJournalKey = "spool/journal.jsonl"
    /// Where the workers of a run played over workers log their cases' events, one file each.
    public static let workerEventsDirectoryName = "events"
    /// What a run played over workers leaves there: its spool (journal included) and the workers'
    /// event logs.
    public static let shardedRunState = ["spool", workerEventsDirectoryName]

    /// Before a run plays: a fresh run removes what an earlier run left for a resume, whichever way
    /// it was played (else a later `--resume` in the other way would find the earlier run's
    /// journal: records of another job after `--overwrite`, stale worker logs beside new ones). A
    /// resume of a run played the other way — journaled over workers and resumed in one process,
    /// or the other way round — is handed to the stage (`JobRunStage.adoptRunState(playedTheOtherWay:)`),
    /// which takes the other way's records into its own journal; a stage that cannot is refused,
    /// naming the journal, before anything is played or removed. Both ways' journals at once (only
    /// a crash in the middle of such a hand-over leaves that) are refused too, naming both.
    ///
    /// Returns the journal key of the way whose records were taken over (nil when none were): a
    /// remote output drops it from the store once the taken-over journal is there.
    @discardableResult
    func prepareRunState(for stage: any JobRunStage) async throws -> String? {
        let manager = FileManager.default
        func exists(_ name: String) -> Bool { manager.fileExists(atPath: output(name).path) }
        guard settings.resume else {
            for name in Self.inProcessRunState + Self.shardedRunState where exists(name) { try manager.removeItem(at: output(name)) }
            return nil
        }
        let inProcess = exists(RunJournal.defaultKey)
        let sharded = exists(Self.shardedJournalKey) || exists("spool/manifest.json")
        if inProcess, sharded {
            throw ChatbotTesterError(
                .invalidInput,
                "the output directory holds the records of a run played in one process (\(RunJournal.defaultKey)) and of one played with --workers (spool/journal.jsonl): run it again without --resume, or remove the one not to continue",
                location: SourceLocation(source: outputDirectory.path))
        }
        guard stage.playsInThisProcess ? sharded : inProcess else { return nil }
        if try await stage.adoptRunState(playedTheOtherWay: self) {
            events.emit(
                LogEvent(
                    .info, "resuming a run played \(stage.playsInThisProcess ? "with --workers" : "in one process"): its records were taken over",
                    source: outputDirectory.path))
            return stage.playsInThisProcess ? Self.shardedJournalKey : RunJournal.defaultKey
        }
        if stage.playsInThisProcess {
            throw ChatbotTesterError(
                .invalidInput,
                "the run in the output directory was played with --workers (its records are in spool/journal.jsonl): resume it with --workers, or run it again without --resume",
                location: SourceLocation(source: output("spool").path))
        }
        throw ChatbotTesterError(
            .invalidInput,
            "the run in the output directory was played in one process (its records are in \(RunJournal.defaultKey)): resume it without --workers, or run it again without --resume",
            location: SourceLocation(source: output(RunJournal.defaultKey).path))
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
            },
            toolExecutors: { name in try await backends.chat(name) }, events: events, journal: journal)
    }

    /// Scores `results` with the job's metrics: `evals.jsonl` and every report. With
    /// `evaluate.baseline`, the reports also compare against that run.
    public func evaluate(results: URL) async throws -> EvalSummary {
        events.emit(JobStageEvent(stage: "evaluate", started: true))
        let options = reportOptions
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
        let digests = try digests()
        var record = config.document.recordFields
        record["source"] = .string(config.document.source)
        record["version"] = .string(ChatbotTesterCoreInfo.version)
        record["configDigest"] = .string(digests.config)
        if let dataset = digests.dataset { record["datasetDigest"] = .string(dataset) }
        let data = SecretMasker.shared.mask(try JSONCoding.encoder(pretty: true).encode(JSONValue.object(record)))
        try FileArtifactStore.atomicWrite(data, to: output("job.json"))
    }
}
