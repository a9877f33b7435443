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
    /// The file is read off Swift's cooperative pool (`BlockingIO`).
    public static func validate<Value: Decodable & Sendable>(
        _ type: Value.Type, at url: URL, maxErrors: Int = 50, maxLineBytes: Int? = nil
    ) async throws -> FileValidationReport {
        var report = FileValidationReport(goodLines: 0, badLines: 0, errors: [])
        var seenIDs = IDDigestSet()
        let limit = maxLineBytes ?? (Value.self == TestSample.self ? JSONL.defaultMaxLineBytes : JSONL.maxRecordLineBytes)
        if Value.self == TestSample.self {
            // Reads, checks and counts in one blocking pass: on `BlockingIO`'s queue, off the pool.
            return try await BlockingIO.run {
                var report = FileValidationReport(goodLines: 0, badLines: 0, errors: [])
                var seenIDs = IDDigestSet()
                try validateTestSamples(at: url, maxErrors: maxErrors, maxLineBytes: limit, into: &report, seenIDs: &seenIDs)
                return report
            }
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
    ///
    /// Lines are gathered into batches of about 1 MiB whose halves are checked on two threads at
    /// once; ids are then counted in file order, so duplicates and messages are as in one pass.
    static func validateTestSamples(
        at url: URL, maxErrors: Int, maxLineBytes: Int, into report: inout FileValidationReport, seenIDs: inout IDDigestSet
    ) throws {
        let decoder = JSONCoding.decoder()
        let source = url.path
        var batch = LineBatch()
        func count(_ line: Int, _ bytes: UnsafeBufferPointer<UInt8>, id range: Range<Int>?) {
            let id: String
            if let range {
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
        func flush() {
            let ids = batch.checkInParallel()
            batch.bytes.withUnsafeBufferPointer { all in
                for index in batch.lines.indices {
                    count(batch.lines[index], UnsafeBufferPointer(rebasing: all[batch.starts[index]..<batch.starts[index + 1]]), id: ids[index])
                }
            }
            batch.removeAll()
        }
        try JSONL.forEachLine(of: url, maxLineBytes: maxLineBytes) { line, bytes in
            batch.append(line: line, bytes)
            if batch.bytes.count >= 1 << 20 { flush() }
        }
        flush()
    }

    /// Dataset lines copied side by side, with their line numbers.
    private struct LineBatch {
        var bytes: [UInt8] = []
        /// Where each line starts in `bytes`, and one past the last line's end.
        var starts: [Int] = [0]
        var lines: [Int] = []

        mutating func append(line: Int, _ text: UnsafeBufferPointer<UInt8>) {
            bytes.append(contentsOf: text)
            starts.append(bytes.count)
            lines.append(line)
        }

        mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            starts.removeAll(keepingCapacity: true)
            starts.append(0)
            lines.removeAll(keepingCapacity: true)
        }

        /// Each line's id range (relative to the line) when `TestSampleLineCheck` vouches for it;
        /// the two halves of the batch are checked at once.
        func checkInParallel() -> [Range<Int>?] {
            let count = lines.count
            var ids = [Range<Int>?](repeating: nil, count: count)
            guard count > 0 else { return ids }
            let parts = count >= 64 ? 2 : 1
            bytes.withUnsafeBufferPointer { all in
                starts.withUnsafeBufferPointer { starts in
                    ids.withUnsafeMutableBufferPointer { ids in
                        let shared = Shared(all: all, starts: starts, ids: ids)
                        DispatchQueue.concurrentPerform(iterations: parts) { part in
                            for index in (part * count / parts)..<((part + 1) * count / parts) {
                                shared.ids[index] = TestSampleLineCheck.idRange(
                                    UnsafeBufferPointer(rebasing: shared.all[shared.starts[index]..<shared.starts[index + 1]]))
                            }
                        }
                    }
                }
            }
            return ids
        }

        /// The batch's buffers for the checking threads: both only read `all` and `starts`, each
        /// writes its own half of `ids`, and `concurrentPerform` returns when both are done, while
        /// the buffers are still borrowed.
        private struct Shared: @unchecked Sendable {
            let all: UnsafeBufferPointer<UInt8>
            let starts: UnsafeBufferPointer<Int>
            let ids: UnsafeMutableBufferPointer<Range<Int>?>
        }
    }
}
