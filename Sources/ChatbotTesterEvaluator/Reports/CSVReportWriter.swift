import ChatbotTesterCore
import Foundation

/// Streams `results.csv`: one row per sample × metric (RFC 4180, UTF-8, header row). A run with no
/// evaluation still gets one row with an empty metric, so errored samples are never lost.
public final class CSVReportWriter {
    public static let columns = [
        "sample_id", "metric", "type", "status", "score", "passed", "threshold", "reason", "votes", "spread",
        "straddles_threshold", "judge_cost_usd", "run_status", "latency_ms", "run_cost_usd", "tags",
    ]
    private let handle: FileHandle
    private var buffer = ""

    public init(url: URL) throws {
        handle = try FileHandle.create(url)
        buffer = Self.columns.joined(separator: ",") + "\r\n"
    }

    public func add(_ sample: SampleEvaluation) throws {
        try add(rows: Self.rows(for: sample))
    }

    /// Appends rows made by `rows(for:)` (which may run on another task).
    public func add(rows: String) throws {
        buffer += rows
        if buffer.utf8.count > 1 << 16 { try flush() }
    }

    /// The CSV rows of one sample, with their line ends.
    public static func rows(for sample: SampleEvaluation) -> String {
        let run = sample.run
        // The run's columns, escaped once for every row of the sample.
        var runColumns = ""
        for field in [
            run?.status.rawValue ?? "", run.map { ReportText.number($0.latencyMs, digits: 1) } ?? "",
            run?.costUSD.map { String($0) } ?? "", (run?.sample.tags ?? sample.evals.first?.tags ?? []).joined(separator: ";"),
        ] {
            runColumns.append(",")
            runColumns.append(ReportText.csv(field))
        }
        var text = ""
        if sample.evals.isEmpty {
            appendRow([sample.sampleId, "", "", "", "", "", "", run?.error?.message ?? "", "", "", "", ""], runColumns, to: &text)
        } else {
            for eval in sample.evals {
                appendRow(
                    [
                        eval.sampleId, eval.metric, eval.type, eval.status.rawValue, eval.score.map { String($0) } ?? "",
                        eval.passed.map { $0 ? "true" : "false" } ?? "", eval.threshold.map { String($0) } ?? "", eval.reason ?? "",
                        eval.votes.map { $0.map { String($0) }.joined(separator: ";") } ?? "", eval.spread.map { String($0) } ?? "",
                        eval.straddlesThreshold.map { $0 ? "true" : "false" } ?? "", eval.costUSD.map { String($0) } ?? "",
                    ], runColumns, to: &text)
            }
        }
        return text
    }

    /// Appends one row: `fields` escaped, then the run's columns (already escaped, each with its comma).
    private static func appendRow(_ fields: [String], _ runColumns: String, to text: inout String) {
        for (position, field) in fields.enumerated() {
            if position > 0 { text.append(",") }
            text.append(ReportText.csv(field))
        }
        text.append(runColumns)
        text.append("\r\n")
    }

    private func flush() throws {
        try handle.write(contentsOf: Data(buffer.utf8))
        buffer = ""
    }

    public func finish() throws {
        try flush()
        try handle.close()
    }
}
