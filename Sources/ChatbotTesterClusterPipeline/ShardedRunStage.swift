import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import ChatbotTesterRunner
import Foundation

/// Plays a job's cases sharded over worker processes: the dataset is spooled into `<out>/spool`
/// (the workers start meanwhile), a coordinator serves it over a Unix socket, workers play and
/// score each case (`PipelineShardProcessor`), and `results.jsonl`, `evals.jsonl` and the reports
/// (one process's report code, fed sample by sample) are written as the coordinator journals the
/// records (`StreamedClusterOutput`) — or, on a resume and the other cases that output cannot
/// give exactly, merged from the journal at the end (`MergePass`).
///
/// Pass it to `TestJob.test(stage:)` / `runOnly(stage:)`: everything else — `job.json`, stop rules,
/// reports, `run-summary.json`, exit status — is the job's one code path, so a sharded run keeps
/// every promise of a single-process run:
/// - `run.concurrency` bounds the samples in flight for the whole run, split across the workers;
/// - `run.budgetUSD` and `run.failurePolicy` count every record of the run at the coordinator and
///   stop it the same way (no new samples, those in flight finish, exit 3, `--resume` continues);
/// - cancelling the task (Ctrl-C, SIGTERM) stops starting samples, lets those in flight finish
///   (for up to `stopGrace` seconds) and keeps the journal;
/// - workers share the job's response cache (`<out>/.state`).
///
/// ```swift
/// let job = try await TestJob.prepare(config: config, components: .builtin(), settings: settings, events: bus)
/// let outcome = try await job.test(stage: ShardedRunStage(workers: 4))
/// ```
/// `workers` processes are started from `workerCommand` (by default this very executable with
/// `worker`: a user's own executable must answer `worker --connect PATH` through
/// `ClusterWorkerHost.run`). With `workers: 0` no worker is started: workers started on their own
/// connect to `socketPath` (the `coordinator` command).
public struct ShardedRunStage: JobRunStage {
    public var workers: Int
    public var workerCommand: ClusterRun.WorkerCommand
    /// The socket; a private one under the spool when `nil` (required with `workers: 0`).
    public var socketPath: String?
    /// The spool directory (default `<out>/spool`).
    public var spool: URL?
    /// Samples per shard file at most (default `ClusterSpoolWriter.defaultSamplesPerShard`, 1,024).
    public var samplesPerShard: Int
    /// About the most bytes a shard file holds (default `ClusterSpoolWriter.defaultMaxShardBytes`,
    /// 1 MiB; `nil`: no limit). Shards are spool files only: the coordinator hands out samples one
    /// slot at a time from any shard, so their size never holds a worker's samples back.
    public var maxShardBytes: Int?
    /// Times a dead worker is started again, per worker slot; when every slot has used them up the
    /// run stops with exit 3 (what was recorded is kept).
    public var maxRestarts: Int
    /// Seconds without a heartbeat before a worker counts as lost.
    public var heartbeatTimeout: Double
    /// After an interrupt, seconds the samples in flight may take to finish.
    public var stopGrace: Double
    /// Whether a fresh run writes `results.jsonl`, `evals.jsonl` and its reports while it plays,
    /// from each record as the coordinator journals it (the default), instead of merging the
    /// journal after the run. Either way the files are the same, byte for byte; `false` is for
    /// comparing the two.
    public var streamsOutputs = true
    /// Whether samples are handed out while the dataset is still being read and spooled (each
    /// shard as it is committed), instead of once the whole dataset is checked and spooled (the
    /// default). Earlier first results, but a bad line late in the file is found after the
    /// shards before it were played — unlike one process, which refuses a dataset before playing
    /// any of it; so it is opt-in (the default keeps the one-semantics rule).
    public var playsWhileSpooling = false
    /// The streamed output's waiting bound (tests); nil: `StreamedOutputDirectory.waitingLimit`.
    var streamedWaitingLimit: Int?
    /// `ClusterCoordinator.Options.earlyLineRecords`: the workers write the lines of the dataset's
    /// complete prefix while the run plays once it holds this many records not yet ordered; nil:
    /// `earlyLineRecordsVariable` when set, else the coordinator's default (16,384).
    public var earlyLineRecords: Int?
    /// The environment variable that sets `earlyLineRecords` (a whole number, 0: only at the end).
    public static let earlyLineRecordsVariable = "CHATBOT_TESTER_EARLY_LINE_RECORDS"

