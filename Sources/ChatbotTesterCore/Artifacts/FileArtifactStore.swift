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

    /// Writes `data` to `target` atomically: a temp file in the same directory, fsync, rename,
    /// fsync of the directory. A reader sees the old or the new content, never a mix.
    /// - Parameter durable: `false` skips the fsyncs (still atomic, not crash-durable) — for caches.
    public static func atomicWrite(_ data: Data, to target: URL, durable: Bool = true) throws {
        let directory = target.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let temp = directory.appendingPathComponent(".\(target.lastPathComponent).tmp-\(UUID().uuidString)")
            let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            let written = data.withUnsafeBytes { FileJournal.writeAll(fd, $0) }
            let synced = !durable || fsync(fd) == 0
            let failure = errno
            close(fd)
            guard written, synced else {
                unlink(temp.path)
                throw POSIXError(.init(rawValue: failure) ?? .EIO)
            }
            guard rename(temp.path, target.path) == 0 else {
                let failure = errno
                unlink(temp.path)
                throw POSIXError(.init(rawValue: failure) ?? .EIO)
            }
            if durable {
                let dirfd = open(directory.path, O_RDONLY | O_CLOEXEC)
                if dirfd >= 0 {
                    fsync(dirfd)
                    close(dirfd)
                }
            }
        } catch {
            throw ChatbotTesterError(.io, "cannot write \(target.path)", location: SourceLocation(source: target.path), cause: error)
        }
    }

    /// Atomic create: the data goes to a synced temp file that is `link(2)`ed to the key, which
    /// fails when the key exists, so of two racing writers exactly one wins.
    public func createIfAbsent(_ data: Data, at key: String) async throws -> Bool {
        let target = try url(for: key)
        let temp = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).new-\(UUID().uuidString)")
        try FileArtifactStore.atomicWrite(data, to: temp)
        defer { unlink(temp.path) }
        if link(temp.path, target.path) == 0 { return true }
        let failure = errno
        if failure == EEXIST { return false }
        throw ChatbotTesterError(
            .io, "cannot create \(target.path)", location: SourceLocation(source: target.path),
            cause: POSIXError(.init(rawValue: failure) ?? .EIO))
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
        // Walk only below the deepest directory the prefix names.
        let directoryPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
        guard !directoryPart.split(separator: "/").contains("..") else { return [] }
        let start = directoryPart.isEmpty ? base : base + "/" + directoryPart
        guard let enumerator = FileManager.default.enumerator(atPath: start) else { return [] }
        var keys: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let path = directoryPart.isEmpty ? relative : directoryPart + "/" + relative
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
        let reader = JSONL.LineReader(url: target, chunkSize: 1 << 16, includeUnterminated: false)
        return AsyncThrowingStream(unfolding: {
            guard let (line, bytes) = try reader.next() else { return nil }
            return (line, Substring(String(decoding: bytes, as: UTF8.self)))
        })
    }
}

/// A durable append-only file of lines.
///
/// Appends are buffered in memory and written out when the buffer passes `flushThreshold` or on
/// `sync()`, which also fsyncs: a line is durable once a `sync()` after it returned. Opening cuts a
/// torn last line (no trailing newline) left by a crash, so new lines never glue onto a partial
/// one. A failed write is rolled back to the last complete line.
public final class FileJournal: ArtifactJournal, @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var pending = Data()
    private var closed = false
    private let flushThreshold: Int
    public let url: URL

    /// Opens (creating when needed) the journal.
    /// - Parameter flushThreshold: buffered bytes that trigger a write (without fsync).
    public init(url: URL, flushThreshold: Int = 1 << 20) throws {
        self.url = url
        self.flushThreshold = flushThreshold
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ChatbotTesterError(.io, "cannot create \(url.deletingLastPathComponent().path)", location: SourceLocation(source: url.path), cause: error)
        }
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ChatbotTesterError(
                .io, "cannot open journal \(url.path)", location: SourceLocation(source: url.path),
                cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }
        self.fd = fd
        do {
            try FileJournal.truncateTornTail(fd: fd, path: url.path)
        } catch {
            Foundation.close(fd)
            throw error
        }
    }

    deinit {
        if !closed { Foundation.close(fd) }
    }

    /// The length of the file without a torn last line: just after its last newline, or 0.
    static func completeLength(fd: Int32) -> off_t {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return 0 }
        var end = size
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while end > 0 {
            let start = max(0, end - off_t(chunk.count))
            let count = Int(end - start)
            let read = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, start) }
            guard read == count else { return end }
            if let index = chunk[0..<count].lastIndex(of: 0x0A) { return start + off_t(index) + 1 }
            end = start
        }
        return 0
    }

    private static func truncateTornTail(fd: Int32, path: String) throws {
        let size = lseek(fd, 0, SEEK_END)
        let keep = completeLength(fd: fd)
        guard keep != size else { return }
        guard ftruncate(fd, keep) == 0, fsync(fd) == 0 else {
            throw ChatbotTesterError(.io, "cannot cut the torn last line of \(path)", location: SourceLocation(source: path))
        }
    }

    /// Writes every byte, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    public func append(_ line: Data) async throws {
        try lock.withLock {
            guard !closed else { throw ChatbotTesterError(.io, "journal \(url.path) is closed") }
            pending.append(line)
            pending.append(0x0A)
            if pending.count >= flushThreshold { try writePendingLocked() }
        }
    }

    public func sync() async throws {
        try lock.withLock { try syncLocked() }
    }

    private func writePendingLocked() throws {
        guard !pending.isEmpty else { return }
        let before = lseek(fd, 0, SEEK_END)
        let ok = pending.withUnsafeBytes { FileJournal.writeAll(fd, $0) }
        guard ok else {
            // Roll back a partial write so the file still ends at a complete line.
            if before >= 0 { ftruncate(fd, before) }
            throw ChatbotTesterError(.io, "cannot append to \(url.path)", location: SourceLocation(source: url.path))
        }
        pending.removeAll(keepingCapacity: true)
    }

    private func syncLocked() throws {
        guard !closed else { throw ChatbotTesterError(.io, "journal \(url.path) is closed") }
        try writePendingLocked()
        guard fsync(fd) == 0 else { throw ChatbotTesterError(.io, "fsync failed for \(url.path)", location: SourceLocation(source: url.path)) }
    }

    public func close() async throws {
        try lock.withLock {
            guard !closed else { return }
            defer {
                Foundation.close(fd)
                closed = true
            }
            try syncLocked()
        }
    }
}
