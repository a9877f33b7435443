import Foundation

extension JSONL {
    /// A dataset case as `CaseReader` reads it: its id, and the decoded case when the reader
    /// decoded it.
    public struct DatasetCase: Sendable {
        /// The case's `id`.
        public var id: String
        /// The decoded case: always when the reader decodes every line, else only for a line the
        /// byte check could not vouch for.
        public var sample: TestSample?

        public init(id: String, sample: TestSample?) {
            self.id = id
            self.sample = sample
        }
    }

    /// One line of a dataset as `CaseReader` gives it.
    public struct CaseLine: Sendable {
        /// The line's number (from 1).
        public var line: Int
        /// The line's JSON without the whitespace around it: the case exactly as written.
        public var bytes: Data
        /// The case, or the error naming file, line and field (the one `JSONL.decode` gives).
        public var result: Result<DatasetCase, ChatbotTesterError>
    }

    /// Reads a dataset's lines as cases without decoding those a byte-level check vouches for
    /// (`TestSampleLineCheck`: strict syntax, known fields, the right types, an id without
    /// escapes): such a line gives its id and its bytes. Every other line is decoded
    /// (`JSONL.decode`), which accepts it or gives its file:line:field error, so the verdicts and
    /// messages are those of decoding every line. For a pass that only checks a dataset and keeps
    /// its cases as written (the sharded run's spool), or counts them.
    ///
    /// The file is read a chunk at a time on `BlockingIO`'s queue, off Swift's cooperative pool;
    /// lines are checked on the caller's task. Used by one consumer at a time.
    public final class CaseReader: @unchecked Sendable {
        private let reader: LineReader
        private let decoder = JSONCoding.decoder()
        private let source: String
        private let decodesAll: Bool

        /// - Parameter decodesAll: decode every line (for a caller that reads the cases' fields,
        ///   such as their tags); the byte check is then not run.
        public init(from url: URL, maxLineBytes: Int? = defaultMaxLineBytes, decodesAll: Bool = false) {
            reader = LineReader(url: url, chunkSize: 1 << 16, includeUnterminated: true, maxLineBytes: maxLineBytes)
            source = url.path
            self.decodesAll = decodesAll
        }

        /// The cases of the next lines (those of one chunk read, at least one; nil at the end), in
        /// file order. Throws when the file cannot be read, or on a line longer than the limit.
        public func nextBatch() async throws -> [CaseLine]? {
            guard let lines = try await reader.nextBatchOffPool() else { return nil }
            return lines.map { line, bytes in Self.caseLine(line, bytes, source: source, decoder: decoder, decodesAll: decodesAll) }
        }

        /// One line's case as `nextBatch()` reads it (`bytes`: the line without its newline, from
        /// a file named `source`), for a caller that reads the lines itself.
        public static func caseLine(_ line: Int, _ bytes: Data, source: String, decoder: JSONDecoder, decodesAll: Bool = false) -> CaseLine {
            let (trimmed, id) = bytes.withUnsafeBytes { raw -> (Range<Int>, String?) in
                let bytes = raw.bindMemory(to: UInt8.self)
                var start = 0, end = bytes.count
                while start < end, JSONByteScanner.isWhitespace(bytes[start]) { start += 1 }
                while end > start, JSONByteScanner.isWhitespace(bytes[end - 1]) { end -= 1 }
                guard !decodesAll, let range = TestSampleLineCheck.idRange(bytes) else { return (start..<end, nil) }
                return (start..<end, String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
            }
            let json = bytes[(bytes.startIndex + trimmed.lowerBound)..<(bytes.startIndex + trimmed.upperBound)]
            if let id { return CaseLine(line: line, bytes: json, result: .success(DatasetCase(id: id, sample: nil))) }
            let result = JSONL.decode(TestSample.self, from: bytes, source: source, line: line, decoder: decoder)
            return CaseLine(line: line, bytes: json, result: result.map { DatasetCase(id: $0.id, sample: $0) })
        }
    }
}