    /// `earlyLineRecordsVariable` in `environment`; nil when unset. A value that is not a whole
    /// number from 0 on is a config error naming the variable.
    static func earlyLineRecords(environment: [String: String]) throws -> Int? {
        guard let text = environment[earlyLineRecordsVariable] else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
            throw ChatbotTesterError(
                .invalidConfig, "\(earlyLineRecordsVariable) must be a whole number from 0 on, not '\(text.prefix(40))'",
                location: SourceLocation(field: earlyLineRecordsVariable))
        }
        return value
    }
    /// Whether the workers write `results.jsonl` and `evals.jsonl` at the end of a run whose outputs
    /// stream (protocol 11), instead of the coordinator copying every line as it is journaled.
    var workersWriteLines = true
    /// Whether, with `workersWriteLines`, the workers also make the reports' pieces of a scored run
    /// (protocol 12), instead of the coordinator reading every record's report part.
    var workersMakeReports = true

    public init(
        workers: Int, workerCommand: ClusterRun.WorkerCommand = .currentExecutable, socketPath: String? = nil, spool: URL? = nil,
        samplesPerShard: Int = ClusterSpoolWriter.defaultSamplesPerShard, maxShardBytes: Int? = ClusterSpoolWriter.defaultMaxShardBytes,
        maxRestarts: Int = 3, heartbeatTimeout: Double = 15, stopGrace: Double = 10
    ) {
        self.workers = max(0, workers)
        self.workerCommand = workerCommand
        self.socketPath = socketPath
        self.spool = spool
        self.samplesPerShard = max(1, samplesPerShard)
        self.maxShardBytes = maxShardBytes.map { max(1, $0) }
        self.maxRestarts = max(0, maxRestarts)
        self.heartbeatTimeout = heartbeatTimeout
        self.stopGrace = stopGrace
    }

    public func play(job: TestJob, dataset: URL, total: Int, scoring: Bool) async throws -> JobRunResult {
        try await run(job: job, dataset: dataset, scoring: scoring, announces: false)
    }

    /// Checks the dataset in the pass that writes the spool (one read of the file, while the
    /// workers start), refusing what `TestJob.scanDataset(_:)` refuses, with the same message;
    /// the run is announced once the pass has counted the cases.
    public func checkAndPlay(job: TestJob, dataset: URL, scoring: Bool) async throws -> JobRunResult {
        try await run(job: job, dataset: dataset, scoring: scoring, announces: true)
    }

    private func run(job: TestJob, dataset: URL, scoring: Bool, announces: Bool) async throws -> JobRunResult {
        let spoolURL = spool ?? job.output("spool")
        // A spool outside the output directory is locked too (the output directory's lock is held
        // by the job); its lock file stays when a fresh run clears the spool.
        let spoolLock = try spool.map { try OutputDirectoryLock.acquire($0) }
        defer { spoolLock?.release() }
        // Removes the spool (but the lock file of one outside the output directory).
        let clearSpool = { [spoolLock] in
            guard FileManager.default.fileExists(atPath: spoolURL.path) else { return }
            if spoolLock == nil {
                try FileManager.default.removeItem(at: spoolURL)
            } else {
                for item in try FileManager.default.contentsOfDirectory(atPath: spoolURL.path) where item != OutputDirectoryLock.fileName {
                    try FileManager.default.removeItem(at: spoolURL.appendingPathComponent(item))
                }
            }
        }
        if !job.settings.resume { try clearSpool() }
        // A spool this run starts and cannot finish (a dataset refused by the pass that writes it,
        // say) is removed: a refused dataset leaves nothing, as in one process. A journal to
        // resume (a remote output's, restored) is kept.
        let spoolWasThere =
            ClusterSpool.exists(at: spoolURL) || FileManager.default.fileExists(atPath: spoolURL.appendingPathComponent("journal.jsonl").path)
        // The spool is written while the workers start (`ClusterRun.run(streaming:)`): they are
        // welcomed and build their jobs meanwhile, and play its first shards meanwhile only with
        // `playsWhileSpooling`; otherwise the shards are handed out once every line is checked,
        // while the spool's files are made durable.
        let announce: @Sendable (Int) -> Void = { total in job.announceRun(total: total) }
        let checked = announces ? announce : nil
        let samplesPerShard = samplesPerShard, maxShardBytes = maxShardBytes, minShards = max(1, workers)
        let streams = playsWhileSpooling
        let prepare: @Sendable (@escaping @Sendable (ClusterSpool) -> Void) async throws -> ClusterSpool = { started in
            // Shards are written as they fill, whether or not they are played meanwhile.
            let spool = try await ClusterRun.spool(
                job: job, dataset: dataset, at: spoolURL, setup: try ClusterRun.workersSetup(job: job, scoring: scoring),
                samplesPerShard: samplesPerShard, maxShardBytes: maxShardBytes, minShards: minShards, cutsAsItGoes: true, checked: checked,
                started: started, holdsShards: !streams)
            // The dataset pass's id set (~28 bytes a case) is freed: its pages go back before the
            // run (and a resume's merge) would peak on top of them.
            FreedMemory.release()
            return spool
        }
        let concurrency = job.runOptions.concurrency
        let machine = CoordinatorStateMachine.Configuration(
            heartbeatTimeout: heartbeatTimeout, concurrency: concurrency, expectedWorkers: workers, stopGrace: stopGrace,
            prefetch: CoordinatorStateMachine.Configuration.prefetch(concurrency: concurrency, workers: workers))
        // The journal is fsync'd as the Runner's is (`run.syncIntervalSeconds`): a crash loses at
        // most that much, which a resume plays again.
        var coordinator = ClusterCoordinator.Options(machine: machine, journalSyncInterval: max(0.02, job.runOptions.syncIntervalSeconds))
        coordinator.retryErrors = job.settings.retryErrors
        if let early = try earlyLineRecords ?? Self.earlyLineRecords(environment: ProcessInfo.processInfo.environment) {
            coordinator.earlyLineRecords = early
        }
        // A fresh run writes its outputs as records are journaled (a resumed one has records in the
        // journal from earlier sessions; a baseline comparison is labelled with the directory).
        let streamed =
            job.settings.resume || job.evaluation.baseline != nil || !streamsOutputs
            ? nil
            : try await StreamedClusterOutput(
                job: job, scoring: scoring, limit: streamedWaitingLimit ?? StreamedOutputDirectory.waitingLimit(concurrency: concurrency),
                workersWriteLines: workersWriteLines, workersMakeReports: workersMakeReports)
        // What a crashed session left of its streamed output is never used (the journal holds the records).
        if streamed == nil { StreamedOutputDirectory.removeLeftover(in: job.outputDirectory) }
        coordinator.journalSink = streamed
        // The outputs come from the sink: no index of the whole journal is held for a merge that
        // is then rare (an interrupt, a sink that gave up) and scans instead.
        coordinator.keepsJournalIndex = streamed == nil
        // Nor a side file of the records' report parts: the sink takes them as the run plays.
        coordinator.keepsReportParts = streamed == nil
        // Workers that can open the journal append their records to it themselves: the coordinator
        // reads the lines back for the sink instead of receiving, checking and appending them.
        coordinator.recordsJournaledByWorkers = streamed != nil
        let options = ClusterRun.Options(
            workers: workers, spool: spoolURL, socketPath: socketPath, workerCommand: workerCommand,
            samplesPerShard: samplesPerShard, coordinator: coordinator, maxRestartsPerWorker: maxRestarts)
        let limits = RunLimits(budgetUSD: job.runOptions.budgetUSD, failurePolicy: job.runOptions.failurePolicy)
        let outcome: ClusterOutcome
        job.events.emit(LogEvent(
            .debug, "each worker logs its cases' events (run.sample.*, evaluate.sample.*) to \(Self.eventsDirectoryName)/<worker>.jsonl",
            source: job.output(Self.eventsDirectoryName).path))
        do {
            outcome = try await ClusterRun.run(streaming: prepare, options: options, limits: limits, events: job.events)
        } catch {
            await streamed?.abandon("the run failed")
            if !spoolWasThere && !ClusterSpool.exists(at: spoolURL) { try? clearSpool() }
            throw error
        }
        // Merge even after a stop: a fresh task does not inherit the cancellation. A scored run that
        // was not interrupted gets its reports from the same pass (as one process writes them from
        // its journals); an interrupted one stops at the merged files, as one process does.
        let interrupted = outcome.stats.stopReason == .cancelled || Task.isCancelled
        if coordinator.recordsJournaledByWorkers {
            job.events.emit(LogEvent(
                .debug, "the workers appended \(outcome.stats.journaledByWorkers) of the \(outcome.stats.journaled - outcome.stats.resumed) records journaled to the journal themselves",
                source: "cluster.journal"))
            job.events.emit(LogEvent(
                .debug, "the workers read \(outcome.stats.assignedByReference) of the samples handed out from the spool's shards themselves (assigned by reference)",
                source: "cluster.assign"))
        }
        let (evaluation, merged) = try await Task { () -> (EvalSummary?, MergePass?) in
            if let streamed {
                if interrupted {
                    await streamed.abandon("the run was interrupted")
                } else if let written = try await streamed.finish(expected: outcome.stats.journaled) {
                    if let pieces = written.pieces {
                        let here = pieces.recordsMadeHere == 0 ? "" : "; the coordinator made those of \(pieces.recordsMadeHere) records itself"
                        let by = pieces.byWorker ? Self.reportsByWorkerMessage : "the coordinator put them together into the reports"
                        job.events.emit(LogEvent(
                            .debug, "\(Self.piecesMessage) (\(pieces.summaries) summaries)\(here); \(by)", source: Self.reportsSource))
                    }
                    job.events.emit(LogEvent(.debug, Self.streamedMessage, source: Self.outputSource))
                    return (written.evaluation, nil)
                }
                job.events.emit(LogEvent(.debug, "\(Self.mergedMessage): \(streamed.abandonReason ?? "?")", source: Self.outputSource))
            }
            let pass = try await Self.merge(
                outcome.spool, job: job, scoring: scoring, reports: scoring && !interrupted, counted: outcome.stats.recordedIndexes)
            return (pass.evaluation, pass)
        }.value
        // The statistics were summed at the coordinator as records were journaled (and read from the
        // journal for earlier sessions), as the Runner sums them: results.jsonl is not read again.
        // Duplicate ids are refused before a run starts in every mode, so `duplicates` is 0 here as
        // in one process.
        let stats = outcome.stats
        var totals = stats.totals
        var played = stats.journaled - stats.resumed
        if let merged, merged.uncountedRecords > 0 {
            // Lines the journal holds and the coordinator did not count (a worker's, appended as the
            // run stopped or the worker was lost): merged into results.jsonl, so counted here too.
            totals.merge(merged.uncounted)
            played += merged.uncountedRecords
            job.events.emit(LogEvent(
                .warning,
                "\(merged.uncountedRecords) record(s) a worker appended to the journal were not counted when the run ended; they are merged and counted",
                source: Self.outputSource))
        }
        let summary = RunSummary(
            target: job.targetName, stopReason: stats.stopReason, statistics: totals.statistics, resumed: stats.resumed,
            skipped: stats.resumed, duplicates: 0, abandoned: stats.abandoned, played: played,
            durationSeconds: outcome.seconds, budgetUSD: job.runOptions.budgetUSD, errorExamples: totals.errorExamples,
            keptErrors: stats.keptErrors)
        return JobRunResult(summary: summary, scored: scoring, evaluation: evaluation)
    }

    /// Where in the output directory each worker logs its cases' events
    /// (`events/<worker id>-<pid>.jsonl`; one process writes them to `events.jsonl`).
    public static let eventsDirectoryName = TestJob.workerEventsDirectoryName

    /// Over workers: a resume continues the spool's journal (see `JobRunStage.playsInThisProcess`).
    public var playsInThisProcess: Bool { false }

    /// The source of the debug event that says how the outputs were written.
    static let outputSource = "cluster.output"
    /// The source of the debug event that says the workers made the reports' pieces.
    static let reportsSource = "cluster.reports"
    /// How the `reportsSource` event ends when a worker made the reports (protocol 13).
    static let reportsByWorkerMessage = "a worker put them together into the reports"
    /// The start of its message.
    static let piecesMessage = "the workers made the reports' pieces of their records"
    /// The event's message when the outputs were written while the run played.
    static let streamedMessage = "results, evaluations and reports were written while the run played"
    /// The start of its message when they were merged from the journal, followed by why.
    static let mergedMessage = "the outputs are merged from the journal"

    /// Merges the journal into `results.jsonl` (and `evals.jsonl` when `scoring`) and, with
    /// `reports`, feeds each merged sample to the job's `evaluationOutput` (see ``MergePass``).
    static func merge(_ spool: ClusterSpool, job: TestJob, scoring: Bool, reports: Bool, counted: IndexSet) async throws -> MergePass {
        try await MergePass.run(spool, job: job, scoring: scoring, reports: reports, tallies: false, counted: counted)
    }
}

