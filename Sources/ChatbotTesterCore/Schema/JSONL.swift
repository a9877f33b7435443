import Foundation

/// One line of a JSONL file: its 1-based number and the decoded value or the error naming
/// file, line and field.
public struct JSONLEntry<Value: Sendable>: Sendable {
    public var line: Int
    public var result: Result<Value, ChatbotTesterError>

    public init(line: Int, result: Result<Value, ChatbotTesterError>) {
        self.line = line
        self.result = result
    }
}

/// Streaming JSONL: lines are read in chunks, so a file of any size never sits in memory.
public enum JSONL {
    /// The longest line read unless told otherwise: 16 MiB. A longer line is an error naming it,
    /// so a file without newlines (or `/dev/zero`) cannot grow memory without end.
    public static let defaultMaxLineBytes = 16 << 20

    /// The longest run or eval record line read unless told otherwise: 256 MiB. A record holds a
    /// whole transcript, and one reply may be up to 64 MiB.
    public static let maxRecordLineBytes = 256 << 20

    /// Splits a byte stream into lines; blank lines are skipped but still counted. A byte order
    /// mark at the start of the first line is dropped (anywhere else it stays, and strict decoding
    /// refuses it).
    ///
    /// Linear in the input: newlines are found with `memchr`, and every byte is copied at most
    /// twice (into the pending partial line, then out as a line).
    public struct LineSplitter {
        private var pending = Data()
        private var lineNumber = 0
        /// The longest line accepted, in bytes (`nil`: no limit).
        public let maxLineBytes: Int?
        /// The number of the first line longer than `maxLineBytes`; the splitter stops there.
        public private(set) var overlongLine: Int?

        public init(maxLineBytes: Int? = nil) {
            self.maxLineBytes = maxLineBytes
        }

        /// Feeds a chunk and returns the complete lines in it (none once a line was too long).
        public mutating func feed(_ chunk: Data) -> [(line: Int, bytes: Data)] {
            guard overlongLine == nil else { return [] }
            var out: [(line: Int, bytes: Data)] = []
            chunk.withUnsafeBytes { raw in
                guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
                let count = raw.count
                var start = 0
                while start < count, let hit = memchr(base + start, 0x0A, count - start) {
                    let newline = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                    lineNumber += 1
                    var line: Data
                    if pending.isEmpty {
                        line = Data(bytes: base + start, count: newline - start)
                    } else {
                        pending.append(base + start, count: newline - start)
                        line = pending
                        pending = Data()
                    }
                    start = newline + 1
                    if line.last == 0x0D { line.removeLast() }
                    if let maxLineBytes, line.count > maxLineBytes {
                        overlongLine = lineNumber
                        return
                    }
                    if let kept = Self.content(line, lineNumber: lineNumber) { out.append((lineNumber, kept)) }
                }
                if start < count { pending.append(base + start, count: count - start) }
                if let maxLineBytes, pending.count > maxLineBytes + 1 { overlongLine = lineNumber + 1 }
            }
            return out
        }

        /// The unterminated last line, if any.
        public mutating func finish() -> (line: Int, bytes: Data)? {
            defer { pending = Data() }
            guard overlongLine == nil, !pending.isEmpty else { return nil }
            if let maxLineBytes, pending.count > maxLineBytes {
                overlongLine = lineNumber + 1
                return nil
            }
            lineNumber += 1
            var line = pending
            if line.last == 0x0D { line.removeLast() }
            return Self.content(line, lineNumber: lineNumber).map { (lineNumber, $0) }
        }

        /// The line without a leading byte order mark on line 1; nil when only blanks are left.
        private static func content(_ line: Data, lineNumber: Int) -> Data? {
            var line = line
            if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = Data(line.dropFirst(3)) }
            let blank = line.withUnsafeBytes { raw in raw.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
            return blank ? nil : line
        }
    }

    /// Streams raw lines of a file with their numbers. Throws for I/O errors, a device file and a
    /// line longer than `maxLineBytes`.
    ///
    /// Pull-based: a chunk is read only when the consumer asks for the next line, so a slow
    /// consumer never makes lines pile up in memory. Reads run on `BlockingIO`'s queue, off Swift's
    /// cooperative pool (a FIFO may wait for its writer); lines are handed out on the consumer's task.
    /// - Parameter includeUnterminated: yield a last line that has no newline (true for datasets;
    ///   false for journals, where it is a torn write).
    /// - Parameter maxLineBytes: the longest line accepted (`nil`: no limit).
    public static func lines(
        of url: URL, chunkSize: Int = 1 << 16, includeUnterminated: Bool = true, maxLineBytes: Int? = defaultMaxLineBytes
    ) -> AsyncThrowingStream<(line: Int, bytes: Data), any Error> {
        let reader = LineReader(url: url, chunkSize: chunkSize, includeUnterminated: includeUnterminated, maxLineBytes: maxLineBytes)
        return AsyncThrowingStream(unfolding: { try await reader.nextOffPool() })
    }

