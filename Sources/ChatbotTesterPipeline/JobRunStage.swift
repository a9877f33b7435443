import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterRunner
import Foundation

/// Where a job's cases are played: in this process (``LocalRunStage``, the default) or sharded
/// over worker processes (`ShardedRunStage` in `ChatbotTesterClusterPipeline`). Everything around
/// the run — `job.json`, the dataset or generation, the output lock, the evaluation, every report,
/// `run-summary.json` and the exit status — is the same code for every stage, so a job behaves the
/// same however it is run.
public protocol JobRunStage: Sendable {
    /// Plays the `total` cases of `dataset` for `job` and writes `results.jsonl` (each id once, in
    /// dataset order). When `scoring` and the stage scores as it plays, it writes `evals.jsonl` too
    /// and says so in the result; otherwise the job evaluates `results.jsonl` afterwards.
    func play(job: TestJob, dataset: URL, total: Int, scoring: Bool) async throws -> JobRunResult

    /// Checks and counts `dataset`, announces the run (`TestJob.announceRun(total:)`) and plays it:
    /// what `TestJob` calls. The default scans the dataset first (`TestJob.scanDataset(_:)`), then
    /// calls `play(job:dataset:total:scoring:)`; a stage that reads the whole dataset before it
    /// plays may check it in that same pass instead (`TestJob.checkDataset(_:each:)`), refusing
    /// exactly what the scan refuses — `ShardedRunStage` does so while it writes its spool.
    func checkAndPlay(job: TestJob, dataset: URL, scoring: Bool) async throws -> JobRunResult

    /// Whether the stage plays the cases in this process, journaling them in `results.journal.jsonl`
    /// and `evals.journal.jsonl` (the default), or over workers, journaling them in the output
    /// directory's `spool/` (`ShardedRunStage`). A `--resume` of a run played the other way is
    /// handed to `adoptRunState(playedTheOtherWay:)`; a fresh run clears what a run of either way
    /// left (see `TestJob.prepareRunState(for:)`).
    var playsInThisProcess: Bool { get }

    /// For a `--resume` of a run played the other way (`playsInThisProcess` differs): takes that
    /// run's records into this stage's journal — each case journaled once, as `inProcessRecords`
    /// or the spool's journal hands them over — and removes what the other way left, so the
    /// resume continues the run. Returns false when this stage cannot (the resume is then
    /// refused, naming the other way's journal). The default cannot.
    func adoptRunState(playedTheOtherWay job: TestJob) async throws -> Bool
}

extension JobRunStage {
    public var playsInThisProcess: Bool { true }

    public func adoptRunState(playedTheOtherWay job: TestJob) async throws -> Bool { false }

    public func checkAndPlay(job: TestJob, dataset: URL, scoring: Bool) async throws -> JobRunResult {
        let total = try await job.scanDataset(dataset)
        job.announceRun(total: total)
        return try await play(job: job, dataset: dataset, total: total, scoring: scoring)
    }
}

/// What a run stage did.
public struct JobRunResult: Sendable {
    /// The run's summary (written to `run-summary.json` by the job).
    public var summary: RunSummary
    /// Whether `evals.jsonl` was written with the results (workers score what they play).
    public var scored: Bool
    /// Set when the stage also wrote every report (the local stage scores the Runner's records as
    /// they finish and writes results, evaluations and reports in one pass).
    public var evaluation: EvalSummary?

    public init(summary: RunSummary, scored: Bool, evaluation: EvalSummary? = nil) {
        self.summary = summary
        self.scored = scored
        self.evaluation = evaluation
    }
}

/// Plays the dataset in this process with the job's Runner, journaling every record. When the job
/// scores, each record is evaluated as it finishes (the Runner's records feed the Evaluator; nothing
/// is read back) and its evaluations are journaled next to it (`evals.journal.jsonl`); at the end
/// one pass writes `results.jsonl`, `evals.jsonl` and every report in dataset order.
///
/// A resume checks the journal against the dataset: the pass that checks the dataset before the
/// run keeps each case's id by position (`IDsByPosition`, 8 bytes a case), and a journal line
/// whose record is not the dataset's case at its position — left by another dataset, or edited —
/// is skipped with a warning naming its line, and that case runs again, as a sharded run skips a
/// journal line its spool's manifest does not list.
///
/// A run journaled over workers is continued in this process when the stage is given a way to read
/// its spool (`adoptingShardedRun`, which the `ChatbotTesterClusterPipeline` module provides as
/// `ShardedRunStage.adoptIntoThisProcess`; the CLI passes it).
public struct LocalRunStage: JobRunStage {
    /// Takes the records of a run journaled over workers into this process's journals (see
    /// `adoptRunState(playedTheOtherWay:)`); nil: such a resume is refused.
    public var adoptingShardedRun: (@Sendable (TestJob) async throws -> Void)?

