import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation

/// A job's outputs in a remote store (`--out s3://bucket/prefix`).
///
/// The run works in a private local staging directory (mode 0700, under the temporary directory)
/// exactly as it works in a local output directory. Meanwhile:
/// - `job.json` is uploaded when the run starts (the "another job's run" check reads it);
/// - the run journal is mirrored to the store as it grows (``JournalMirror``: part objects, each
///   written atomically), so the work of a crashed pod is kept and `--resume` with the same
///   `--out` continues from the store on any host;
/// - at the end every output file is uploaded, each atomically (multipart for large files), with
///   `summary.json` last.
/// The staging directory is removed when the command ends; the backends' response cache
/// (`.state/`) stays local and private.
public struct RemoteOutput: Sendable {
    /// The store URL as given (`s3://bucket/prefix`).
    public let url: String
    public let store: any ArtifactStore
    /// The private local directory the run writes to.
    public let staging: URL

    /// Files of the staging directory never uploaded: private state, local copies of inputs, the
    /// cluster spool, the lock, sort spills, and the journal (mirrored as it is written).
    static let unpublished: Set<String> = [".state", ".inputs", "spool", OutputDirectoryLock.fileName, RunJournal.defaultKey]

    /// Opens the store and creates a fresh private staging directory.
    public init(url: String, opener: ArtifactStoreOpener?) throws {
        self.url = url
        self.store = try RemoteLocation.open(url, opener: opener)
        self.staging = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-out")
    }

    /// The run journal in the staging directory and its key in the store.
    public var journalKey: String { RunJournal.defaultKey }

    /// The journals a run appends to as it plays, as paths under the staging directory and keys in
    /// the store: the Runner's (one process) and the cluster spool's (`--workers N`, the coordinator
    /// journals every worker's records to `spool/journal.jsonl`). Each is mirrored while the run
    /// plays and restored by `--resume`, so either mode resumes on another host.
    public static let mirroredJournals = [RunJournal.defaultKey, TestJob.shardedJournalKey]

    /// Before a run: with `resume`, copies the store's journals (``mirroredJournals``, every part,
    /// in order) into the staging directory, and `dataset.jsonl` when the store has one (generated
    /// cases); without, removes the store's journals (a fresh run).
    public func prepareJournal(resume: Bool) async throws {
        guard resume else {
            for key in Self.mirroredJournals { try await store.delete(key) }
            return
        }
        if await store.exists("dataset.jsonl") {
            try await RemoteLocation.download("dataset.jsonl", from: store, to: staging.appendingPathComponent("dataset.jsonl"))
        }
        for key in Self.mirroredJournals where await store.exists(key) {
            try await restore(key)
        }
    }