/// The one pass that ends a sharded `test` and an indexed run's `merge`: the journal is merged
/// into `results.jsonl` (and `evals.jsonl`) by byte ranges and each merged sample — from the report
/// part its worker sent (kept in `journal.parts`), else its run and evaluations decoded once from
/// the bytes just copied — feeds the job's `evaluationOutput`, the
/// code that writes one process's reports, and (with `tallies`) the run statistics and one
/// example message per error code. The aggregate, `summary.json`, every report and the run's
/// totals come out of this one pass: nothing is read back.
struct MergePass {
    /// Samples merged.
    var merged = 0
    /// The reports' summary; nil when no reports were asked for or a merged line does not decode
    /// as a record (the caller then writes the reports from the files).
    var evaluation: EvalSummary?
    /// With `tallies`: the merged records' statistics and one example message per error code, the
    /// first in dataset order (records whose run does not decode are left out, as a reader of
    /// `results.jsonl` skips them).
    var tallied = ClusterRunTotals()
    /// Samples fed to the reports from their report parts (`ClusterReportParts`), not decoded.
    var partsUsed = 0
    /// With `counted`: the merged records whose index it does not hold (lines the coordinator did
    /// not count: see `uncounted(_:)`), their statistics and one example message per error code.
    var uncounted = ClusterRunTotals()
    /// How many they are.
    var uncountedRecords = 0

