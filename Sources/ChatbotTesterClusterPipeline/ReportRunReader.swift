import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

/// Reads, from a results line's bytes, only what the reports need of a run whose sample the report
/// writer does not keep: `EvalAggregate` (status, error code, latency, usage, cost), `results.csv`
/// (status, latency, cost, the sample's tags, the error message) and `junit.xml` (status,
/// latency). The merge pass decodes a run in full only for the samples `report.md` and
/// `report.html` keep (`EvaluationOutput.keepsWholeRun(passing:)`); for the others the transcript,
/// turns, dates and the sample's text are skipped, not decoded.
///
/// The values read are those the full decoder reads (same number and string readers as the
/// coordinator's statistics, `ClusterRunFacts`); anything unexpected — a member of the wrong type,
/// an unknown member, a newer schema — returns nil and the caller decodes the line in full, so its
/// error handling is unchanged.
enum ReportRunReader {
    /// The run of `bytes` (one `RunRecord`'s JSON) with only the members the reports read; nil when
    /// the line should be decoded in full.
    static func read(_ bytes: Data) -> RunRecord? {
        do {
            return try scan(bytes)
        } catch {
            return nil
        }
    }

    /// Members are found with `ClusterCheckedJSON` (the journal line was checked when the record
    /// arrived; the merge reads it back only while the journal is the file the coordinator left),
    /// values read with `JSONByteScanner`'s checked readers.
    private static func scan(_ bytes: Data) throws -> RunRecord? {
        var sampleId: String?, target: String?, status: RunRecord.Status?, tags: [String] = []
        var usage = Usage.zero, cost: Double?, latency = 0.0, error: ErrorInfo?
        var known = true
        let whole = try ClusterCheckedJSON.forEachMember(of: bytes, in: 0..<bytes.count) { name, value in
            guard known else { return }
            switch name {
            case "sampleId": sampleId = try JSONByteScanner.string(bytes, at: value)
            case "target": target = try JSONByteScanner.string(bytes, at: value)
            case "status": status = RunRecord.Status(rawValue: try JSONByteScanner.string(bytes, at: value))
            case "schemaVersion": known = try JSONByteScanner.int(bytes, at: value) <= RunRecord.currentSchemaVersion
            case "costUSD": cost = try JSONByteScanner.optionalDouble(bytes, at: value)
            case "latencyMs":
                if let number = try JSONByteScanner.optionalDouble(bytes, at: value) { latency = number } else { known = false }
            case "usage":
                if let read = try Self.usage(bytes, value) { usage = read } else { known = false }
            case "error":
                guard !JSONByteScanner.isNull(bytes, at: value) else { return }
                if let read = try Self.error(bytes, value) { error = read } else { known = false }
            case "sample":
                if let read = try Self.tags(bytes, value) { tags = read } else { known = false }
            default:
                known = RunRecord.fieldNames.contains(name)
            }
        }
        guard whole, known, let sampleId, let target, let status else { return nil }
        return RunRecord(
            sample: TestSample(id: sampleId, tags: tags), target: target, status: status, usage: usage, costUSD: cost, latencyMs: latency,
            error: error)
    }

    private static func usage(_ bytes: Data, _ range: Range<Int>) throws -> Usage? {
        var usage = Usage.zero
        var known = true
        let whole = try ClusterCheckedJSON.forEachMember(of: bytes, in: range) { name, value in
            switch name {
            case "promptTokens": usage.promptTokens = try JSONByteScanner.int(bytes, at: value)
            case "completionTokens": usage.completionTokens = try JSONByteScanner.int(bytes, at: value)
            case "totalTokens": _ = try JSONByteScanner.int(bytes, at: value)
            default: known = false
            }
        }
        return whole && known ? usage : nil
    }

    private static func error(_ bytes: Data, _ range: Range<Int>) throws -> ErrorInfo? {
        var code: String?, message: String?, status: Int?
        var known = true
        let whole = try ClusterCheckedJSON.forEachMember(of: bytes, in: range) { name, value in
            switch name {
            case "code": code = try JSONByteScanner.string(bytes, at: value)
            case "message": message = try JSONByteScanner.string(bytes, at: value)
            case "status": status = JSONByteScanner.isNull(bytes, at: value) ? nil : try JSONByteScanner.int(bytes, at: value)
            default: known = false
            }
        }
        guard whole, known, let code, let message else { return nil }
        return ErrorInfo(code: code, message: message, status: status)
    }

    /// The sample's tags (an object with a `tags` array of strings, or none).
    private static func tags(_ bytes: Data, _ range: Range<Int>) throws -> [String]? {
        var tags: [String] = []
        var known = true
        let whole = try ClusterCheckedJSON.forEachMember(of: bytes, in: range) { name, value in
            guard name == "tags" else { return }
            known = try ClusterCheckedJSON.forEachElement(of: bytes, in: value) { tags.append(try JSONByteScanner.string(bytes, at: $0)) }
        }
        return whole && known ? tags : nil
    }
}
