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

    private static func scan(_ bytes: Data) throws -> RunRecord? {
        var sampleId: String?, target: String?, status: RunRecord.Status?, tags: [String] = []
        var usage = Usage.zero, cost: Double?, latency = 0.0, error: ErrorInfo?
        for member in try JSONByteScanner.members(ofObject: bytes) {
            let value = member.value
            switch member.name {
            case "sampleId": sampleId = try JSONByteScanner.string(bytes, at: value)
            case "target": target = try JSONByteScanner.string(bytes, at: value)
            case "status":
                guard let known = RunRecord.Status(rawValue: try JSONByteScanner.string(bytes, at: value)) else { return nil }
                status = known
            case "schemaVersion":
                guard try JSONByteScanner.int(bytes, at: value) <= RunRecord.currentSchemaVersion else { return nil }
            case "costUSD": cost = try JSONByteScanner.optionalDouble(bytes, at: value)
            case "latencyMs":
                guard let number = try JSONByteScanner.optionalDouble(bytes, at: value) else { return nil }
                latency = number
            case "usage":
                guard let read = try Self.usage(bytes, value) else { return nil }
                usage = read
            case "error":
                guard !JSONByteScanner.isNull(bytes, at: value) else { continue }
                guard let read = try Self.error(bytes, value) else { return nil }
                error = read
            case "sample":
                guard let read = try Self.tags(bytes, value) else { return nil }
                tags = read
            default:
                guard RunRecord.fieldNames.contains(member.name) else { return nil }
            }
        }
        guard let sampleId, let target, let status else { return nil }
        return RunRecord(
            sample: TestSample(id: sampleId, tags: tags), target: target, status: status, usage: usage, costUSD: cost, latencyMs: latency,
            error: error)
    }

    private static func usage(_ bytes: Data, _ range: Range<Int>) throws -> Usage? {
        var usage = Usage.zero
        for member in try JSONByteScanner.members(ofObject: bytes, in: range) {
            switch member.name {
            case "promptTokens": usage.promptTokens = try JSONByteScanner.int(bytes, at: member.value)
            case "completionTokens": usage.completionTokens = try JSONByteScanner.int(bytes, at: member.value)
            case "totalTokens": _ = try JSONByteScanner.int(bytes, at: member.value)
            default: return nil
            }
        }
        return usage
    }

    private static func error(_ bytes: Data, _ range: Range<Int>) throws -> ErrorInfo? {
        var code: String?, message: String?, status: Int?
        for member in try JSONByteScanner.members(ofObject: bytes, in: range) {
            switch member.name {
            case "code": code = try JSONByteScanner.string(bytes, at: member.value)
            case "message": message = try JSONByteScanner.string(bytes, at: member.value)
            case "status": status = JSONByteScanner.isNull(bytes, at: member.value) ? nil : try JSONByteScanner.int(bytes, at: member.value)
            default: return nil
            }
        }
        guard let code, let message else { return nil }
        return ErrorInfo(code: code, message: message, status: status)
    }

    /// The sample's tags (an object with a `tags` array of strings, or none).
    private static func tags(_ bytes: Data, _ range: Range<Int>) throws -> [String]? {
        guard bytes[bytes.startIndex + range.lowerBound] == UInt8(ascii: "{") else { return nil }
        guard let tags = try JSONByteScanner.members(ofObject: bytes, in: range).first(where: { $0.name == "tags" })?.value else { return [] }
        return try JSONByteScanner.elements(ofArray: bytes, in: tags).map { try JSONByteScanner.string(bytes, at: $0) }
    }
}