    /// - Parameter counted: the indexes the coordinator counted (`ClusterCoordinatorStats.recordedIndexes`);
    ///   a merged record at another index is tallied in `uncounted`.
    static func run(
        _ spool: ClusterSpool, job: TestJob, scoring: Bool, reports: Bool, tallies: Bool, counted: IndexSet? = nil
    ) async throws -> MergePass {
        // What the run freed goes back first: the pass then peaks with its own tables.
        FreedMemory.release()
        let output = job.outputDirectory
        var pass = MergePass()
        guard reports || tallies else {
            pass.merged = try spool.merge(into: output, evals: scoring, each: counted.map { counted in
                { entry, run, _ in if !counted.contains(entry.index) { pass.uncounted(run) } }
            })
            return pass
        }
        let index = try spool.journalIndex()
        let evaluation = reports ? try await job.evaluationOutput(writesEvals: false) : nil
        // Rows are made as `evaluate` makes them (bytes, not strings); `evals.jsonl` is the merge's.
        let preparing = evaluation?.preparing
        let decoder = JSONCoding.decoder()
        var decoded = true
        // The report parts the workers sent with their records: a sample with one feeds the
        // reports without a decode (only the samples report.md / report.html keep are decoded).
        // Matched with the lines the index keeps, by dataset index (12 bytes a sample).
        let parts = reports && !tallies ? ClusterReportParts(spool: spool.directory, keeping: index) : nil
        do {
            pass.merged = try spool.merge(index: index, into: output, evals: scoring || reports) { entry, run, evals in
                if let counted, !counted.contains(entry.index) { pass.uncounted(run) }
                if let evaluation, decoded, let part = parts?.body(line: entry.range, sampleId: entry.sampleId, index: entry.index),
                    try evaluation.add(reportPart: part, evalCount: evals.count, sample: {
                        SampleEvaluation(
                            run: try JSONCoding.decodeRecord(RunRecord.self, from: run, decoder: decoder),
                            evals: try evals.map { try JSONCoding.decodeRecord(EvalRecord.self, from: $0, decoder: decoder) })
                    })
                {
                    pass.partsUsed += 1
                    return
                }
                let record = try? JSONCoding.decodeRecord(RunRecord.self, from: run, decoder: decoder)
                if tallies, let record { pass.tallied.add(record.statisticsFacts) }
                guard let evaluation, let preparing, decoded else { return }
                guard let record, let verdicts = try? evals.map({ try JSONCoding.decodeRecord(EvalRecord.self, from: $0, decoder: decoder) })
                else {
                    decoded = false
                    return
                }
                let sample = SampleEvaluation(run: record, evals: verdicts)
                try evaluation.add(sample, prepared: EvaluationOutput.prepare(sample, for: preparing))
            }
        } catch {
            evaluation?.abandon()
            throw error
        }
        guard let evaluation else { return pass }
        guard decoded else {
            evaluation.abandon()
            return pass
        }
        pass.evaluation = try evaluation.finish().summary
        return pass
    }

