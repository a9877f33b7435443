import ChatbotTesterCore
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
}

/// What a run stage did.
public struct JobRunResult: Sendable {
    /// The run's summary (written to `run-summary.json` by the job).
    public var summary: RunSummary
    /// Whether `evals.jsonl` was written with the results (workers score what they play).
    public var scored: Bool

    public init(summary: RunSummary, scored: Bool) {
        self.summary = summary
        self.scored = scored
    }
}

/// Plays the dataset in this process with the job's Runner, journaling every record.
public struct LocalRunStage: JobRunStage {
    public init() {}

    public func play(job: TestJob, dataset: URL, total: Int, scoring: Bool) async throws -> JobRunResult {
        let runner = try await job.makeRunner(journal: RunJournal(store: job.store))
        let reader = DatasetReader(url: dataset, source: job.config.dataset)
        let summary = try await runner.runAll(
            reader.samples(), resume: job.settings.resume, retryErrors: job.settings.retryErrors, total: total)
        // Finish the file even when the run was interrupted: a fresh task does not inherit the
        // cancellation, so the journal is read to the end.
        let store = job.store
        _ = try await Task { try await ResultsWriter.write(store: store, to: "results.jsonl") }.value
        return JobRunResult(summary: summary, scored: false)
    }
}
