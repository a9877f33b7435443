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
    private var buffer: [UInt8] = []

    public init(url: URL) throws {
        handle = try FileHandle.create(url)
        buffer.reserveCapacity(1 << 17)
        buffer.append(contentsOf: Self.headerBytes)
    }

    /// The header row's bytes (the columns and a line end).
    public static var headerBytes: [UInt8] { Array((columns.joined(separator: ",") + "\r\n").utf8) }

    public func add(_ sample: SampleEvaluation) throws {
        try add(rows: Self.rows(for: sample))
    }

    /// Appends rows made by `rows(for:)` (which may run on another task).
    public func add(rows: String) throws {
        try add(rowBytes: Array(rows.utf8))
    }

    /// Appends rows made by `appendRows(for:to:)` (which may run on another task).
    public func add(rowBytes: [UInt8]) throws {
        buffer.append(contentsOf: rowBytes)
        if buffer.count > 1 << 16 { try flush() }
    }

    /// Appends rows made by `appendRows(for:to:)`, read where they are (a report part's bytes).
    public func add(rowBytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: rowBytes)
        if buffer.count > 1 << 16 { try flush() }
    }

    /// The bytes of `rows(for:)`, appended to `out` without a `String` per field or row (what
    /// `evaluateFile`'s batches make; `rows(for:)` stays the reference).
    public static func appendRows(for sample: SampleEvaluation, to out: inout [UInt8]) {
        let run = sample.run
        // The run's columns, escaped once for every row of the sample.
        var runColumns: [UInt8] = []
        runColumns.reserveCapacity(48)
        runColumns.append(UInt8(ascii: ","))
        if let run { ReportText.appendCSV(run.status.rawValue, to: &runColumns) }
        runColumns.append(UInt8(ascii: ","))
        if let run { ReportText.appendCSV(ReportText.number(run.latencyMs, digits: 1), to: &runColumns) }
        runColumns.append(UInt8(ascii: ","))
        if let cost = run?.costUSD { ReportText.appendCSV(String(cost), to: &runColumns) }
        runColumns.append(UInt8(ascii: ","))
        let tags = run?.sample.tags ?? sample.evals.first?.tags ?? []
        if tags.count == 1 {
            ReportText.appendCSV(tags[0], to: &runColumns)
        } else if !tags.isEmpty {
            ReportText.appendCSV(tags.joined(separator: ";"), to: &runColumns)
        }
        if sample.evals.isEmpty {
            ReportText.appendCSV(sample.sampleId, to: &out)
            out.append(contentsOf: ",,,,,,".utf8)
            appendField(run?.error?.message ?? "", to: &out)
            out.append(contentsOf: ",,,,".utf8)
            out.append(contentsOf: runColumns)
            out.append(contentsOf: [0x0D, 0x0A])
            return
        }
        // By index, each record passed borrowed: no copy of it (and of its strings) per row.
        let evals = sample.evals
        for index in evals.indices { appendRow(evals[index], runColumns: runColumns, to: &out) }
    }

    /// One evaluation's row of `appendRows`, ended by the run's columns and the line end.
    private static func appendRow(_ eval: EvalRecord, runColumns: [UInt8], to out: inout [UInt8]) {
        ReportText.appendCSV(eval.sampleId, to: &out)
        appendField(eval.metric, to: &out)
        appendField(eval.type, to: &out)
        appendField(eval.status.rawValue, to: &out)
        appendNumber(eval.score, to: &out)
        appendFlag(eval.passed, to: &out)
        appendNumber(eval.threshold, to: &out)
        appendField(eval.reason ?? "", to: &out)
        out.append(UInt8(ascii: ","))
        if let votes = eval.votes { ReportText.appendCSV(votes.map { String($0) }.joined(separator: ";"), to: &out) }
        appendNumber(eval.spread, to: &out)
        appendFlag(eval.straddlesThreshold, to: &out)
        appendNumber(eval.costUSD, to: &out)
        out.append(contentsOf: runColumns)
        out.append(contentsOf: [0x0D, 0x0A])
    }

    private static func appendField(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        ReportText.appendCSV(text, to: &out)
    }

    private static func appendFlag(_ value: Bool?, to out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        if let value { out.append(contentsOf: value ? "true".utf8 : "false".utf8) }
    }

    private static func appendNumber(_ value: Double?, to out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        guard let value else { return }
        // The scores of most checks: `String(value)` without formatting it each time.
        if value == 1 {
            out.append(UInt8(ascii: "1"))
            out.append(UInt8(ascii: "."))
            out.append(UInt8(ascii: "0"))
        } else if value == 0, value.sign == .plus {
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "."))
            out.append(UInt8(ascii: "0"))
        } else {
            ReportText.appendCSV(String(value), to: &out)
        }
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
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() throws {
        try flush()
        try handle.close()
    }
}
