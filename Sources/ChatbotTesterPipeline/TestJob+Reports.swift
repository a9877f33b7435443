import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterRunner
import Foundation

extension TestJob {
    /// Writes every report (summary.json, junit.xml, report.html, …) from merged `results` and
    /// `evals` files, with this job's metric thresholds and gates (and `evaluate.baseline`'s
    /// comparison), exactly as `evaluate(results:)` writes them after scoring.
    public func writeReports(results: URL, evals: URL) async throws -> EvalSummary {
        var options = reportOptions
        if let baseline = evaluation.baseline {
            options.comparison = try await RunComparison.compare(
                baselineEvals: Self.baselineEvals(baseline, config: config), candidateEvals: evals, events: events)
        }
        return try await EvalReports.write(
            results: results, evals: evals, to: outputDirectory, descriptors: evaluator.descriptors, options: options,
            maxErrorRate: evaluator.maxErrorRate, events: events)
    }
}
