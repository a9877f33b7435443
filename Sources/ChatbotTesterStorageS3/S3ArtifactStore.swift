import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation

/// An `ArtifactStore` in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2), under a key prefix.
///
/// - Writes are single PUTs (atomic on S3); from `multipartThreshold` bytes on, multipart uploads
///   that appear whole on completion. `write(contentsOf:to:)` streams a file part by part.
/// - `createIfAbsent` is a conditional PUT (`If-None-Match: *`): of two writers exactly one wins.
/// - Reads stream (`lines(of:)`) or fetch a byte range (`read(_:range:)`).
/// - S3 has no append: a journal `K` is a sequence of part objects `K.parts/<attempt>/<seq>`, each
///   written atomically (conditionally) by `sync()`; every `openJournal` is a new attempt (time-ordered
///   id), so two writers on one key never overwrite each other. Reading `K` (`read`, `lines`) gives
///   the object `K` if any, then every part in order; `list` shows the journal as `K`; `delete`
///   removes the parts too.
public struct S3ArtifactStore: ArtifactStore {
    /// Suffix of the folder holding a journal's part objects.
    public static let journalPartsSuffix = ".parts/"

    public let location: S3Location
    public let client: S3Client

    public init(location: S3Location, client: S3Client) {
        self.location = location
        self.client = client
    }

    /// A store for `s3://bucket/prefix`, configured and credentialed from the environment as AWS's
    /// own tools are (see ``S3Configuration/fromEnvironment(_:)`` and ``AWSCredentialChain``).
    public init(url: String, environment: AWSEnvironment = AWSEnvironment(), httpClient: HTTPClient = .shared) throws {
        let location = try S3Location(parsing: url)
        let configuration = try S3Configuration.fromEnvironment(environment)
        let exchange = try? WebIdentityExchange.fromEnvironment(environment, httpClient: httpClient)
        self.init(
            location: location,
            client: S3Client(
                configuration: configuration, credentials: AWSCredentialChain(environment: environment, webIdentity: exchange),
                httpClient: httpClient))
    }

    var bucket: String { location.bucket }