    /// Streams raw lines of a file in batches (the complete lines of each chunk read), with their
    /// numbers: for consumers that hand many lines at once to another task, such as `evaluate`
    /// decoding and scoring a batch per task. Errors and limits as `lines(of:)`.
    public static func lineBatches(
        of url: URL, chunkSize: Int = 1 << 18, includeUnterminated: Bool = true, maxLineBytes: Int? = defaultMaxLineBytes
    ) -> AsyncThrowingStream<[(line: Int, bytes: Data)], any Error> {
        let reader = LineReader(url: url, chunkSize: chunkSize, includeUnterminated: includeUnterminated, maxLineBytes: maxLineBytes)
        return AsyncThrowingStream(unfolding: { try await reader.nextBatchOffPool() })
    }

    /// Reads lines on demand. Used by one consumer at a time (the stream's iterator).
    ///
    /// Regular files, FIFOs and standard input (`/dev/stdin`) are read; other device files
    /// (`/dev/zero`, `/dev/urandom`) are refused, as are directories. A chunk is what one read
    /// gives (up to `chunkSize`), so lines written to a pipe come through as they are written.
    final class LineReader: @unchecked Sendable {
        private let url: URL
        private let chunkSize: Int
        private let includeUnterminated: Bool
        private var handle: FileHandle?
        private var splitter: LineSplitter
        private var ready: [(line: Int, bytes: Data)] = []
        private var readyIndex = 0
        private var done = false
        private var failure: ChatbotTesterError?

        init(url: URL, chunkSize: Int, includeUnterminated: Bool, maxLineBytes: Int? = nil) {
            self.url = url
            self.chunkSize = chunkSize
            self.includeUnterminated = includeUnterminated
            self.splitter = LineSplitter(maxLineBytes: maxLineBytes)
        }

        deinit { try? handle?.close() }

        /// The next line and every line already split after it (at least one; nil at the end).
        func nextBatch() throws -> [(line: Int, bytes: Data)]? {
            guard let first = try next() else { return nil }
            var batch = [first]
            if readyIndex < ready.count {
                batch.append(contentsOf: ready[readyIndex...])
                readyIndex = ready.count
            }
            return batch
        }

        /// `next()`, with the read of a chunk (when none is left) on `BlockingIO`'s queue.
        func nextOffPool() async throws -> (line: Int, bytes: Data)? {
            if readyIndex < ready.count {
                defer { readyIndex += 1 }
                return ready[readyIndex]
            }
            return try await BlockingIO.run { try self.next() }
        }

        /// `nextBatch()` on `BlockingIO`'s queue (one hop per chunk read).
        func nextBatchOffPool() async throws -> [(line: Int, bytes: Data)]? {
            try await BlockingIO.run { try self.nextBatch() }
        }

        /// What one `read(2)` gives, up to `count` bytes (empty at the end of the file): a pipe
        /// hands over the lines written so far instead of waiting for a whole chunk.
        static func readSome(_ fd: Int32, upTo count: Int) throws -> Data {
            var chunk = Data(count: count)
            var failure: Int32 = 0
            let got = chunk.withUnsafeMutableBytes { raw -> Int in
                while true {
                    let result = Foundation.read(fd, raw.baseAddress, count)
                    if result >= 0 { return result }
                    failure = errno
                    if failure != EINTR { return result }
                }
            }
            guard got >= 0 else { throw POSIXError(.init(rawValue: failure) ?? .EIO) }
            chunk.count = got
            return chunk
        }

