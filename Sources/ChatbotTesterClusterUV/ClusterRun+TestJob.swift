import ChatbotTesterCluster
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
    /// Run again with the same output directory to resume (journaled cases are not replayed).
    public static func test(
        job: TestJob, dataset: URL, workers: Int, workerCommand: WorkerCommand = .currentExecutable, events: EventBus? = nil,
        samplesPerShard: Int = 64
    ) async throws -> (outcome: ClusterOutcome, summary: EvalSummary) {
        let events = events ?? job.events
        let reader = DatasetReader(url: dataset, limit: job.config.dataset?.limit, tags: job.config.dataset?.tags)
        var samples: [TestSample] = []
        for try await sample in reader.samples() { samples.append(sample) }
        let setup = try ClusterJobSetup.pipeline(config: job.config, concurrency: job.settings.concurrency)
        let options = Options(
            workers: workers, spool: job.output("spool"), output: job.outputDirectory, workerCommand: workerCommand,
            samplesPerShard: samplesPerShard)
        let outcome = try await run(samples: samples, setup: setup, options: options, events: events)
        let summary = try await EvalReports.write(
            results: job.output("results.jsonl"), evals: job.output("evals.jsonl"), to: job.outputDirectory,
            descriptors: job.evaluator.descriptors,
            options: ReportOptions(title: job.config.name ?? "chatbot-tester", htmlSampleCap: job.evaluation.htmlSampleCap), events: events)
        return (outcome, summary)
    }
}
