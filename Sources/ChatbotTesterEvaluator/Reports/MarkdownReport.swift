import ChatbotTesterCore

/// Renders `report.md`: a compact summary for pull-request comments (verdict, gates, metric table,
/// the first failing samples, and an optional comparison section).
public enum MarkdownReport {
    /// Failing samples listed at most.
    public static let failureLimit = 20

    public static func render(summary: EvalSummary, failing: [SampleEvaluation], title: String, comparison: RunComparison? = nil) -> String {
        let aggregate = summary.aggregate
        var md = "## \(summary.passed ? "✅" : "❌") \(ReportText.markdownCell(title, limit: 200)): \(summary.passed ? "passed" : "failed")\n\n"
        let runs = aggregate.runs
        md += "\(runs.samples) samples, \(runs.errored) run errors, overall score \(ReportText.number(summary.overallScore)), "
        md += "p50 latency \(ReportText.number(runs.latencyMs.quantile(0.5), digits: 0)) ms, run cost \(runs.costText)\n\n"
        if !summary.gates.isEmpty {
            md += "| Gate | Limit | Actual | Result |\n|---|---:|---:|---|\n"
            for gate in summary.gates {
                let op = gate.condition.hasPrefix("max") ? "≤" : "≥"
                md += "| \(ReportText.markdownCell(gate.metric)) \(gate.condition) | \(op) \(ReportText.number(gate.limit)) | \(ReportText.number(gate.actual)) | \(gate.passed ? "pass" : "**FAIL**") |\n"
            }
            md += "\n"
        }
        md += "| Metric | Type | Mean | Pass rate | p50 | p90 | Passed | Failed | Unmeasured |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for name in aggregate.metricNames {
            let s = aggregate.metrics[name]!
            md += "| \(ReportText.markdownCell(name)) | \(s.type) | \(ReportText.number(s.mean)) | \(ReportText.percent(s.passRate)) | "
            md += "\(ReportText.number(s.p50)) | \(ReportText.number(s.p90)) | \(s.passed) | \(s.failed) | \(s.unmeasured) |\n"
        }
        // Failing rows (a run error or a score under its threshold) and unmeasured rows (no score
        // could be given) are listed apart: an unmeasured metric did not fail.
        var failedRows: [String] = []
        var unmeasuredRows: [String] = []
        for sample in failing {
            let id = ReportText.markdownCell(sample.sampleId)
            if sample.run?.status == .error {
                failedRows.append("| \(id) | (run) | – | \(ReportText.markdownCell(sample.run?.error?.message ?? "error")) |\n")
            }
            for eval in sample.evals {
                if eval.status == .unmeasured {
                    unmeasuredRows.append("| \(id) | \(ReportText.markdownCell(eval.metric)) | \(ReportText.markdownCell(eval.reason ?? "")) |\n")
                } else if eval.passed == false {
                    let score = ReportText.number(eval.score, digits: 2)
                    failedRows.append("| \(id) | \(ReportText.markdownCell(eval.metric)) | \(score) | \(ReportText.markdownCell(eval.reason ?? "")) |\n")
                }
            }
        }
        if !failedRows.isEmpty {
            md += "\n<details><summary>First \(min(failedRows.count, failureLimit)) failing results</summary>\n\n| Sample | Metric | Score | Reason |\n|---|---|---:|---|\n"
            md += failedRows.prefix(failureLimit).joined()
            md += "\n</details>\n"
        }
        if !unmeasuredRows.isEmpty {
            md += "\n<details><summary>First \(min(unmeasuredRows.count, failureLimit)) unmeasured results</summary>\n\n| Sample | Metric | Why |\n|---|---|---|\n"
            md += unmeasuredRows.prefix(failureLimit).joined()
            md += "\n</details>\n"
        }
        if let comparison { md += "\n" + comparison.markdown(limit: failureLimit) }
        return md
    }
}
