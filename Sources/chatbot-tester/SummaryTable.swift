import ChatbotTester
import Foundation

/// The final summary the CLI prints: run totals, one row per metric, and the verdict.
enum SummaryTable {
    static func render(_ outcome: JobOutcome) -> String {
        var lines: [String] = []
        if let generation = outcome.generation {
            lines.append("Generated: \(generation.generated) cases (\(generation.dropped.values.reduce(0, +)) dropped, \(generation.skippedExisting) already there)")
        }
        if let run = outcome.run {
            let stats = run.statistics
            let latency = LatencySummary(stats.latency)
            var text = "Run: \(stats.recorded) cases against \(run.target) — \(stats.ok) ok, \(stats.error) errors"
            if let p50 = latency.p50Ms, let p99 = latency.p99Ms { text += " · latency p50 \(ms(p50)) p99 \(ms(p99))" }
            text += " · \(stats.usage.totalTokens) tokens"
            if stats.costUSD > 0 { text += String(format: stats.costUSD < 0.01 ? " · $%.6f" : " · $%.4f", stats.costUSD) }
            if run.stopReason != .completed { text += " · stopped: \(run.stopReason.rawValue)" }
            lines.append(text)
        }
        if let evaluation = outcome.evaluation {
            lines.append(contentsOf: metricTable(evaluation))
            let failed = evaluation.gates.filter { !$0.passed }
            if let run = outcome.run, run.stopReason.isAborted {
                // The gates saw only what was recorded before the stop: no verdict.
                lines.append("Result: INCOMPLETE — the run stopped early (\(run.stopReason.rawValue)); the gates saw \(run.statistics.recorded) cases")
            } else if failed.isEmpty {
                lines.append("Result: PASS")
            } else {
                lines.append("Result: FAIL — " + failed.map { "\($0.metric) \($0.condition) \(number($0.actual)) < \(number($0.limit))" }.joined(separator: "; "))
            }
        }
        if let run = outcome.run, run.stopReason.isAborted {
            lines.append("Run aborted (\(run.stopReason.rawValue)): rerun with --resume to continue.")
        }
        lines.append("Outputs: \(outcome.outputDirectory.path)/report.html")
        return lines.joined(separator: "\n")
    }

    static func metricTable(_ summary: EvalSummary) -> [String] {
        let names = summary.aggregate.metricNames
        guard !names.isEmpty else { return ["No metrics configured (add an `evaluate:` section)."] }
        var rows: [[String]] = [["metric", "scored", "passed", "failed", "unmeasured", "pass rate", "mean"]]
        for name in names {
            guard let stats = summary.aggregate.metrics[name] else { continue }
            rows.append([
                name, String(stats.scored), String(stats.passed), String(stats.failed), String(stats.unmeasured),
                stats.passRate.map { String(format: "%.1f%%", $0 * 100) } ?? "–", number(stats.mean),
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == 0 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }
    }

    static func ms(_ value: Double) -> String {
        value >= 1000 ? String(format: "%.2fs", value / 1000) : String(format: "%.0fms", value)
    }

    static func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.3f", value)
    }
}