    /// A stage that refuses to resume a run journaled over workers.
    public init() {}

    /// A stage that resumes a run journaled over workers by taking its records with `adoptingShardedRun`.
    public init(adoptingShardedRun: (@Sendable (TestJob) async throws -> Void)?) {
        self.adoptingShardedRun = adoptingShardedRun
    }

    public func adoptRunState(playedTheOtherWay job: TestJob) async throws -> Bool {
        guard let adoptingShardedRun else { return false }
        try await adoptingShardedRun(job)
        return true
    }

    public func checkAndPlay(job: TestJob, dataset: URL, scoring: Bool) async throws -> JobRunResult {
        // A resume keeps each case's id by position from the pass that checks the dataset.
        let resume = job.settings.resume
        var input = IDsByPosition()
        let total = try await job.checkDataset(dataset, each: resume ? { input.append($0.id) } : nil)
        job.announceRun(total: total)
        return try await play(job: job, dataset: dataset, total: total, scoring: scoring, input: resume ? input : nil)
    }

    public func play(job: TestJob, dataset: URL, total: Int, scoring: Bool) async throws -> JobRunResult {
        try await play(job: job, dataset: dataset, total: total, scoring: scoring, input: nil)
    }

    /// Plays the dataset; with `input` (a resume), the journal is checked against it.
    func play(job: TestJob, dataset: URL, total: Int, scoring: Bool, input: IDsByPosition?) async throws -> JobRunResult {
        let runner = try await job.makeRunner(journal: RunJournal(store: job.store, input: input))
        let reader = DatasetReader(url: dataset, source: job.config.dataset)
        let store = job.store
        let resume = job.settings.resume
        guard scoring else {
            // A fresh run that is not scored: evaluations journaled by an earlier run describe other records.
            if !resume { try await store.delete(TestJob.evalJournalKey) }
            let summary = try await runner.runAll(reader.runnerSamples(), resume: resume, retryErrors: job.settings.retryErrors, total: total)
            // Finish the file even when the run was interrupted: a fresh task does not inherit the
            // cancellation, so the journal is read to the end.
            _ = try await Task { try await ResultsWriter.write(store: store, to: "results.jsonl", input: input) }.value
            return JobRunResult(summary: summary, scored: false)
        }
        let evalJournal = RunJournal(store: store, key: TestJob.evalJournalKey)
        try await evalJournal.open(resume: resume, syncEvery: job.runOptions.syncEvery, syncInterval: .seconds(job.runOptions.syncIntervalSeconds))
        // A fresh run writes its outputs as records are scored (a resumed one has records in the
        // journals from earlier sessions; a baseline comparison is labelled with the directory).
        let streamed =
            resume || job.evaluation.baseline != nil
            ? nil : try await StreamedTestOutput(job: job, limit: StreamedTestOutput.waitingLimit(concurrency: job.runOptions.concurrency))
        // What a crashed session left of its streamed output is never used (the journals hold the records).
        if streamed == nil { StreamedTestOutput.removeLeftover(in: job.outputDirectory) }
        let summary: RunSummary
        do {
            summary = try await job.scoreWhilePlaying(
                runner.run(reader.runnerSamples(), resume: resume, retryErrors: job.settings.retryErrors, total: total), evalJournal: evalJournal,
                streamed: streamed)
            try await evalJournal.close()
        } catch {
            streamed?.abandon()
            try? await evalJournal.close()
            throw error
        }
        if summary.stopReason == .cancelled || Task.isCancelled {
            streamed?.abandon()
            _ = try await Task { try await ResultsWriter.write(store: store, to: "results.jsonl", input: input) }.value
            return JobRunResult(summary: summary, scored: false)
        }
        if let streamed, let evaluation = try streamed.finish(expected: summary.statistics.recorded) {
            return JobRunResult(summary: summary, scored: true, evaluation: evaluation)
        }
        let evaluation = try await Task { try await job.writeResultsAndEvaluation(input: input) }.value
        return JobRunResult(summary: summary, scored: evaluation != nil, evaluation: evaluation)
    }
}
