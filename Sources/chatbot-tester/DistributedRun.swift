import ChatbotTester
import Foundation

/// `test`/`run --workers N`: the same job sharded over local worker processes.
enum DistributedRun {
    /// Spools the dataset, runs it on `workers` worker processes (each plays and scores its shards),
    /// merges the results in dataset order and writes every report and `run-summary.json`.
    static func test(job: TestJob, workers: Int) async throws -> JobOutcome {
        try job.writeJobRecord()
        var outcome = JobOutcome(outputDirectory: job.outputDirectory)
        let (dataset, generation) = try await job.datasetToRun()
        outcome.generation = generation
        _ = try await job.scanDataset(dataset)
        let (cluster, summary) = try await ClusterRun.test(job: job, dataset: dataset, workers: workers, events: job.events)
        var statistics = RunStatistics()
        for try await entry in JSONL.read(RunRecord.self, from: job.output("results.jsonl")) {
            if case .success(let record) = entry.result { statistics.add(record) }
        }
        let run = RunSummary(
            target: job.targetName, stopReason: Task.isCancelled ? .cancelled : .completed, statistics: statistics, resumed: 0,
            skipped: 0, duplicates: 0, abandoned: 0, played: cluster.mergedSamples, durationSeconds: cluster.seconds,
            budgetUSD: job.runOptions.budgetUSD)
        try await job.store.write(JSONCoding.encoder(pretty: true).encode(run), to: "run-summary.json")
        outcome.run = run
        outcome.evaluation = summary
        return outcome
    }
}
