import ChatbotTesterCore
import Foundation

extension Evaluator {
    /// What `evaluateFile` produced.
    public struct FileOutcome: Sendable {
        /// The verdict, gates and aggregate (also in `summary.json`).
        public var summary: EvalSummary
        /// The `evals.jsonl` written.
        public var evals: URL
        /// Result lines that could not be read (skipped; each also emitted as `EvalInputRejected`).
        public var rejected: [ChatbotTesterError]
        /// The comparison with `baselineEvals`, when one was given (also in the reports).
        public var comparison: RunComparison?
    }

    /// `chatbot-tester evaluate` in one call: streams `results` (a `results.jsonl`), writes
    /// `evals.jsonl` (grouped by sample, in results order) and every report into `outputDirectory`.
    ///
    /// A result line that cannot be decoded is skipped and reported, never fatal. The exit code is
    /// `outcome.summary.passed ? 0 : 1`.
    /// - Parameter baselineEvals: a baseline run's `evals.jsonl`; the comparison is built in the same
    ///   pass and added to `report.md`/`report.html` (and returned), so no second pass is needed.
    public func evaluateFile(
        results: URL, outputDirectory: URL, options: ReportOptions = ReportOptions(), baselineEvals: URL? = nil
    ) async throws -> FileOutcome {
        var comparison: RunComparison.Builder?
        if let baselineEvals { comparison = try await RunComparison.Builder(baseline: baselineEvals, events: events) }
        let evalsURL = outputDirectory.appendingPathComponent("evals.jsonl")
        let writer = try JSONLWriter(url: evalsURL)
        let reports = try EvalReportWriter(directory: outputDirectory, options: options)
        let rejected = Locked<[ChatbotTesterError]>([])
        let events = self.events
        let runs = JSONL.read(RunRecord.self, from: results).compactMap { entry -> RunRecord? in
            switch entry.result {
            case .success(let run): return run
            case .failure(let error):
                rejected.withLock { $0.append(error) }
                events.emit(EvalInputRejected(error))
                return nil
            }
        }
        let aggregate: EvalAggregate
        do {
            aggregate = try await evaluate(runs) { sample in
                for eval in sample.evals {
                    try writer.write(eval)
                    comparison?.addCandidate(eval)
                }
                try reports.add(sample)
            }
            try writer.close()
        } catch {
            try? writer.close()
            throw error
        }
        let bad = rejected.current
        let compared = comparison.map {
            var builder = $0
            return builder.finish(baselineLabel: baselineEvals!.deletingLastPathComponent().lastPathComponent, candidateLabel: outputDirectory.lastPathComponent)
        }
        let summary = try reports.finish(aggregate: aggregate, rejectedLines: bad.count, comparison: compared)
        return FileOutcome(summary: summary, evals: evalsURL, rejected: bad, comparison: compared)
    }

    /// The shared options (names, thresholds, gates) of metric specs, without building the metrics
    /// or touching backends: what `EvalReports.write` needs to regenerate reports with the job's gates.
    public static func descriptors(for specs: [ComponentSpec], registry: MetricRegistry = .builtinMetrics) throws -> [MetricCommon] {
        try zip(specs, instanceNames(specs)).map { spec, name in
            let context = ComponentContext(instanceName: name, section: "evaluate.metrics")
            try registry.validate(spec, context: context)
            let defaultThreshold = BuiltinMetrics.defaultThreshold(for: spec.type)
            return try MetricCommon(type: spec.type, options: ComponentOptions(spec.options, context: context), context: context, defaultThreshold: defaultThreshold)
        }
    }
}
