import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation

/// Reads a dataset file as a stream of test cases, applying the config's `limit` and `tags`.
public struct DatasetReader: Sendable {
    public let url: URL
    public let limit: Int?
    public let tags: Set<String>?
    /// The longest line accepted.
    public let maxLineBytes: Int

    public init(url: URL, limit: Int? = nil, tags: [String]? = nil, maxLineBytes: Int = JSONL.defaultMaxLineBytes) {
        self.url = url
        self.limit = limit
        self.tags = tags.map(Set.init)
        self.maxLineBytes = maxLineBytes
    }

    /// A reader of `url` with the limits of the config's `dataset:` section.
    public init(url: URL, source: DatasetSource?) {
        self.init(url: url, limit: source?.limit, tags: source?.tags, maxLineBytes: source?.lineLimit ?? JSONL.defaultMaxLineBytes)
    }

    /// What a full pass over the file found.
    public struct Scan: Sendable {
        /// Cases that will run (after `limit` and `tags`).
        public var selected: Int
        /// Lines that are not valid cases.
        public var invalid: Int
        /// The first errors, each naming file, line and field.
        public var errors: [ChatbotTesterError]
    }

    func selects(_ sample: TestSample) -> Bool {
        guard let tags else { return true }
        return !tags.isDisjoint(with: sample.tags)
    }

    /// Reads the whole file once (streaming): counts the cases that will run and collects bad lines.
    /// A case id seen before anywhere in the file is a bad line (`.invalidInput` naming file:line of
    /// the repeat and the line of the first): ids are unique in every mode. Memory holds a 128-bit
    /// digest per id (`IDDigestSet`: about 20 MB for a million cases).
    ///
    /// The file is read a chunk (64 KiB) at a time on `BlockingIO`'s queue, off Swift's cooperative
    /// pool: a dataset on a FIFO or a slow disk suspends the scan instead of holding a thread of the
    /// pool. Lines are checked and `each` is called on the caller's task; without `each` (and
    /// without a `tags` filter) a line is decoded only when the byte check cannot vouch for it
    /// (`JSONL.CaseReader`). A cancelled task stops the scan between chunks (`CancellationError`).
    ///
    /// - Parameter each: called with every selected case, decoded, in order, as long as no bad line
    ///   was found before it: a caller that keeps the cases does it in this same pass. What it
    ///   throws ends the scan.
    public func scan(maxErrors: Int = 20, each: ((TestSample) throws -> Void)? = nil) async throws -> Scan {
        try await scan(maxErrors: maxErrors, decodesAll: each != nil) { line in
            // Every line is decoded when a caller takes the cases.
            if let each, case .success(let found) = line.result, let sample = found.sample { try each(sample) }
        }
    }

    /// `scan(maxErrors:each:)` for a caller that keeps each case as written (the sharded run's
    /// spool): `each` gets the selected cases' lines — the JSON as written and the id — and a
    /// line is decoded only when the byte check cannot vouch for it (`JSONL.CaseReader`) or the
    /// `tags` filter reads it. Same verdicts, messages and selection as `scan(maxErrors:each:)`.
    public func scanLines(maxErrors: Int = 20, each: (JSONL.CaseLine) throws -> Void) async throws -> Scan {
        try await scan(maxErrors: maxErrors, decodesAll: false, each: each)
    }

    private func scan(maxErrors: Int, decodesAll: Bool, each: (JSONL.CaseLine) throws -> Void) async throws -> Scan {
        var scan = Scan(selected: 0, invalid: 0, errors: [])
        // Ids only (16 bytes each); the first line of a repeated id is found by a second pass, which
        // only a file with duplicates (an error) needs.
        var ids = IDDigestSet()
        var repeats: [(id: String, line: Int, error: Int)] = []
        // A chunk's lines at a time: one suspension per chunk read, none per line.
        let entries = JSONL.CaseReader(from: url, maxLineBytes: maxLineBytes, decodesAll: decodesAll || tags != nil)
        var sized = false
        while let batch = try await entries.nextBatch() {
            try Task.checkCancellation()
            if !sized {
                sized = true
                if let expected = Self.expectedCases(in: url, from: batch) { ids.reserveCapacity(expected) }
            }
            for entry in batch {
                switch entry.result {
                case .success(let found):
                    if !ids.insert(found.id) {
                        scan.invalid += 1
                        if scan.errors.count < maxErrors {
                            // Filled in below, once the first line of the id is known.
                            repeats.append((found.id, entry.line, scan.errors.count))
                            scan.errors.append(ChatbotTesterError(.invalidInput, "duplicate case id '\(found.id)'"))
                        }
                        continue
                    }
                    if found.sample.map(selects) ?? true, limit.map({ scan.selected < $0 }) ?? true {
                        scan.selected += 1
                        if scan.invalid == 0 { try each(entry) }
                    }
                case .failure(let error):
                    scan.invalid += 1
                    if scan.errors.count < maxErrors { scan.errors.append(error) }
                }
            }
        }
        guard !repeats.isEmpty else { return scan }
        var firstLines = IDDigestSet(expectedCount: repeats.count, values: true)
        for repeated in repeats { _ = firstLines.insert(repeated.id, value: 0) }
        let again = JSONL.CaseReader(from: url, maxLineBytes: maxLineBytes)
        while let batch = try await again.nextBatch() {
            try Task.checkCancellation()
            for entry in batch {
                guard case .success(let found) = entry.result, firstLines.value(of: found.id) == 0 else { continue }
                firstLines.update(found.id, value: entry.line)
            }
        }
        for (id, line, index) in repeats {
            scan.errors[index] = ChatbotTesterError(
                .invalidInput, "duplicate case id '\(id)' (first on line \(firstLines.value(of: id) ?? 0)); case ids must be unique",
                location: SourceLocation(source: url.path, line: line, field: "id"))
        }
        return scan
    }

