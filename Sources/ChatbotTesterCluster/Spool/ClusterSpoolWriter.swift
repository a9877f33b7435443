import ChatbotTesterCore
import Foundation

/// Writes a spool from samples handed over one at a time, in one pass over the source.
///
/// Each sample is encoded once (straight to bytes by `FastRecordEncoding.appendIndexed`, with
/// `JSONEncoder` for the shapes it leaves), checked for a duplicate id and appended to a scratch file
/// (`lines.tmp` in the spool directory); only its encoded size (4 bytes), its id and the set of
/// ids seen stay in memory. `finish()` plans the shards from the sizes (`ShardPlanner`), then
/// copies each shard's bytes — contiguous in the scratch file — into its shard file, one shard at
/// a time and atomically (recording each one's SHA-256), fsyncs them together, writes
/// `setup.json`, `manifest.sha256` and finally `manifest.json`. Memory is
/// O(samples × (4 bytes + id)) for the sizes and ids (the manifest lists every id anyway, each
/// once) and a 16-byte digest per id for the duplicate check, plus one shard, whatever the size
/// of the cases; streaming keeps no sizes.
///
/// When `directory` already holds a spool, the writer only counts: `finish()` returns that spool
/// when it was made for the same setup and number of samples (resume) and throws otherwise.
///
/// With `streamingShards`, shards are not planned at the end: each is cut as the samples come
/// (`StreamingCut`: at most `samplesPerShard` samples and about `maxShardBytes`, the first ones
/// smaller, so the first exists early) and written at once — file and SHA-256 — and listed in
/// `partialSpool`, whose shards a coordinator hands out while the rest is written (`ClusterRun`);
/// `finish()` fsyncs them all and writes `setup.json` and the manifest, as above. Until the
/// manifest exists the directory is no spool: the next run writes it again from the dataset,
/// keeping the journal (what the coordinator journaled meanwhile is resumed); a spool written
/// beside a journal is planned at the end, not streamed. With `holdsShards` the coordinator
/// gets no shard before `releaseShards()` (the source checked whole) but welcomes its workers
/// meanwhile, and hands the shards out while `finish()` makes them durable.
///
/// ```swift
/// let writer = try ClusterSpoolWriter(at: spoolURL, setup: setup, samplesPerShard: 64, minShards: 4)
/// for try await sample in reader.samples() { try writer.add(sample) }
/// let spool = try writer.finish()
/// ```
public final class ClusterSpoolWriter {
    public let directory: URL
    public let setup: ClusterJobSetup
    public let samplesPerShard: Int
    public let minShards: Int
    /// About the most bytes a shard holds (`nil`: no limit; see `ShardPlanner`).
    public let maxShardBytes: Int?
    public let runId: String
    /// Samples added so far.
    public private(set) var count = 0

    private let setupDigest: String
    private let existing: ClusterSpool?
    private let encoder = JSONCoding.encoder()
    /// Each sample's line length, for the planner (not kept when streaming: shards are cut as they go).
    private var sizes: [Int32] = []
    /// The sample ids not in a written shard yet: every one for a spool planned at the end, the
    /// current shard's when streaming (a committed shard takes them).
    private var ids: [String] = []
    /// Every id so far, for the duplicate check (a digest each, not the string).
    private var seen = IDDigestSet()
    private let checksIds: Bool
    /// Whether the cases are spooled as the dataset wrote them (see `init`).
    public let samplesAsWritten: Bool
    /// The manifest's `samplesAsWritten`: absent for encoded samples, as format 2 wrote them.
    private static func manifestFlag(_ samplesAsWritten: Bool) -> Bool? { samplesAsWritten ? true : nil }
    private var buffer: [UInt8] = []
    private var scratch: FileHandle?
    private var finished = false
    /// Streaming: every shard was handed to the coordinator (`releaseShards()`).
    private var released = false
    /// Streaming: how shards are cut, the shards written so far and where the current one starts.
    private let cut: StreamingCut?
    private var written: [ClusterManifest.Shard] = []
    private var shardStart = 0
    /// Streaming: shards cut so far (their files may still be being written: `committer`).
    private var cutShards = 0
    /// With `holdsShards` (nobody reads a shard before `releaseShards()`), each shard's file and
    /// SHA-256 are made on this queue, in order, while the pass reads on (300,000 cases on two
    /// cores: the pass ended at a median 0.91 s instead of 1.29 s). What it made, or the first failure, is read once it drains.
    private let committer: DispatchQueue?
    private let commits = Locked<(shards: [ClusterManifest.Shard], failure: (any Error)?)>(([], nil))
    private let feed: SpoolShardFeed?
    /// The spool being written, while it is (`streamingShards` on a fresh spool): a coordinator
    /// serves its shards as they are committed; `finish()` returns it complete.
    public let partialSpool: ClusterSpool?

