import Foundation

/// An `ArtifactStore` on the local file system, rooted at a directory.
///
/// Writes go to a temporary file that is fsync'd and renamed over the target, so a crash leaves the
/// old or the new file. Journals append with `write(2)` and `fsync` on `sync()`.
public struct FileArtifactStore: ArtifactStore {
    /// The root directory; keys are paths below it.
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// The file URL for a key. Keys may not escape the root.
    public func url(for key: String) throws -> URL {
        let parts = key.split(separator: "/")
        guard !key.isEmpty, !key.hasPrefix("/"), !parts.contains(".."), !parts.isEmpty else {
            throw ChatbotTesterError(.io, "invalid artifact key '\(key)'")
        }
        return root.appendingPathComponent(key)
    }

    public func write(_ data: Data, to key: String) async throws {
        let target = try url(for: key)
        try FileArtifactStore.atomicWrite(data, to: target)
    }

    /// Writes `data` to `target` atomically: temp file in the same directory, fsync, rename, fsync dir.
    public static func atomicWrite(_ data: Data, to target: URL) throws {
        let directory = target.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let temp = directory.appendingPathComponent(".\(target.lastPathComponent).tmp-\(UUID().uuidString)")
            let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            var ok = true
            data.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n <= 0 { ok = false; return }
                    offset += n
                }
            }
            let synced = fsync(fd) == 0
            close(fd)
            guard ok, synced else {
                unlink(temp.path)
                throw POSIXError(.EIO)
            }
            guard rename(temp.path, target.path) == 0 else {
                unlink(temp.path)
                throw POSIXError(.init(rawValue: errno) ?? .EIO)
            }
            let dirfd = open(directory.path, O_RDONLY)
            if dirfd >= 0 {
                fsync(dirfd)
                close(dirfd)
            }
        } catch {
            throw ChatbotTesterError(.io, "cannot write \(target.path)", location: SourceLocation(source: target.path), cause: error)
        }
    }

    public func read(_ key: String) async throws -> Data {
        let target = try url(for: key)
        do {
            return try Data(contentsOf: target)
        } catch {
            throw ChatbotTesterError(.io, "cannot read \(target.path)", location: SourceLocation(source: target.path), cause: error)
        }
    }

    public func exists(_ key: String) async -> Bool {
        guard let target = try? url(for: key) else { return false }
        return FileManager.default.fileExists(atPath: target.path)
    }

    public func list(prefix: String) async throws -> [String] {
        let base = root.standardizedFileURL.path
        guard let enumerator = FileManager.default.enumerator(atPath: base) else { return [] }
        var keys: [String] = []
        while let path = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: base + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue, path.hasPrefix(prefix), !(path as NSString).lastPathComponent.hasPrefix(".") {
                keys.append(path)
            }
        }
        return keys.sorted()
    }

    public func delete(_ key: String) async throws {
        let target = try url(for: key)
        if FileManager.default.fileExists(atPath: target.path) {
            try FileManager.default.removeItem(at: target)
        }
    }

    public func openJournal(_ key: String) async throws -> any ArtifactJournal {
        try FileJournal(url: url(for: key))
    }

    public func lines(of key: String) -> AsyncThrowingStream<(line: Int, text: Substring), any Error> {
        guard let target = try? url(for: key) else {
            return AsyncThrowingStream { $0.finish(throwing: ChatbotTesterError(.io, "invalid artifact key '\(key)'")) }
        }
        let raw = JSONL.lines(of: target, includeUnterminated: false)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await (line, bytes) in raw {
                        continuation.yield((line, Substring(String(decoding: bytes, as: UTF8.self))))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// A durable append-only file. Appends are buffered in memory until `sync()`, which writes and fsyncs.
public final class FileJournal: ArtifactJournal, @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var pending = Data()
    private var closed = false
    public let url: URL

    /// Opens (creating when needed) the journal. A torn last line left by a crash is cut off first,
    /// so new lines never glue onto a partial one.
    public init(url: URL) throws {
        self.url = url
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else {
            throw ChatbotTesterError(.io, "cannot open journal \(url.path)", location: SourceLocation(source: url.path))
        }
        self.fd = fd
        try FileJournal.truncateTornTail(fd: fd)
        lseek(fd, 0, SEEK_END)
    }

    deinit {
        if !closed { Foundation.close(fd) }
    }

    private static func truncateTornTail(fd: Int32) throws {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return }
        var position = size
        var byte: UInt8 = 0
        // Walk back to the last newline.
        while position > 0 {
            pread(fd, &byte, 1, position - 1)
            if byte == 0x0A { break }
            position -= 1
        }
        if position != size { ftruncate(fd, position) }
    }

    public func append(_ line: Data) async throws {
        lock.withLock {
            pending.append(line)
            pending.append(0x0A)
        }
    }

    public func sync() async throws {
        try lock.withLock { try syncLocked() }
    }

    private func syncLocked() throws {
        guard !closed else { throw ChatbotTesterError(.io, "journal \(url.path) is closed") }
        if !pending.isEmpty {
            var failed = false
            pending.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n <= 0 { failed = true; return }
                    offset += n
                }
            }
            if failed { throw ChatbotTesterError(.io, "cannot append to \(url.path)", location: SourceLocation(source: url.path)) }
            pending.removeAll(keepingCapacity: true)
        }
        guard fsync(fd) == 0 else { throw ChatbotTesterError(.io, "fsync failed for \(url.path)") }
    }

    public func close() async throws {
        try lock.withLock {
            guard !closed else { return }
            try syncLocked()
            Foundation.close(fd)
            closed = true
        }
    }
}