    /// Copies the store's journal `key` (its lines, every part in order) to the same path under
    /// the staging directory (private: mode 0600 in 0700 directories).
    private func restore(_ key: String) async throws {
        let target = staging.appendingPathComponent(key)
        let directory = target.deletingLastPathComponent()
        if directory.standardizedFileURL.path != staging.standardizedFileURL.path {
            _ = try PrivateDirectory.verifyOrCreate(directory)
        }
        let handle = try FileHandle.opening(target, for: .truncating, mode: 0o600, exactMode: true)
        defer { try? handle.close() }
        var buffer = Data()
        for try await (_, text) in store.lines(of: key) {
            buffer.append(contentsOf: text.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
        try handle.synchronize()
    }

    /// After a resume took over the records of the run played the other way (`other`, one of
    /// ``mirroredJournals``, restored from the store) into the other mirrored journal: stores that
    /// journal whole under its key (replacing any), then drops `other` from the store, so a later
    /// resume, anywhere, finds only the journal the run goes on with. (A crash between the two
    /// leaves both, which a resume refuses, naming them.)
    public func storeJournalTakenOver(from other: String) async throws {
        guard let key = Self.mirroredJournals.first(where: { $0 != other }) else { return }
        try await store.delete(key)
        let mirror = JournalMirror(file: staging.appendingPathComponent(key), store: store, key: key, interval: Self.mirrorInterval)
        try await mirror.start(copyingWhatIsThere: true)
        try await mirror.stop()
        try await store.delete(other)
    }

    /// Mirrors of the staging directory's journals (``mirroredJournals``) into the store.
    public func journalMirrors(interval: Duration = RemoteOutput.mirrorInterval) -> [JournalMirror] {
        Self.mirroredJournals.map { JournalMirror(file: staging.appendingPathComponent($0), store: store, key: $0, interval: interval) }
    }

    /// How often the journal is mirrored: `CHATBOT_TESTER_MIRROR_SECONDS` (default 5).
    public static var mirrorInterval: Duration {
        let seconds = ProcessInfo.processInfo.environment["CHATBOT_TESTER_MIRROR_SECONDS"].flatMap(Double.init) ?? 5
        return .milliseconds(Int64(max(0.01, seconds) * 1000))
    }

    /// Uploads the staging directory's output files (or only `names`), each atomically, large ones
    /// in parts, `summary.json` last. Returns the keys written.
    @discardableResult
    public func publish(only names: [String]? = nil) async throws -> [String] {
        var files: [String]
        if let names {
            files = names.filter { FileManager.default.fileExists(atPath: staging.appendingPathComponent($0).path) }
        } else {
            files = try Self.outputFiles(in: staging)
        }
        files.sort { ($0 == "summary.json" ? 1 : 0, $0) < ($1 == "summary.json" ? 1 : 0, $1) }
        for name in files { try await store.write(contentsOf: staging.appendingPathComponent(name), to: name) }
        return files
    }

    /// The regular files under `directory` that are outputs, as relative keys.
    static func outputFiles(in directory: URL) throws -> [String] {
        var found: [String] = []
        func walk(_ url: URL, prefix: String) throws {
            for name in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() {
                if prefix.isEmpty, unpublished.contains(name) { continue }
                if name.hasSuffix(".sort") || name.hasSuffix(".download") || name.hasPrefix(".tmp") { continue }
                let child = url.appendingPathComponent(name)
                var info = stat()
                guard lstat(child.path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: try walk(child, prefix: prefix + name + "/")
                case S_IFREG: found.append(prefix + name)
                default: continue
                }
            }
        }
        try walk(directory, prefix: "")
        return found
    }

    /// Removes the staging directory.
    public func discardStaging() {
        try? FileManager.default.removeItem(at: staging)
    }
}

/// Copies what a run appends to a local journal file into a store journal as it goes: every
/// `interval`, the complete lines written since the last copy become one part object (on S3,
/// created conditionally, never overwritten). A run killed between two copies loses at most the
/// last `interval` of records from the store — a resume plays those again — never a line twice
/// from one mirror, never a torn line.
public actor JournalMirror {
    public nonisolated let file: URL
    public nonisolated let key: String
    private let store: any ArtifactStore
    private let interval: Duration
    private var journal: (any ArtifactJournal)?
    private var offset: UInt64 = 0
    private var loop: Task<Void, Never>?
    /// Bytes copied to the store by this mirror.
    public private(set) var mirroredBytes = 0
    /// The last copy that failed (retried at the next interval), if any.
    public private(set) var lastError: (any Error)?

    public init(file: URL, store: any ArtifactStore, key: String, interval: Duration) {
        self.file = file
        self.store = store
        self.key = key
        self.interval = interval
    }

    /// Starts copying: what the file already holds (restored from the store) is not copied again,
    /// unless `copyingWhatIsThere`.
    public func start(copyingWhatIsThere: Bool = false) async throws {
        guard loop == nil else { return }
        offset = copyingWhatIsThere ? 0 : Self.size(of: file)
        journal = try await store.openJournal(key)
        let interval = self.interval
        loop = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, let self else { return }
                try? await self.copy()
            }
        }
    }

    /// Copies what is new now.
    public func copy() async throws {
        guard let journal else { return }
        do {
            let size = Self.size(of: file)
            // A fresh run truncated the file: start over from its beginning.
            if size < offset { offset = 0 }
            guard size > offset else { return }
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            while offset < size {
                try handle.seek(toOffset: offset)
                var chunk = try handle.read(upToCount: Int(min(size - offset, 8 << 20))) ?? Data()
                // A line longer than a chunk: read on to the end of what is there.
                if !chunk.isEmpty, !chunk.contains(0x0A) { chunk += try handle.readToEnd() ?? Data() }
                // Whole lines only: a line still being written waits for the next copy.
                guard let newline = chunk.lastIndex(of: 0x0A) else { break }
                try await journal.append(Data(chunk[chunk.startIndex..<newline]))
                try await journal.sync()
                let copied = newline - chunk.startIndex + 1
                offset += UInt64(copied)
                mirroredBytes += copied
            }
            lastError = nil
        } catch {
            lastError = error
            throw error
        }
    }

    /// Stops the timer, copies what is left and closes the store journal.
    public func stop() async throws {
        loop?.cancel()
        loop = nil
        try await copy()
        try await journal?.close()
        journal = nil
    }

    private static func size(of file: URL) -> UInt64 {
        var info = stat()
        return stat(file.path, &info) == 0 ? UInt64(info.st_size) : 0
    }
}
