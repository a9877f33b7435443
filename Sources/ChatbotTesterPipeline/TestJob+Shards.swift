import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterRunner
import Foundation

/// One case played and scored: what a worker streams back for each sample of a shard.
public struct SampleResult: Sendable, Hashable, Codable {
    public var run: RunRecord
    public var evals: [EvalRecord]

    public init(run: RunRecord, evals: [EvalRecord]) {
        self.run = run
        self.evals = evals
    }
}

extension TestJob {
    /// Rebuilds a job from a config document received from a coordinator (a worker's view: no
    /// dataset is read and nothing is written but scratch state under `scratchDirectory`).
    /// Secret references are resolved from this process's environment.
    public static func prepareWorker(
        document: JSONValue, source: String = "<coordinator>", components: PipelineComponents, scratchDirectory: URL,
        events: EventBus = EventBus(), secrets: SecretResolver = SecretResolver()
    ) async throws -> TestJob {
        let parsed = document.objectValue == nil
            ? ConfigDocument(value: document, source: source) : try ConfigDocument.recorded(["config": document], source: source)
        let config = try JobConfig(document: parsed)
        return try await prepare(
            config: config, components: components,
            settings: JobSettings(outputDirectory: scratchDirectory.path, secrets: secrets), events: events)
    }

    /// Plays and scores `samples` without a journal, with the job's concurrency; results come in
    /// completion order. A failed case is a result with an error record, never a thrown error.
    public func process<S: AsyncSequence & Sendable>(_ samples: S) async throws -> AsyncThrowingStream<SampleResult, any Error>
    where S.Element == TestSample {
        let runner = try await makeRunner(journal: nil)
        let evaluator = self.evaluator
        let execution = runner.run(samples)
        let iterator = Locked(execution.makeAsyncIterator())
        return AsyncThrowingStream(unfolding: {
            var current = iterator.current
            let next = try await current.next()
            iterator.withLock { $0 = current }
            guard let run = next else { return nil }
            return SampleResult(run: run, evals: await evaluator.evaluate(run))
        })
    }

    /// Writes every report (summary.json, junit.xml, report.html, …) from merged `results` and
    /// `evals` files, with this job's metric thresholds and gates (and `evaluate.baseline`'s
    /// comparison), exactly as `evaluate(results:)` writes them after scoring.
    public func writeReports(results: URL, evals: URL) async throws -> EvalSummary {
        var options = ReportOptions(title: config.name ?? "chatbot-tester", htmlSampleCap: evaluation.htmlSampleCap)
        if let baseline = evaluation.baseline {
            options.comparison = try await RunComparison.compare(
                baselineEvals: Self.baselineEvals(baseline, config: config), candidateEvals: evals, events: events)
        }
        return try await EvalReports.write(
            results: results, evals: evals, to: outputDirectory, descriptors: evaluator.descriptors, options: options,
            maxErrorRate: evaluator.maxErrorRate, events: events)
    }
}
