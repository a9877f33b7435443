import Foundation

/// The outcome of checking a JSONL file line by line.
public struct FileValidationReport: Sendable {
    /// Lines that decoded.
    public var goodLines: Int
    /// Lines that did not.
    public var badLines: Int
    /// The first errors, each naming file, line and field.
    public var errors: [ChatbotTesterError]

    public init(goodLines: Int, badLines: Int, errors: [ChatbotTesterError]) {
        self.goodLines = goodLines
        self.badLines = badLines
        self.errors = errors
    }
}

/// Line-by-line checks of JSONL files (`chatbot-tester validate`).
public enum FileValidation {
    /// Decodes every line of `url` as `Value`, collecting bad lines. Also reports duplicate ids
    /// for test cases. Throws when the file cannot be read or has a line longer than
    /// `maxLineBytes` (default: 16 MiB for test cases, `JSONL.maxRecordLineBytes` for records).
    public static func validate<Value: Decodable & Sendable>(
        _ type: Value.Type, at url: URL, maxErrors: Int = 50, maxLineBytes: Int? = nil
    ) async throws -> FileValidationReport {
        var report = FileValidationReport(goodLines: 0, badLines: 0, errors: [])
        var seenIDs = IDDigestSet()
        let limit = maxLineBytes ?? (Value.self == TestSample.self ? JSONL.defaultMaxLineBytes : JSONL.maxRecordLineBytes)
        if Value.self == TestSample.self {
            try validateTestSamples(at: url, maxErrors: maxErrors, maxLineBytes: limit, into: &report, seenIDs: &seenIDs)
            return report
        }
        for try await entry in JSONL.read(Value.self, from: url, maxLineBytes: limit) {
            switch entry.result {
            case .success(let value):
                if let sample = value as? TestSample, !seenIDs.insert(sample.id) {
                    report.badLines += 1
                    if report.errors.count < maxErrors {
                        report.errors.append(
                            ChatbotTesterError(
                                .invalidInput, "duplicate id '\(sample.id)'",
                                location: SourceLocation(source: url.path, line: entry.line, field: "id")))
                    }
                } else {
                    report.goodLines += 1
                }
            case .failure(let error):
                report.badLines += 1
                if report.errors.count < maxErrors { report.errors.append(error) }
            }
        }
        return report
    }

    /// Test cases at disk speed: each line is checked in the read buffer (`TestSampleLineCheck`);
    /// only a line the check does not vouch for is decoded, which gives its error or accepts it.
    /// Same verdicts and messages as decoding every line.
    static func validateTestSamples(
        at url: URL, maxErrors: Int, maxLineBytes: Int, into report: inout FileValidationReport, seenIDs: inout IDDigestSet
    ) throws {
        let decoder = JSONCoding.decoder()
        let source = url.path
        try JSONL.forEachLine(of: url, maxLineBytes: maxLineBytes) { line, bytes in
            let id: String
            if let range = TestSampleLineCheck.idRange(bytes) {
                id = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            } else {
                switch JSONL.decode(TestSample.self, from: Data(bytes), source: source, line: line, decoder: decoder) {
                case .success(let sample): id = sample.id
                case .failure(let error):
                    report.badLines += 1
                    if report.errors.count < maxErrors { report.errors.append(error) }
                    return
                }
            }
            if seenIDs.insert(id) {
                report.goodLines += 1
            } else {
                report.badLines += 1
                if report.errors.count < maxErrors {
                    report.errors.append(
                        ChatbotTesterError(.invalidInput, "duplicate id '\(id)'", location: SourceLocation(source: source, line: line, field: "id")))
                }
            }
        }
    }
}
