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

    /// The file's modification time against that of a probe file created beside it now: both are
    /// set by the file system (on a network file system, by its server), not by this host's clock.
    /// `nil` when the file is absent or no probe can be written there (a read-only mount).
    public func age(of key: String) async throws -> Double? {
        try await ages(of: [key])[key]
    }

    /// `age(of:)` of each key with one probe file per directory (a status read asks for every
    /// attempt of a run at once).
    public func ages(of keys: [String]) async throws -> [String: Double] {
        var byDirectory: [String: [(key: String, modified: timespec)]] = [:]
        for key in keys {
            let target = try url(for: key)
            var file = stat()
            guard lstat(target.path, &file) == 0 else { continue }
            byDirectory[target.deletingLastPathComponent().path, default: []].append((key, file.st_mtim))
        }
        func seconds(_ time: timespec) -> Double { Double(time.tv_sec) + Double(time.tv_nsec) / 1e9 }
        var ages: [String: Double] = [:]
        for (directory, files) in byDirectory {
            guard let now = Self.fileSystemNow(in: directory) else { continue }
            for file in files { ages[file.key] = max(0, seconds(now) - seconds(file.modified)) }
        }
        return ages
    }

    /// The modification time the file system gives a probe file created in `directory` now;
    /// `nil` when none can be written there (a read-only mount).
    private static func fileSystemNow(in directory: String) -> timespec? {
        let probe = directory + "/.age-probe-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return nil }
        var now = stat()
        let stated = fstat(fd, &now) == 0
        close(fd)
        unlink(probe)
        return stated ? now.st_mtim : nil
    }

    /// Writes `data` to `target` atomically: a temp file in the same directory, fsync, rename,
    /// fsync of the directory. A reader sees the old or the new content, never a mix.
    /// - Parameter durable: `false` skips the fsyncs (still atomic, not crash-durable) — for caches.
    public static func atomicWrite(_ data: Data, to target: URL, durable: Bool = true) throws {
        try atomicWrite(to: target, durable: durable) { write in try data.withUnsafeBytes(write) }
    }

    /// Writes `target` atomically as `atomicWrite(_:to:durable:)` does, its bytes handed over by
    /// `fill` in pieces (each call of the function it is given writes one), so a large file is
    /// never held whole. `beforeRename` runs once the temporary file is complete (and durable),
    /// just before it takes `target`'s name: what must exist before the file does (a digest
    /// sidecar) is written there. The temporary file is removed when anything throws.
    public static func atomicWrite(
        to target: URL, durable: Bool = true, fill: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void,
        beforeRename: () throws -> Void = {}
    ) throws {
        let directory = target.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let temp = directory.appendingPathComponent(".\(target.lastPathComponent).tmp-\(UUID().uuidString)")
            let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            var renamed = false
            defer { if !renamed { unlink(temp.path) } }
            do {
                defer { close(fd) }
                try fill { bytes in
                    guard FileJournal.writeAll(fd, bytes) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                }
                guard !durable || fsync(fd) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            }
            try beforeRename()
            guard rename(temp.path, target.path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            renamed = true
            if durable {
                let dirfd = open(directory.path, O_RDONLY | O_CLOEXEC)
                if dirfd >= 0 {
                    fsync(dirfd)
                    close(dirfd)
                }
            }
        } catch let error as ChatbotTesterError {
            throw error
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
            guard let (line, bytes) = try await reader.nextOffPool() else { return nil }
            return (line, Substring(String(decoding: bytes, as: UTF8.self)))
        })
    }
}