    /// How many cases a regular file of lines holds, judged from its size and the bytes of its
    /// first lines (`batch`): nil when it cannot tell (a FIFO, standard input, fewer than 64 lines). At most 2²⁰, so a guess thrown off by short first
    /// lines reserves at most 20 MB (`IDDigestSet` grows past it as usual): the scan's set of ids
    /// then takes its size at once instead of growing to it a half at a time.
    static func expectedCases(in url: URL, from batch: [JSONL.CaseLine]) -> Int? {
        var info = stat()
        guard batch.count >= 64, stat(url.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG
        else { return nil }
        let bytes = batch.reduce(0) { $0 + $1.bytes.count + 1 }
        guard bytes > 0 else { return nil }
        return min(1 << 20, Int(Double(info.st_size) / Double(bytes) * Double(batch.count) * 1.05))
    }

    /// The selected cases, pulled one at a time (invalid lines are skipped: `scan` reports them).
    public func samples() -> AsyncThrowingStream<TestSample, any Error> {
        let state = ReadState(entries: JSONL.read(TestSample.self, from: url, maxLineBytes: maxLineBytes).makeAsyncIterator())
        let limit = limit
        let filter: @Sendable (TestSample) -> Bool = { [tags] sample in
            guard let tags else { return true }
            return !tags.isDisjoint(with: sample.tags)
        }
        return AsyncThrowingStream(unfolding: {
            if let limit, state.yielded >= limit { return nil }
            while let entry = try await state.entries.next() {
                guard case .success(let sample) = entry.result, filter(sample) else { continue }
                state.yielded += 1
                return sample
            }
            return nil
        })
    }

    /// The cases of `samples()`, which the Runner reads without a task per case when the dataset
    /// is a regular file (a pipe or standard input is read as `samples()`).
    public func runnerSamples() -> DatasetSamples {
        DatasetSamples(reader: self)
    }

    /// Iterator state, used by one consumer at a time.
    private final class ReadState: @unchecked Sendable {
        var entries: AsyncThrowingStream<JSONLEntry<TestSample>, any Error>.AsyncIterator
        var yielded = 0
        init(entries: AsyncThrowingStream<JSONLEntry<TestSample>, any Error>.AsyncIterator) {
            self.entries = entries
        }
    }
}

/// A dataset's selected cases (`DatasetReader.samples()`), also readable without suspending.
public struct DatasetSamples: ImmediateSampleSequence {
    public typealias Element = TestSample
    let reader: DatasetReader

    public func makeAsyncIterator() -> AsyncThrowingStream<TestSample, any Error>.AsyncIterator {
        reader.samples().makeAsyncIterator()
    }

    /// Reads a regular file in the Runner's loop; `nil` for anything else (a pipe may wait).
    public func makeImmediateReader() -> ImmediateSampleReader? {
        var info = stat()
        guard stat(reader.url.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        let entries = JSONL.EntryReader(TestSample.self, from: reader.url, maxLineBytes: reader.maxLineBytes)
        let limit = reader.limit
        let reader = reader
        var yielded = 0
        return ImmediateSampleReader {
            if let limit, yielded >= limit { return nil }
            while let entry = try entries.next() {
                guard case .success(let sample) = entry.result, reader.selects(sample) else { continue }
                yielded += 1
                return sample
            }
            return nil
        }
    }
}