    /// Samples per shard at most in a run of `test --workers` and `coordinator` (with
    /// `defaultMaxShardBytes`): 20,000 small cases make 20 shard files, not 313 of 64 (each file
    /// is created, hashed, fsync'd and read back once). Shard size does not hold samples back: the
    /// coordinator hands out samples one slot at a time from any shard, so a slow case holds its
    /// slot only.
    public static let defaultSamplesPerShard = 1024
    /// About the most bytes a shard holds in a run of `test --workers` and `coordinator`: what the
    /// coordinator reads at once for an assignment (it keeps the last four shards read).
    public static let defaultMaxShardBytes = 1 << 20

    /// Bytes buffered before they are appended to the scratch file.
    static let flushBytes = 1 << 20

    private var scratchURL: URL { directory.appendingPathComponent("lines.tmp") }

    /// Starts a spool in `directory`, or prepares to reopen the one already there.
    ///
    /// - Parameter maxShardBytes: about the most bytes a shard holds (`nil`: `samplesPerShard` alone
    ///   sizes them); see `ShardPlanner`.
    ///
    /// - Parameter streamingShards: cut and write shards as samples come, for a dataset of about
    ///   this many bytes (its file's size; shards are then sized to make about `minShards` of them
    ///   at least), instead of planning them at the end; `nil`, or a journal in `directory` to
    ///   resume: planned (`ShardPlanner`).
    /// - Parameter checksIds: refuse a sample whose id was added before (`add(_:)` throws). Off
    ///   only for a caller whose samples come from a pass that refused duplicates already (a
    ///   dataset scan, which names their file:line): the writer then keeps no digest per id.
    /// - Parameter samplesAsWritten: the cases come as the dataset's lines wrote them
    ///   (`add(caseJSON:id:)`) and are spooled as they are (`ClusterManifest.samplesAsWritten`);
    ///   otherwise as samples (`add(_:)`), encoded.
    /// - Parameter holdsShards: streaming, `partialSpool` gives its coordinator no shard before
    ///   `releaseShards()` (or `finish()`).
    /// - Throws: `.invalidConfig` when an existing spool was made for another setup, `.io` when the
    ///   directory or scratch file cannot be created.
    public init(
        at directory: URL, setup: ClusterJobSetup, samplesPerShard: Int = 64, minShards: Int = 1, maxShardBytes: Int? = nil,
        runId: String = UUID().uuidString.lowercased(), streamingShards expectedBytes: Int? = nil, checksIds: Bool = true,
        samplesAsWritten: Bool = false, holdsShards: Bool = false
    ) throws {
        self.checksIds = checksIds
        self.samplesAsWritten = samplesAsWritten
        self.directory = directory
        self.setup = setup
        self.samplesPerShard = samplesPerShard
        self.minShards = minShards
        self.maxShardBytes = maxShardBytes
        self.runId = runId
        setupDigest = try ClusterSpool.digest(of: setup)
        if ClusterSpool.exists(at: directory) {
            let spool = try ClusterSpool.open(at: directory)
            guard spool.manifest.setupDigest == setupDigest else { throw Self.anotherRun(directory) }
            existing = spool
            cut = nil
            committer = nil
            feed = nil
            partialSpool = nil
            return
        }
        existing = nil
        // No manifest: the spool is written again from the source (the same dataset, by the resume
        // contract). A journal here — a run stopped while it wrote its spool, or one restored from
        // a remote output by `--resume` — is kept and resumed; the shards of the unfinished spool
        // are not.
        let journaled = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("journal.jsonl").path)[.size] as? Int) ?? 0
        for leftover in ["shards", "lines.tmp"] {
            let url = directory.appendingPathComponent(leftover)
            if FileManager.default.fileExists(atPath: url.path) {
                try ClusterSpoolWriter.io("cannot remove \(url.path)", url) { try FileManager.default.removeItem(at: url) }
            }
        }
        try ClusterSpoolWriter.io("cannot create \(directory.path)", directory) {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("shards"), withIntermediateDirectories: true)
        }
        // With a journal to resume, the shards are planned at the end (the coordinator then starts
        // on the complete spool, with every journaled sample known).
        if let expectedBytes, journaled == 0 {
            cut = StreamingCut(expectedBytes: expectedBytes, maxSamples: samplesPerShard, minShards: minShards, maxBytes: maxShardBytes)
            committer = holdsShards ? DispatchQueue(label: "chatbot-tester.spool-commit") : nil
            let feed = SpoolShardFeed(holds: holdsShards)
            self.feed = feed
            partialSpool = ClusterSpool(
                directory: directory,
                manifest: ClusterManifest(
                    runId: runId, sampleCount: 0, setupDigest: setupDigest, setupSHA256: "", shards: [], samplesAsWritten: Self.manifestFlag(samplesAsWritten)),
                setup: setup, feed: feed)
            return
        }
        cut = nil
        committer = nil
        feed = nil
        partialSpool = nil
        let scratchURL = directory.appendingPathComponent("lines.tmp")
        scratch = try FileHandle.opening(scratchURL, for: .truncating)
    }

    deinit {
        try? scratch?.close()
        if existing == nil && !finished {
            try? FileManager.default.removeItem(at: scratchURL)
            feed?.fail(ChatbotTesterError(.aborted, "the spool was not completed", location: SourceLocation(source: directory.path)))
        }
    }

    /// Gives up a spool being written: a coordinator serving `partialSpool` stops with `error`.
    public func abandon(_ error: any Error) {
        feed?.fail(error)
    }

    /// Adds the next sample (dataset index `count`).
    ///
    /// - Throws: `.invalidInput` naming the dataset line on a duplicate sample id, `.io` when the
    ///   scratch file cannot be written.
    public func add(_ sample: TestSample) throws {
        guard !samplesAsWritten || existing != nil else {
            throw ChatbotTesterError(.internal, "a sample added to a spool of cases as written (add(caseJSON:id:))")
        }
        try add(id: sample.id) { buffer in
            // The line is written into the buffer in place; the encoder writes the shapes the byte writer leaves.
            let start = buffer.count
            if !FastRecordEncoding.appendIndexed(sample, index: count - 1, to: &buffer) {
                buffer.removeSubrange(start...)
                buffer.append(contentsOf: try encoder.encode(IndexedSample(index: count - 1, sample: sample)))
            }
        }
    }

    /// Adds the next case (dataset index `count`) as its dataset line wrote it: `json` is the
    /// line's JSON object without the whitespace around it, checked to be a valid case with this
    /// `id` (a dataset scan, `DatasetReader.scanLines`); it is spooled byte for byte, inside
    /// `{"index":N,"sample":…}`. Needs `samplesAsWritten`. Throws as `add(_:)`.
    public func add(caseJSON json: Data, id: String) throws {
        guard samplesAsWritten || existing != nil else {
            throw ChatbotTesterError(.internal, "a case as written added to a spool of encoded samples (add(_:))")
        }
        try add(id: id) { buffer in
            buffer.append(contentsOf: #"{"index":"#.utf8)
            FastRecordEncoding.appendInt(count - 1, to: &buffer)
            buffer.append(contentsOf: #","sample":"#.utf8)
            json.withUnsafeBytes { buffer.append(contentsOf: $0) }
            buffer.append(UInt8(ascii: "}"))
        }
    }

    /// Adds the line `write` appends to the buffer for the sample `id` (dataset index `count`).
    private func add(id: String, _ write: (inout [UInt8]) throws -> Void) throws {
        count += 1
        guard existing == nil else { return }
        guard !finished && !released else { throw ChatbotTesterError(.internal, "sample added to a finished spool") }
        guard !checksIds || seen.insert(id) else {
            throw ChatbotTesterError(
                .invalidInput, "duplicate sample id '\(id)'", location: SourceLocation(source: "dataset", line: count, field: "id"))
        }
        let start = buffer.count
        try write(&buffer)
        let length = buffer.count - start
        guard length < Int(Int32.max) else {
            buffer.removeSubrange(start...)
            throw ChatbotTesterError(
                .invalidInput, "sample '\(id)' encodes to \(length) bytes, too large to spool", location: SourceLocation(source: "dataset", line: count))
        }
        if cut == nil { sizes.append(Int32(length)) }
        ids.append(id)
        buffer.append(0x0A)
        if let cut {
            if cut.closes(samples: count - shardStart, bytes: buffer.count, shard: cutShards) { try commitShard() }
        } else if buffer.count >= Self.flushBytes {
            try flush()
        }
    }

    /// Shard `id`'s file in the spool: `shards/shard-00042.jsonl` (five digits at least), as
    /// `String(format: "shards/shard-%05d.jsonl", id)` writes it, without Foundation's formatter.
    static func shardFile(_ id: Int) -> String {
        let digits = String(id)
        return "shards/shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".jsonl"
    }

    /// Streaming: writes the samples since the last shard as the next shard file (not fsync'd yet:
    /// `finish()` syncs them all) and lists it in `partialSpool` — at once, or on `committer`.
    private func commitShard() throws {
        guard count > shardStart else { return }
        let id = cutShards
        cutShards += 1
        let file = Self.shardFile(id)
        // A file, said so: `appendingPathComponent` without the hint asks the file system.
        let url = directory.appendingPathComponent(file, isDirectory: false)
        let first = shardStart, samples = count - shardStart, shardIds = ids
        shardStart = count
        ids = []
        let feed = feed
        @Sendable func write(_ data: Data) throws -> ClusterManifest.Shard {
            try FileArtifactStore.atomicWrite(data, to: url, durable: false)
            let shard = ClusterManifest.Shard(
                id: id, file: file, count: samples, bytes: data.count, sha256: SpoolDigest.sha256(data), firstIndex: first, sampleIds: shardIds)
            feed?.add(shard)
            return shard
        }
        guard let committer else {
            let data = Data(buffer)
            buffer.removeAll(keepingCapacity: true)
            written.append(try write(data))
            return
        }
        // A write that failed stops the pass at the next shard.
        if let failure = commits.current.failure { throw failure }
        var next: [UInt8] = []
        next.reserveCapacity(buffer.count)
        swap(&next, &buffer)
        let taken = next, commits = commits
        committer.async {
            guard commits.current.failure == nil else { return }
            do {
                let shard = try write(Data(taken))
                commits.withLock { $0.shards.append(shard) }
            } catch {
                commits.withLock { $0.failure = $0.failure ?? error }
            }
        }
    }

    /// Waits for the shards `committer` is writing, then takes them into `written` (throws the
    /// first failure).
    private func drainCommits() throws {
        guard let committer else { return }
        committer.sync {}
        let (shards, failure) = commits.current
        if let failure { throw failure }
        written = shards
    }

    /// Streaming: the source was checked whole, every sample added. Writes the last shard and hands
    /// every shard to the coordinator serving `partialSpool` (with `holdsShards`, its first), before
    /// `finish()` makes them durable and writes the manifest — play starts without waiting for the
    /// fsyncs. A crash meanwhile leaves no manifest: the next run writes the spool again and
    /// resumes the journal. Does nothing on a spool that is not streamed.
    public func releaseShards() throws {
        guard existing == nil, cut != nil, !finished else { return }
        do {
            try commitShard()
            try drainCommits()
        } catch {
            feed?.fail(error)
            throw error
        }
        released = true
        feed?.finish(total: count)
    }

    /// Plans and writes the shards, `setup.json` and `manifest.json` (last: its presence marks a
    /// complete spool), removes the scratch file and returns the spool. On a reopened spool,
    /// checks the sample count and returns it.
    ///
    /// - Throws: `.invalidConfig` when a reopened spool holds another number of samples, `.io`
    ///   when files cannot be written.
    public func finish() throws -> ClusterSpool {
        if let existing {
            guard existing.manifest.sampleCount == count else { throw Self.anotherRun(directory) }
            return existing
        }
        guard !finished else { throw ChatbotTesterError(.internal, "spool finished twice") }
        if cut != nil {
            do {
                try commitShard()
                try drainCommits()
                return try writeManifest(shards: written)
            } catch {
                feed?.fail(error)
                throw error
            }
        }
        try flush()
        let scratchURL = scratchURL
        try Self.io("cannot write \(scratchURL.path)", scratchURL) { try scratch?.close() }
        scratch = nil
        let ranges = ShardPlanner.plan(sizes: sizes, maxSamples: samplesPerShard, minShards: minShards, maxBytes: maxShardBytes)
        let reader = try Self.io("cannot read \(scratchURL.path)", scratchURL) { try FileHandle(forReadingFrom: scratchURL) }
        defer { try? reader.close() }
        var shards: [ClusterManifest.Shard] = []
        shards.reserveCapacity(ranges.count)
        for (id, range) in ranges.enumerated() {
            let file = Self.shardFile(id)
            let bytes = sizes[range].reduce(0) { $0 + Int($1) + 1 }
            let data = try Self.io("cannot read \(scratchURL.path)", scratchURL) { try reader.read(upToCount: bytes) ?? Data() }
            guard data.count == bytes else {
                throw ChatbotTesterError(.io, "\(scratchURL.path) is shorter than written", location: SourceLocation(source: scratchURL.path))
            }
            // Made durable all at once below: one fsync each after all are written (and one of
            // the directory) costs a fraction of an fsync of file and directory per shard.
            try FileArtifactStore.atomicWrite(data, to: directory.appendingPathComponent(file, isDirectory: false), durable: false)
            shards.append(ClusterManifest.Shard(
                id: id, file: file, count: range.count, bytes: bytes, sha256: SpoolDigest.sha256(data), firstIndex: range.lowerBound,
                sampleIds: Array(ids[range])))
        }
        try? FileManager.default.removeItem(at: scratchURL)
        return try writeManifest(shards: shards)
    }

    /// Makes the shards durable, then writes `setup.json`, `manifest.sha256` and last
    /// `manifest.json`; returns the complete spool.
    private func writeManifest(shards: [ClusterManifest.Shard]) throws -> ClusterSpool {
        try Self.sync(shards.map { directory.appendingPathComponent($0.file, isDirectory: false) } + [directory.appendingPathComponent("shards")])
        finished = true
        let setupJSON = try JSONCoding.encoder(pretty: true).encode(setup)
        try FileArtifactStore.atomicWrite(setupJSON, to: directory.appendingPathComponent(ClusterSpool.setupFile))
        let manifest = ClusterManifest(
            runId: runId, sampleCount: count, setupDigest: setupDigest, setupSHA256: SpoolDigest.sha256(setupJSON), shards: shards,
            samplesAsWritten: Self.manifestFlag(samplesAsWritten))
        // Streamed to the file, its digest taken as it goes (a million ids are ~30 MB of JSON,
        // never held whole). The sidecar first: the manifest's presence marks a complete spool.
        var hasher = SHA256Hasher()
        try FileArtifactStore.atomicWrite(
            to: directory.appendingPathComponent(ClusterSpool.manifestFile),
            fill: { write in
                try manifest.writePrettyJSON { bytes in
                    hasher.update(bytes)
                    try write(bytes)
                }
            },
            beforeRename: {
                try FileArtifactStore.atomicWrite(
                    Data("\(hasher.finalizeHex())  \(ClusterSpool.manifestFile)\n".utf8),
                    to: directory.appendingPathComponent(ClusterSpool.manifestDigestFile))
            })
        feed?.finish(total: count)
        if let partialSpool { return ClusterSpool(completing: partialSpool, manifest: manifest) }
        return ClusterSpool(directory: directory, manifest: manifest, setup: setup)
    }

    /// fsyncs every file (or directory) of `urls`, `syncLanes` at once (`BlockingIO.inLanes`, on
    /// serial queues, off the cooperative pool); the manifest, written after, marks a spool
    /// complete only when its shards are on disk.
    static func sync(_ urls: [URL]) throws {
        let failed = Locked<URL?>(nil)
        BlockingIO.inLanes(urls.count, lanes: syncLanes, label: "chatbot-tester.spool-sync") { position in
            let fd = open(urls[position].path, O_RDONLY | O_CLOEXEC)
            if fd < 0 || fsync(fd) != 0 { failed.withLock { $0 = $0 ?? urls[position] } }
            if fd >= 0 { close(fd) }
        }
        if let url = failed.current {
            throw ChatbotTesterError(.io, "fsync failed for \(url.path)", location: SourceLocation(source: url.path))
        }
    }

    /// fsyncs `sync(_:)` runs at once.
    static let syncLanes = 4

    private func flush() throws {
        guard !buffer.isEmpty, let scratch else { return }
        let scratchURL = scratchURL
        try Self.io("cannot write \(scratchURL.path)", scratchURL) { try scratch.write(contentsOf: buffer) }
        buffer.removeAll(keepingCapacity: true)
    }

    static func anotherRun(_ directory: URL) -> ChatbotTesterError {
        ChatbotTesterError(
            .invalidConfig, "the spool holds another run (different config or dataset); use a new spool directory",
            location: SourceLocation(source: directory.path))
    }

    /// Runs `body`, turning a thrown system error into an `.io` error naming `url`.
    private static func io<T>(_ message: String, _ url: URL, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ChatbotTesterError {
            throw error
        } catch {
            throw ChatbotTesterError(.io, message, location: SourceLocation(source: url.path), cause: error)
        }
    }
}