    /// Tallies a merged record the coordinator did not count: a worker appended its line to the
    /// journal and was lost, or the run stopped, before its frame was taken. The journal is the
    /// truth (a resume counts the line as done), so the run's summary counts it with what it merged.
    /// A run that does not decode is counted without statistics, as a reader of `results.jsonl`
    /// skips it.
    private mutating func uncounted(_ run: Data) {
        uncountedRecords += 1
        guard let record = try? JSONCoding.decodeRecord(RunRecord.self, from: run, decoder: JSONCoding.decoder()) else { return }
        uncounted.add(record.statisticsFacts)
    }
}

extension ClusterRun {
    /// Spools the job's dataset (its `limit` and `tags` applied) with the job config as the
    /// workers' setup, or reopens the spool already there (resume). The dataset is read once:
    /// the pass that checks it as a single-process run does (`TestJob.checkDatasetLines(_:each:)`:
    /// bad lines and duplicate ids refused with file:line, the same message) hands each case's line
    /// to the spool writer (`ClusterSpoolWriter`), which writes it as written at once
    /// (`ClusterManifest.samplesAsWritten`), never holding the cases in memory. `checked` is called
    /// with the count of cases once the pass has checked them all. Without `scoring` workers only
    /// play (`run`).
    ///
    /// With `started`, a fresh spool is written shard by shard (`streamingShards`) and handed to
    /// `started` before the pass begins (`ClusterSpoolWriter.partialSpool`), so a coordinator
    /// serves each shard as it is committed (`ClusterRun.run(streaming:)`); a bad line found
    /// later makes the writer fail the run with the same error. With `holdsShards` too, that
    /// coordinator welcomes its workers at once but hands out no shard before every line is
    /// checked (see `ClusterSpoolWriter.releaseShards()`).
    public static func prepareSpool(
        job: TestJob, dataset: URL, at directory: URL, samplesPerShard: Int = ClusterSpoolWriter.defaultSamplesPerShard,
        maxShardBytes: Int? = ClusterSpoolWriter.defaultMaxShardBytes, minShards: Int = 1, scoring: Bool = true,
        checked: (@Sendable (Int) -> Void)? = nil, started: (@Sendable (ClusterSpool) -> Void)? = nil, holdsShards: Bool = false
    ) async throws -> ClusterSpool {
        try await spool(
            job: job, dataset: dataset, at: directory, setup: try workersSetup(job: job, scoring: scoring), samplesPerShard: samplesPerShard,
            maxShardBytes: maxShardBytes, minShards: minShards, cutsAsItGoes: started != nil, checked: checked, started: started,
            holdsShards: holdsShards)
    }

