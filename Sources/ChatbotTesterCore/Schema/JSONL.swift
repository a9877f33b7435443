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
    /// Splits a byte stream into lines; blank lines are skipped but still counted.
    public struct LineSplitter {
        private var buffer = Data()
        private var lineNumber = 0

        public init() {}

        /// Feeds a chunk and returns the complete lines in it.
        public mutating func feed(_ chunk: Data) -> [(line: Int, bytes: Data)] {
            buffer.append(chunk)
            var out: [(Int, Data)] = []
            var start = buffer.startIndex
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                lineNumber += 1
                var end = newline
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                let bytes = buffer[start..<end]
                if !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { out.append((lineNumber, Data(bytes))) }
                start = newline + 1
            }
            buffer = Data(buffer[start...])
            return out
        }

        /// The unterminated last line, if any.
        public mutating func finish() -> (line: Int, bytes: Data)? {
            defer { buffer = Data() }
            guard !buffer.isEmpty, !buffer.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { return nil }
            lineNumber += 1
            return (lineNumber, buffer)
        }
    }

    /// Streams raw lines of a file with their numbers. Throws only for I/O errors.
    ///
    /// Pull-based: a chunk is read only when the consumer asks for the next line, so a slow
    /// consumer never makes lines pile up in memory.
    /// - Parameter includeUnterminated: yield a last line that has no newline (true for datasets;
    ///   false for journals, where it is a torn write).
    public static func lines(
        of url: URL, chunkSize: Int = 1 << 16, includeUnterminated: Bool = true
    ) -> AsyncThrowingStream<(line: Int, bytes: Data), any Error> {
        let reader = LineReader(url: url, chunkSize: chunkSize, includeUnterminated: includeUnterminated)
        return AsyncThrowingStream(unfolding: { try reader.next() })
    }

    /// Reads lines on demand. Used by one consumer at a time (the stream's iterator).
    final class LineReader: @unchecked Sendable {
        private let url: URL
        private let chunkSize: Int
        private let includeUnterminated: Bool
        private var handle: FileHandle?
        private var splitter = LineSplitter()
        private var ready: [(line: Int, bytes: Data)] = []
        private var readyIndex = 0
        private var done = false

        init(url: URL, chunkSize: Int, includeUnterminated: Bool) {
            self.url = url
            self.chunkSize = chunkSize
            self.includeUnterminated = includeUnterminated
        }

        deinit { try? handle?.close() }

        func next() throws -> (line: Int, bytes: Data)? {
            while true {
                if readyIndex < ready.count {
                    defer { readyIndex += 1 }
                    return ready[readyIndex]
                }
                if done { return nil }
                ready.removeAll(keepingCapacity: true)
                readyIndex = 0
                do {
                    if handle == nil { handle = try FileHandle(forReadingFrom: url) }
                    if let chunk = try handle?.read(upToCount: chunkSize), !chunk.isEmpty {
                        ready = splitter.feed(chunk)
                    } else {
                        done = true
                        try? handle?.close()
                        handle = nil
                        if includeUnterminated, let last = splitter.finish() { ready = [last] }
                    }
                } catch {
                    done = true
                    throw ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: error)
                }
            }
        }
    }

    /// Decodes one line, turning any failure into an error naming source, line and field.
    public static func decode<Value: Decodable>(
        _ type: Value.Type, from bytes: Data, source: String?, line: Int, decoder: JSONDecoder = JSONCoding.decoder()
    ) -> Result<Value, ChatbotTesterError> {
        do {
            return .success(try decoder.decode(Value.self, from: bytes))
        } catch {
            return .failure(ChatbotTesterError.decoding(error, source: source, line: line))
        }
    }

    /// Streams decoded entries of a JSONL file; bad lines come through as failures, good lines keep
    /// streaming. Throws only when the file cannot be read.
    public static func read<Value: Decodable & Sendable>(
        _ type: Value.Type, from url: URL
    ) -> AsyncThrowingStream<JSONLEntry<Value>, any Error> {
        let reader = LineReader(url: url, chunkSize: 1 << 16, includeUnterminated: true)
        let decoder = JSONCoding.decoder()
        let source = url.path
        return AsyncThrowingStream(unfolding: {
            guard let (line, bytes) = try reader.next() else { return nil }
            return JSONLEntry(line: line, result: decode(Value.self, from: bytes, source: source, line: line, decoder: decoder))
        })
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
        if !append || !manager.fileExists(atPath: url.path) {
            guard manager.createFile(atPath: url.path, contents: nil) else {
                throw ChatbotTesterError(.io, "cannot create \(url.path)", location: SourceLocation(source: url.path))
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    /// Appends one value as a line.
    public func write<Value: Encodable>(_ value: Value) throws {
        var line = try JSONL.encodeLine(value, encoder: encoder)
        if let masker { line = masker.mask(line) }
        try lock.withLock {
            buffer.append(line)
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
