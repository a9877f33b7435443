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
            if stats.priced == 0 {
                if stats.recorded > 0 { text += " · cost unknown (no price table)" }
            } else {
                text += String(format: stats.costUSD < 0.01 ? " · $%.6f" : " · $%.4f", stats.costUSD)
                if stats.priced < stats.recorded { text += " (\(stats.priced) of \(stats.recorded) priced)" }
            }
            if run.stopReason != .completed { text += " · stopped: \(run.stopReason.rawValue)" }
            lines.append(text)
            if run.keptErrors > 0 {
                let plural = run.keptErrors == 1 ? "" : "s"
                lines.append(
                    "Kept \(run.keptErrors) error\(plural) recorded by an earlier session: --resume --retry-errors plays those cases again.")
            }
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
            if run.stopReason == .targetDown, let error = run.error {
                lines.append("Run aborted (target down): \(error.message)")
                lines.append("Everything recorded is kept: start the target, then rerun with --resume to continue.")
            } else {
                lines.append("Run aborted (\(run.stopReason.rawValue)): rerun with --resume to continue.")
            }
        }
        lines.append("Outputs: \(outcome.location.map { RemoteLocation.join($0, "") } ?? outcome.outputDirectory.path + "/")report.html")
        if let run = outcome.run { lines.append(contentsOf: topErrors(run)) }
        return lines.joined(separator: "\n")
    }

    /// The closing lines: the most frequent error codes, their counts and one example message each.
    static func topErrors(_ run: RunSummary, limit: Int = 5) -> [String] {
        let top = run.topErrors(limit)
        guard !top.isEmpty else { return [] }
        var lines = ["Top errors:"]
        let width = top.map { String($0.count).count }.max() ?? 1
        let codeWidth = top.map(\.code.count).max() ?? 0
        for entry in top {
            let count = String(repeating: " ", count: width - String(entry.count).count) + String(entry.count)
            var line = "  \(count) × \(entry.code.padding(toLength: codeWidth, withPad: " ", startingAt: 0))"
            if let example = entry.example { line += "  e.g. \(excerpt(example))" }
            lines.append(line)
        }
        let others = run.statistics.errorsByCode.count - top.count
        if others > 0 { lines.append("  … and \(others) other code\(others == 1 ? "" : "s") (see results.jsonl)") }
        return lines
    }

    /// One line of at most 200 characters.
    static func excerpt(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > 200 ? String(line.prefix(199)) + "…" : line
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