    /// The setup a sharded run's workers rebuild the job from: the config as written, whether they
    /// score, and where a worker on this host keeps its state.
    static func workersSetup(job: TestJob, scoring: Bool) throws -> ClusterJobSetup {
        var setup = try ClusterJobSetup.pipeline(config: job.config, concurrency: job.settings.concurrency)
        if case .object(var spec) = setup.job {
            spec["score"] = .bool(scoring)
            // Made private by TestJob.prepare. A worker on this host also logs its cases' events
            // next to it, in `events/` (see `PipelineShardProcessor.eventsDirectory(of:)`).
            spec["stateDirectory"] = .string(job.output(".state").path)
            setup.job = .object(spec)
        }
        return setup
    }

    /// `prepareSpool` with the workers' setup given (an indexed run's plan writes its own): the
    /// dataset checked and spooled as written in one pass. With `cutsAsItGoes` each shard is
    /// written as soon as it is full (`StreamingCut`: no scratch file written and read back; a
    /// fresh spool only), else all are planned at the end (`ShardPlanner`: balanced, their count
    /// set by the sample count alone when `maxShardBytes` is nil, as an indexed plan needs);
    /// `started` (which needs `cutsAsItGoes`) gets the spool while it is written, with its shards
    /// held until every line is checked when `holdsShards`.
    static func spool(
        job: TestJob, dataset: URL, at directory: URL, setup: ClusterJobSetup, samplesPerShard: Int, maxShardBytes: Int?, minShards: Int,
        cutsAsItGoes: Bool, checked: (@Sendable (Int) -> Void)?, started: (@Sendable (ClusterSpool) -> Void)?, holdsShards: Bool = false
    ) async throws -> ClusterSpool {
        // The file's size sizes the shards (about `minShards` of them at least).
        let expectedBytes = !cutsAsItGoes ? nil : ((try? FileManager.default.attributesOfItem(atPath: dataset.path)[.size] as? Int) ?? 0)
        // The pass refuses duplicate ids (file:line) before a case reaches the writer: it keeps no
        // second set of them.
        let writer = try ClusterSpoolWriter(
            at: directory, setup: setup, samplesPerShard: samplesPerShard, minShards: minShards, maxShardBytes: maxShardBytes,
            streamingShards: expectedBytes, checksIds: false, samplesAsWritten: true, holdsShards: holdsShards)
        if let partial = writer.partialSpool { started?(partial) }
        do {
            // Each case is spooled as its line wrote it; most lines are checked at the byte level,
            // not decoded (the workers decode them).
            let total = try await job.checkDatasetLines(dataset) { line in
                guard case .success(let found) = line.result else { return }
                try writer.add(caseJSON: line.bytes, id: found.id)
            }
            checked?(total)
            // Every line is checked: the coordinator hands the shards out while they are made
            // durable, off the cooperative pool (its fsyncs and manifest would hold a thread the
            // coordinator needs).
            try writer.releaseShards()
            nonisolated(unsafe) let finishing = writer
            return try await BlockingIO.run { try finishing.finish() }
        } catch {
            writer.abandon(error)
            throw error
        }
    }
}
