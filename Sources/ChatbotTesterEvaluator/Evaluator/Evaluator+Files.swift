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
        let output = try await EvaluationOutput(
            directory: outputDirectory, descriptors: descriptors, maxErrorRate: maxErrorRate, options: options, baselineEvals: baselineEvals,
            events: events)
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
        do {
            _ = try await evaluate(runs) { sample in try output.add(sample) }
        } catch {
            output.abandon()
            throw error
        }
        let bad = rejected.current
        output.rejectedLines = bad.count
        let (summary, compared) = try output.finish()
        return FileOutcome(summary: summary, evals: output.evalsURL, rejected: bad, comparison: compared)
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