    /// The object key for a store key; keys may not be empty, absolute or contain `..`.
    public func objectKey(_ key: String) throws -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !key.hasPrefix("/"), !parts.contains(".."), !parts.contains("") else {
            throw ChatbotTesterError(.io, "invalid artifact key '\(key)'", location: SourceLocation(source: "\(location)\(key)"))
        }
        return location.objectKey(key)
    }

    func partsPrefix(_ objectKey: String) -> String { objectKey + S3ArtifactStore.journalPartsSuffix }

    public func write(_ data: Data, to key: String) async throws {
        let object = try objectKey(key)
        if data.count >= client.configuration.multipartThreshold {
            try await client.multipartUpload(bucket: bucket, key: object, size: data.count) { offset, length in
                data.subdata(in: data.startIndex + offset..<data.startIndex + offset + length)
            }
        } else {
            try await client.putObject(bucket: bucket, key: object, data: data)
        }
    }

    public func createIfAbsent(_ data: Data, at key: String) async throws -> Bool {
        try await client.putObject(bucket: bucket, key: objectKey(key), data: data, ifAbsent: true)
    }

    /// Streams the file: parts read with `pread`, at most `partConcurrency` parts in memory.
    public func write(contentsOf file: URL, to key: String) async throws {
        let object = try objectKey(key)
        let reader = try FileSlices(url: file)
        if reader.size < client.configuration.multipartThreshold {
            try await client.putObject(bucket: bucket, key: object, data: reader.read(offset: 0, length: reader.size))
        } else {
            try await client.multipartUpload(bucket: bucket, key: object, size: reader.size) { offset, length in
                try reader.read(offset: offset, length: length)
            }
        }
    }

    public func read(_ key: String) async throws -> Data {
        let object = try objectKey(key)
        var data = Data()
        var found = false
        if let response = try await client.getObject(bucket: bucket, key: object) {
            found = true
            for try await piece in response.body { data.append(contentsOf: piece) }
        }
        for part in try await client.listObjects(bucket: bucket, prefix: partsPrefix(object)) {
            found = true
            if let response = try await client.getObject(bucket: bucket, key: part) {
                for try await piece in response.body { data.append(contentsOf: piece) }
            }
        }
        guard found else {
            throw ChatbotTesterError(.io, "no object \(location.url(ofObject: object))", location: SourceLocation(source: location.url(ofObject: object)), status: 404)
        }
        return data
    }

    public func read(_ key: String, range: Range<Int>) async throws -> Data {
        let object = try objectKey(key)
        guard let response = try await client.getObject(bucket: bucket, key: object, range: range) else {
            if range.isEmpty { return Data() }
            let size = try await client.headObject(bucket: bucket, key: object)
            if size != nil { return Data() }
            throw ChatbotTesterError(.io, "no object \(location.url(ofObject: object))", location: SourceLocation(source: location.url(ofObject: object)), status: 404)
        }
        var data = Data()
        for try await piece in response.body { data.append(contentsOf: piece) }
        // A server that ignores Range answers 200 with everything.
        if response.status == 200, data.count > range.count {
            let lower = min(range.lowerBound, data.count)
            return data.subdata(in: lower..<min(data.count, range.upperBound))
        }
        return data
    }

    /// The object's `Last-Modified` against the server's `Date` in the same reply (whole seconds).
    public func age(of key: String) async throws -> Double? {
        try await client.objectAge(bucket: bucket, key: objectKey(key))
    }

    public func exists(_ key: String) async -> Bool {
        guard let object = try? objectKey(key) else { return false }
        if (try? await client.headObject(bucket: bucket, key: object)) ?? nil != nil { return true }
        return !((try? await client.listObjects(bucket: bucket, prefix: partsPrefix(object), limit: 1)) ?? []).isEmpty
    }

    public func list(prefix: String) async throws -> [String] {
        var keys = Set<String>()
        for object in try await client.listObjects(bucket: bucket, prefix: location.prefix + prefix) {
            var key = String(object.dropFirst(location.prefix.count))
            if let range = key.range(of: S3ArtifactStore.journalPartsSuffix) { key = String(key[..<range.lowerBound]) }
            guard key.hasPrefix(prefix) else { continue }
            keys.insert(key)
        }
        return keys.sorted()
    }

    public func delete(_ key: String) async throws {
        let object = try objectKey(key)
        try await client.deleteObject(bucket: bucket, key: object)
        for part in try await client.listObjects(bucket: bucket, prefix: partsPrefix(object)) {
            try await client.deleteObject(bucket: bucket, key: part)
        }
    }

    public func openJournal(_ key: String) async throws -> any ArtifactJournal {
        S3Journal(store: self, partsPrefix: try partsPrefix(objectKey(key)), name: location.url(ofObject: try objectKey(key)))
    }

    /// The object keys a read of `key` streams, in order: the object itself (when present), then journal parts.
    func sources(of key: String) async throws -> [String] {
        let object = try objectKey(key)
        var sources: [String] = []
        if try await client.headObject(bucket: bucket, key: object) != nil { sources.append(object) }
        sources += try await client.listObjects(bucket: bucket, prefix: partsPrefix(object))
        guard !sources.isEmpty else {
            throw ChatbotTesterError(.io, "no object \(location.url(ofObject: object))", location: SourceLocation(source: location.url(ofObject: object)), status: 404)
        }
        return sources
    }

    public func lines(of key: String) -> AsyncThrowingStream<(line: Int, text: Substring), any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: (line: Int, text: Substring).self, bufferingPolicy: .bufferingOldest(256))
        let task = Task {
            do {
                var number = 0
                for source in try await sources(of: key) {
                    guard let response = try await client.getObject(bucket: bucket, key: source) else { continue }
                    var pending: [UInt8] = []
                    for try await piece in response.body {
                        var view = piece[...]
                        while let newline = view.firstIndex(of: 0x0A) {
                            pending += view[view.startIndex..<newline]
                            number += 1
                            let text = Substring(String(decoding: pending, as: UTF8.self))
                            pending.removeAll(keepingCapacity: true)
                            // Back-pressure: wait while the consumer is behind.
                            while case .dropped = continuation.yield((number, text)) {
                                try await Task.sleep(nanoseconds: 1_000_000)
                            }
                            view = view[view.index(after: newline)...]
                        }
                        pending += view
                    }
                    // An unterminated last line is a torn write: skipped, as on a file system.
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// Reads slices of a file with `pread`, never the whole file.
final class FileSlices: Sendable {
    let fd: Int32
    let size: Int
    let path: String

    init(url: URL) throws {
        path = url.path
        fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ChatbotTesterError(.io, "cannot open \(url.path)", location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }
        var info = stat()
        fstat(fd, &info)
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    func read(offset: Int, length: Int) throws -> Data {
        var data = Data(count: length)
        var done = 0
        try data.withUnsafeMutableBytes { buffer in
            while done < length {
                let n = pread(fd, buffer.baseAddress! + done, length - done, off_t(offset + done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    throw ChatbotTesterError(.io, "cannot read \(path) at \(offset + done)", location: SourceLocation(source: path))
                }
                done += n
            }
        }
        return data
    }
}