        func next() throws -> (line: Int, bytes: Data)? {
            while true {
                if readyIndex < ready.count {
                    defer { readyIndex += 1 }
                    return ready[readyIndex]
                }
                if let failure {
                    self.failure = nil
                    done = true
                    throw failure
                }
                if done { return nil }
                ready.removeAll(keepingCapacity: true)
                readyIndex = 0
                do {
                    if handle == nil { handle = try JSONL.openInput(url) }
                    if let handle, case let chunk = try Self.readSome(handle.fileDescriptor, upTo: chunkSize), !chunk.isEmpty {
                        ready = splitter.feed(chunk)
                    } else {
                        done = true
                        try? handle?.close()
                        handle = nil
                        if includeUnterminated, let last = splitter.finish() { ready = [last] }
                    }
                } catch let error as ChatbotTesterError {
                    done = true
                    throw error
                } catch {
                    done = true
                    throw ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: error)
                }
                if let line = splitter.overlongLine, let limit = splitter.maxLineBytes {
                    try? handle?.close()
                    handle = nil
                    done = true
                    failure = ChatbotTesterError(
                        .invalidInput,
                        "line is longer than \(JSONL.describeBytes(limit)) (the limit; a dataset can raise it with dataset.maxLineBytes)",
                        location: SourceLocation(source: url.path, line: line))
                }
            }
        }
    }

    /// Opens `url` for reading, refusing directories and device files other than standard input
    /// (`/dev/zero` would never end). Regular files, FIFOs and `/dev/stdin` are fine.
    public static func openInput(_ url: URL) throws -> FileHandle {
        let fd = Foundation.open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ChatbotTesterError(
                .io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }
        var info = stat()
        let kind = fstat(fd, &info) == 0 ? info.st_mode & S_IFMT : S_IFREG
        let standardInput = url.path == "/dev/stdin" || url.path == "/proc/self/fd/0"
        if kind == S_IFDIR || ((kind == S_IFCHR || kind == S_IFBLK) && !standardInput) {
            Foundation.close(fd)
            throw ChatbotTesterError(
                .invalidInput,
                "\(url.path) is \(kind == S_IFDIR ? "a directory" : "a device"), not a file of lines (give a file, a FIFO or - for standard input)",
                location: SourceLocation(source: url.path))
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// `16 MiB`, `512 KiB`, `100 bytes`.
    static func describeBytes(_ count: Int) -> String {
        if count >= 1 << 20, count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
        if count >= 1 << 10, count % (1 << 10) == 0 { return "\(count >> 10) KiB" }
        return "\(count) bytes"
    }

    /// Decodes one line, turning any failure into an error naming source, line and field.
    public static func decode<Value: Decodable>(
        _ type: Value.Type, from bytes: Data, source: String?, line: Int, decoder: JSONDecoder = JSONCoding.decoder()
    ) -> Result<Value, ChatbotTesterError> {
        do {
            // A record in its usual shape is checked and read in one pass (the strict byte reader
            // refuses what the check refuses); anything else gets the check, then the decoder.
            if case .iso8601 = decoder.dateDecodingStrategy, let fast = FastRecordDecoding.decodeBytes(Value.self, from: bytes, strict: true) {
                return .success(fast)
            }
            try StrictJSONSyntax.check(bytes)
            return .success(try JSONCoding.decodeRecord(Value.self, from: bytes, decoder: decoder))
        } catch {
            return .failure(ChatbotTesterError.decoding(error, source: source, line: line))
        }
    }

    /// Streams decoded entries of a JSONL file; bad lines come through as failures, good lines keep
    /// streaming. The file is read off the cooperative pool (`lines(of:)`), lines decoded on the
    /// consumer's task. Throws when the file cannot be read, is a device, or has a line longer than
    /// `maxLineBytes` (by default `maxRecordLineBytes`; datasets pass their own, 16 MiB unless set).
    public static func read<Value: Decodable & Sendable>(
        _ type: Value.Type, from url: URL, maxLineBytes: Int? = maxRecordLineBytes
    ) -> AsyncThrowingStream<JSONLEntry<Value>, any Error> {
        let entries = EntryReader(Value.self, from: url, maxLineBytes: maxLineBytes)
        return AsyncThrowingStream(unfolding: { try await entries.nextOffPool() })
    }

    /// `read(_:from:maxLineBytes:)`'s entries, taken one at a time without suspending (a call may
    /// block on a read of the file): for a consumer that cannot afford a task hop per line, such as
    /// the Runner reading a dataset. Used by one consumer at a time. The async `nextOffPool()` and
    /// `nextBatch()` read on `BlockingIO`'s queue instead and decode on the caller's task.
    public final class EntryReader<Value: Decodable & Sendable>: @unchecked Sendable {
        private let reader: LineReader
        private let decoder = JSONCoding.decoder()
        private let source: String

        public init(_ type: Value.Type, from url: URL, maxLineBytes: Int? = maxRecordLineBytes) {
            reader = LineReader(url: url, chunkSize: 1 << 16, includeUnterminated: true, maxLineBytes: maxLineBytes)
            source = url.path
        }

        /// The next entry (a good line or the error of a bad one), or nil at the end. Throws as `read`.
        public func next() throws -> JSONLEntry<Value>? {
            guard let (line, bytes) = try reader.next() else { return nil }
            return entry(line, bytes)
        }

        /// `next()`, with any read of the file on `BlockingIO`'s queue, off Swift's cooperative pool.
        public func nextOffPool() async throws -> JSONLEntry<Value>? {
            guard let (line, bytes) = try await reader.nextOffPool() else { return nil }
            return entry(line, bytes)
        }

        /// The entries of the next lines (those of one chunk read, at least one; nil at the end),
        /// in file order: the file is read on `BlockingIO`'s queue, off Swift's cooperative pool,
        /// and the lines are decoded on the caller's task. Throws as `read`.
        public func nextBatch() async throws -> [JSONLEntry<Value>]? {
            guard let lines = try await reader.nextBatchOffPool() else { return nil }
            return lines.map { line, bytes in entry(line, bytes) }
        }

        /// One line's entry. Datasets' cases (the most lines read) take a lane specialized for
        /// them: this class is generic and used from other modules, so its code is not specialized,
        /// and each line would otherwise pay for generic metadata and casts.
        private func entry(_ line: Int, _ bytes: Data) -> JSONLEntry<Value> {
            if Value.self == TestSample.self {
                return unsafeBitCast(
                    JSONLEntry(line: line, result: decode(TestSample.self, from: bytes, source: source, line: line, decoder: decoder)),
                    to: JSONLEntry<Value>.self)
            }
            return JSONLEntry(line: line, result: decode(Value.self, from: bytes, source: source, line: line, decoder: decoder))
        }
    }

    /// Encodes a value as one JSONL line (with trailing newline), sorted keys.
    public static func encodeLine<Value: Encodable>(_ value: Value, encoder: JSONEncoder = JSONCoding.encoder()) throws -> Data {
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }
}

/// Writes JSONL to a file through a buffer; `flush` writes it out, `close` also fsyncs.
public final class JSONLWriter: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()
    private var buffer = Data()
    private let encoder = JSONCoding.encoder()
    private let bufferLimit: Int
    private let masker: SecretMasker?
    public let url: URL

    /// Creates (or truncates, unless `append`) the file.
    /// - Parameter masker: masks each line (for text a model wrote, such as generated cases).
    public init(url: URL, append: Bool = false, bufferLimit: Int = 1 << 16, masker: SecretMasker? = nil) throws {
        self.url = url
        self.bufferLimit = bufferLimit
        self.masker = masker
        let manager = FileManager.default
        try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        handle = try FileHandle.opening(url, for: append ? .appending : .truncating)
    }

    /// Appends one value as a line.
    public func write<Value: Encodable>(_ value: Value) throws {
        // Evaluation and run records (millions per run) skip JSONEncoder: the same bytes, written directly.
        if masker == nil, let bytes = FastRecordEncoding.anyLine(value) {
            try lock.withLock {
                buffer.append(contentsOf: bytes)
                if buffer.count >= bufferLimit { try flushLocked() }
            }
            return
        }
        var line = try JSONL.encodeLine(value, encoder: encoder)
        if let masker { line = masker.mask(line) }
        try lock.withLock {
            buffer.append(line)
            if buffer.count >= bufferLimit { try flushLocked() }
        }
    }

    /// Appends lines already encoded (each with its newline), such as `FastRecordEncoding.line`s.
    public func write(lines: [UInt8]) throws {
        if let masker {
            let masked = masker.mask(Data(lines))
            try lock.withLock {
                buffer.append(masked)
                if buffer.count >= bufferLimit { try flushLocked() }
            }
            return
        }
        try lock.withLock {
            // A chunk as large as the buffer goes to the file as it is (not copied into the buffer
            // first) once what the buffer holds, which comes before it, is written.
            if lines.count >= bufferLimit {
                try flushLocked()
                try handle.write(contentsOf: lines)
                return
            }
            buffer.append(contentsOf: lines)
            if buffer.count >= bufferLimit { try flushLocked() }
        }
    }

    /// Writes buffered lines to the file.
    public func flush() throws {
        try lock.withLock { try flushLocked() }
    }

    private func flushLocked() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, fsyncs and closes.
    public func close() throws {
        try lock.withLock {
            try flushLocked()
            try handle.synchronize()
            try handle.close()
        }
    }
}
