import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import Foundation

extension ClusterRun {
    /// `run` + `evaluate` of a prepared job over `workers` local worker processes: the dataset is
    /// spooled into `<out>/spool`, workers play and score each case (`PipelineShardProcessor`),
    /// and the merged `results.jsonl` and `evals.jsonl` (dataset order) feed the same reports a
    /// single-process run writes (`summary.json`, `report.html`, `junit.xml`, …).
    ///
    /// ```swift
    /// let job = try await TestJob.prepare(config: config, components: .builtin(), settings: settings, events: bus)
    /// let (outcome, summary) = try await ClusterRun.test(job: job, dataset: config.datasetURL()!, workers: 4, events: bus)
    /// ```
    /// With `--resume` (`job.settings.resume`) an existing spool is resumed (journaled cases are not
    /// replayed); without it a previous spool in the output directory is removed first.
    public static func test(
        job: TestJob, dataset: URL, workers: Int, workerCommand: WorkerCommand = .currentExecutable, events: EventBus? = nil,
        samplesPerShard: Int = 64
    ) async throws -> (outcome: ClusterOutcome, summary: EvalSummary) {
        let events = events ?? job.events
        let spoolURL = job.output("spool")
        if !job.settings.resume, FileManager.default.fileExists(atPath: spoolURL.path) {
            try FileManager.default.removeItem(at: spoolURL)
        }
        let spool = try await prepareSpool(job: job, dataset: dataset, at: spoolURL, samplesPerShard: samplesPerShard, minShards: workers)
        let options = Options(workers: workers, spool: spool.directory, workerCommand: workerCommand, samplesPerShard: samplesPerShard)
        let outcome = try await run(spool: spool, options: options, events: events)
        let summary = try await report(job: job, spool: spool, events: events)
        return (outcome, summary)
    }

    /// Spools the job's dataset (its `limit` and `tags` applied) with the job config as the
    /// workers' setup, or reopens the spool already there (resume). The dataset is streamed: cases
    /// are read, encoded and written one at a time (`ClusterSpoolWriter`), never all in memory.
    public static func prepareSpool(job: TestJob, dataset: URL, at directory: URL, samplesPerShard: Int = 64, minShards: Int = 1) async throws -> ClusterSpool {
        let reader = DatasetReader(url: dataset, source: job.config.dataset)
        let setup = try ClusterJobSetup.pipeline(config: job.config, concurrency: job.settings.concurrency)
        return try await ClusterSpool.prepare(
            at: directory, samples: reader.samples(), setup: setup, samplesPerShard: samplesPerShard, minShards: minShards)
    }

    /// Merges a finished spool into the job's output directory (`results.jsonl`, `evals.jsonl`)
    /// and writes the same reports and summary a single-process `test` writes.
    public static func report(job: TestJob, spool: ClusterSpool, events: EventBus? = nil) async throws -> EvalSummary {
        let events = events ?? job.events
        try spool.merge(into: job.outputDirectory)
        let evals = job.output("evals.jsonl")
        var options = ReportOptions(title: job.config.name ?? "chatbot-tester", htmlSampleCap: job.evaluation.htmlSampleCap)
        if let baseline = job.evaluation.baseline {
            var baselineEvals = job.config.resolve(baseline)
            if baselineEvals.pathExtension != "jsonl" { baselineEvals.appendPathComponent("evals.jsonl") }
            options.comparison = try await RunComparison.compare(baselineEvals: baselineEvals, candidateEvals: evals, events: events)
        }
        return try await EvalReports.write(
            results: job.output("results.jsonl"), evals: evals, to: job.outputDirectory, descriptors: job.evaluator.descriptors,
            options: options, maxErrorRate: job.evaluator.maxErrorRate, events: events)
    }
}
