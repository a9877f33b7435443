import ChatbotTesterCore
import Foundation

/// A run's spool directory: the message files a cluster run is made of.
///
/// ```
/// spool/
///   manifest.json          ClusterManifest (run id, shards with their SHA-256, setup digests)
///   manifest.sha256        SHA-256 of manifest.json (`sha256sum -c` format)
///   setup.json             ClusterJobSetup (backends as specs — secrets stay {env: NAME} — and job)
///   shards/shard-00000.jsonl   one IndexedSample per line
///   journal.jsonl          ClusterRecord per line, appended and fsync'd in batches
/// ```
/// A record counts once it is in the journal. Opening an existing spool resumes it; every file is
/// checked against the digest recorded when it was written, so a damaged or edited spool is an
/// error naming the file, never a run on changed data.
public struct ClusterSpool: Sendable {
    public let directory: URL
    public let manifest: ClusterManifest
    public let setup: ClusterJobSetup
    /// The journal's index as this process last read it, kept up to date by the coordinator as it
    /// appends (shared by copies of this value): the merge uses it instead of scanning the
    /// journal again when it covers the whole file.
    let journalLog: JournalLog
    /// The side file of the journaled records' report parts (`ClusterReportPartsLog`).
    let reportPartsLog: ClusterReportPartsLog
    /// The shards committed so far of a spool still being written (`ClusterSpoolWriter.partialSpool`),
    /// which a coordinator hands out before the manifest exists; nil for a spool opened or
    /// written whole.
    let feed: SpoolShardFeed?
    /// `directory.path`, kept: a shard read per assign would otherwise build it (and a URL) again.
    private let directoryPath: String

    init(directory: URL, manifest: ClusterManifest, setup: ClusterJobSetup, feed: SpoolShardFeed? = nil) {
        self.directory = directory
        self.manifest = manifest
        self.setup = setup
        self.directoryPath = directory.path
        self.feed = feed
        journalLog = JournalLog()
        reportPartsLog = ClusterReportPartsLog()
    }

    /// The complete spool that `partial` (a spool being written) became: its manifest, and the
    /// journal's logs the coordinator kept while serving `partial` (so the merge uses them).
    init(completing partial: ClusterSpool, manifest: ClusterManifest) {
        directory = partial.directory
        self.manifest = manifest
        setup = partial.setup
        directoryPath = partial.directoryPath
        feed = nil
        journalLog = partial.journalLog
        reportPartsLog = partial.reportPartsLog
    }

    /// Whether the spool is still being written: its shards arrive through `feed` (see
    /// `ClusterSpoolWriter.partialSpool`) and it has no manifest yet.
    public var isPartial: Bool { feed != nil }

    public var journalURL: URL { directory.appendingPathComponent("journal.jsonl") }
    public var manifestURL: URL { directory.appendingPathComponent("manifest.json") }

    /// Whether `directory` holds a spool (a manifest).
    public static func exists(at directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(manifestFile).path)
    }

    /// Creates a spool for `samples`, or opens the one already in `directory` (resume). A
    /// convenience over `ClusterSpoolWriter`, which the streaming overload uses too.
    ///
    /// - Throws: `.invalidConfig` when an existing spool was made for another setup, `.invalidInput`
    ///   on duplicate sample ids, `.io` when files cannot be written.
    public static func prepare(
        at directory: URL, samples: [TestSample], setup: ClusterJobSetup, samplesPerShard: Int = 64, minShards: Int = 1,
        maxShardBytes: Int? = nil, runId: String = UUID().uuidString.lowercased()
    ) throws -> ClusterSpool {
        let writer = try ClusterSpoolWriter(
            at: directory, setup: setup, samplesPerShard: samplesPerShard, minShards: minShards, maxShardBytes: maxShardBytes, runId: runId)
        for sample in samples { try writer.add(sample) }
        return try writer.finish()
    }

    /// Creates a spool from a stream of samples, pulled one at a time (one pass, memory independent
    /// of the cases' size: see `ClusterSpoolWriter`), or opens the one already in `directory` (resume:
    /// the stream is only counted).
    ///
    /// ```swift
    /// let spool = try await ClusterSpool.prepare(at: spoolURL, samples: DatasetReader(url: dataset).samples(), setup: setup)
    /// ```
    /// - Throws: as `prepare(at:samples:setup:samplesPerShard:minShards:maxShardBytes:runId:)`, and what the stream throws.
    public static func prepare<Samples: AsyncSequence>(
        at directory: URL, samples: Samples, setup: ClusterJobSetup, samplesPerShard: Int = 64, minShards: Int = 1,
        maxShardBytes: Int? = nil, runId: String = UUID().uuidString.lowercased()
    ) async throws -> ClusterSpool where Samples.Element == TestSample {
        let writer = try ClusterSpoolWriter(
            at: directory, setup: setup, samplesPerShard: samplesPerShard, minShards: minShards, maxShardBytes: maxShardBytes, runId: runId)
        for try await sample in samples { try writer.add(sample) }
        return try writer.finish()
    }

    /// Opens an existing spool, checking it first: `manifest.json` against `manifest.sha256`,
    /// `setup.json` against the manifest's `setupSHA256`, and that every shard file is there with
    /// its recorded size (each shard's SHA-256 is checked when it is read, see
    /// `samples(ofShard:)`).
    ///
    /// - Throws: `.invalidInput` naming the damaged, edited or missing file and what differs;
    ///   `.io` when a file cannot be read.
    public static func open(at directory: URL) throws -> ClusterSpool {
        let manifestURL = directory.appendingPathComponent(manifestFile)
        let manifestData = try read(manifestURL)
        let sidecarURL = directory.appendingPathComponent(manifestDigestFile)
        guard FileManager.default.fileExists(atPath: sidecarURL.path) else {
            throw damaged(sidecarURL, "is missing, so \(manifestFile) cannot be checked (a spool from an older version, or damaged: start a new run without --resume)")
        }
        let recorded = String(decoding: try read(sidecarURL), as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        let actual = SpoolDigest.sha256(manifestData)
        guard recorded == actual else {
            throw damaged(manifestURL, "was changed after the spool was written: its SHA-256 is \(actual), \(manifestDigestFile) says \(recorded)")
        }
        struct Header: Decodable { var schemaVersion: Int }
        let version = try decode(Header.self, manifestData, manifestURL).schemaVersion
        guard ClusterManifest.readableSchemaVersions.contains(version) else {
            throw damaged(manifestURL, "has spool format \(version); this version reads formats \(ClusterManifest.readableSchemaVersions.map(String.init).joined(separator: ", ")) (start a new run without --resume)")
        }
        let manifest = try decode(ClusterManifest.self, manifestData, manifestURL)
        let setupURL = directory.appendingPathComponent(setupFile)
        let setupData = try read(setupURL)
        let setupDigest = SpoolDigest.sha256(setupData)
        guard setupDigest == manifest.setupSHA256 else {
            throw damaged(setupURL, "was changed after the spool was written: its SHA-256 is \(setupDigest), \(manifestFile) recorded \(manifest.setupSHA256)")
        }
        let setup = try decode(ClusterJobSetup.self, setupData, setupURL)
        for shard in manifest.shards {
            let url = directory.appendingPathComponent(shard.file)
            var info = stat()
            guard stat(url.path, &info) == 0 else { throw damaged(url, "is missing (\(manifestFile) lists it as shard \(shard.id))") }
            guard Int(info.st_size) == shard.bytes else {
                throw damaged(url, "was changed after the spool was written: \(info.st_size) bytes, \(manifestFile) recorded \(shard.bytes)")
            }
        }
        return ClusterSpool(directory: directory, manifest: manifest, setup: setup)
    }

    static let manifestFile = "manifest.json"
    static let manifestDigestFile = "manifest.sha256"
    static let setupFile = "setup.json"

    private static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) { throw damaged(url, "is missing") }
            throw ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: error)
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ url: URL) throws -> T {
        do {
            return try JSONCoding.decoder().decode(T.self, from: data)
        } catch {
            throw ChatbotTesterError.decoding(error, source: url.path, line: nil)
        }
    }

    /// A spool file that is not what was written.
    static func damaged(_ url: URL, _ what: String) -> ChatbotTesterError {
        ChatbotTesterError(.invalidInput, "spool file \(url.path) \(what)", location: SourceLocation(source: url.path))
    }

    /// The digest recorded in the manifest for `setup`.
    public static func digest(of setup: ClusterJobSetup) throws -> String {
        ClusterDigest.of(text: try JSONValue(encoding: setup).canonicalText)
    }

    /// The samples of shard `id`, after checking the file's size and SHA-256 against the manifest.
    ///
    /// - Throws: `.invalidInput` naming the shard file when it is missing, truncated or edited (a
    ///   damaged spool ends the run; it is never handed out again), `.io` when it cannot be read.
    public func samples(ofShard id: Int) throws -> [IndexedSample] {
        let (shard, path, data) = try verifiedShard(id)
        let url = URL(fileURLWithPath: path)
        let decoder = JSONCoding.decoder()
        var out: [IndexedSample] = []
        out.reserveCapacity(shard.count)
        var splitter = JSONL.LineSplitter()
        for (line, bytes) in splitter.feed(data) {
            do {
                out.append(try decoder.decode(IndexedSample.self, from: bytes))
            } catch {
                throw ChatbotTesterError.decoding(error, source: url.path, line: line)
            }
        }
        let expected = shard.sampleIds.enumerated().map { (shard.firstIndex + $0.offset, $0.element) }
        guard out.count == expected.count, zip(out, expected).allSatisfy({ $0.index == $1.0 && $0.sample.id == $1.1 }) else {
            throw Self.damaged(url, "does not hold the samples \(Self.manifestFile) lists for shard \(id)")
        }
        return out
    }

    /// Shard `id` as the manifest records it (or, for a spool still being written, as it was
    /// committed); nil when there is none yet.
    public func shard(_ id: Int) -> ClusterManifest.Shard? {
        // The writer numbers shards from 0 in order.
        if manifest.shards.indices.contains(id), manifest.shards[id].id == id { return manifest.shards[id] }
        return manifest.shards.first(where: { $0.id == id }) ?? feed?.shard(id)
    }

    /// The file of shard `id`, checked against the manifest (size, SHA-256).
    private func verifiedShard(_ id: Int) throws -> (ClusterManifest.Shard, String, Data) {
        guard let shard = shard(id) else {
            throw ChatbotTesterError(.internal, "no shard \(id) in \(directory.path)")
        }
        let path = directoryPath + "/" + shard.file
        let data = try Self.readShard(path, bytes: shard.bytes)
        let digest = SpoolDigest.sha256(data)
        guard digest == shard.sha256 else {
            throw Self.damaged(
                URL(fileURLWithPath: path), "was changed after the spool was written: its SHA-256 is \(digest), \(Self.manifestFile) recorded \(shard.sha256)")
        }
        return (shard, path, data)
    }

    /// A shard file in one read of the size the manifest recorded (a file of another size is
    /// damaged; a missing one too).
    static func readShard(_ path: String, bytes: Int) throws -> Data {
        var url: URL { URL(fileURLWithPath: path) }  // for errors only
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw damaged(url, "is missing") }
            throw ChatbotTesterError(.io, "cannot read \(path): \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ChatbotTesterError(.io, "cannot read \(path): \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
        }
        guard Int(info.st_size) == bytes else {
            throw damaged(url, "was changed after the spool was written: \(info.st_size) bytes, \(manifestFile) recorded \(bytes)")
        }
        var data = Data(count: bytes)
        let got = data.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < raw.count {
                let count = Foundation.read(fd, raw.baseAddress! + done, raw.count - done)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return count < 0 ? -1 : done }
                done += count
            }
            return done
        }
        guard got >= 0 else {
            throw ChatbotTesterError(.io, "cannot read \(path): \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
        }
        guard got == bytes else {
            throw damaged(url, "was changed while it was read: \(got) bytes, \(manifestFile) recorded \(bytes)")
        }
        return data
    }

    /// One line of a shard as bytes: what a coordinator hands out (an `assign` splices the lines,
    /// `ClusterMessageCodec.encodeAssign(lines:slots:)`) and puts back into records whose sample
    /// was left out (`ClusterRecordEnvelope.splicingSample(_:)`).
    public struct SampleLine: Sendable, Hashable {
        public var index: Int
        public var id: String
        /// The line: `IndexedSample` JSON.
        public var line: Data
        /// The bytes of its `sample` value.
        public var sample: Data
    }

    /// The lines of shard `id`, after the same checks as `samples(ofShard:)`; each line is scanned
    /// for its index and sample id, not decoded. The lines (and their `sample` bytes) are slices of
    /// the one buffer the file was read into, not copies.
    public func sampleLines(ofShard id: Int) throws -> [SampleLine] {
        let (shard, path, data) = try verifiedShard(id)
        return try Self.writtenLines(data, shard: shard) ?? Self.scannedLines(data, shard: shard, url: URL(fileURLWithPath: path))
    }

    /// The lines of a shard file, each scanned as JSON (the reference for `writtenLines`, and what
    /// names the line or the mismatch when a file is not as written).
    static func scannedLines(_ data: Data, shard: ClusterManifest.Shard, url: URL) throws -> [SampleLine] {
        var out: [SampleLine] = []
        out.reserveCapacity(shard.count)
        var splitter = JSONL.LineSplitter()
        for (line, bytes) in splitter.feed(data) {
            let bytes = Data(bytes)
            do {
                let members = try JSONByteScanner.members(ofObject: bytes)
                guard let index = members.first(where: { $0.name == "index" }), let sample = members.first(where: { $0.name == "sample" }),
                    let id = try JSONByteScanner.members(ofObject: bytes, in: sample.value).first(where: { $0.name == "id" })
                else { throw Self.damaged(url, "line \(line) is not an indexed sample") }
                out.append(SampleLine(
                    index: try JSONByteScanner.int(bytes, at: index.value), id: try JSONByteScanner.string(bytes, at: id.value), line: bytes,
                    sample: bytes[sample.value]))
            } catch let error as JSONByteScanner.Failure {
                throw ChatbotTesterError(.invalidInput, "not an indexed sample: \(error.message)", location: SourceLocation(source: url.path, line: line))
            }
        }
        let expected = shard.sampleIds.enumerated().map { (shard.firstIndex + $0.offset, $0.element) }
        guard out.count == expected.count, zip(out, expected).allSatisfy({ $0.index == $1.0 && $0.id == $1.1 }) else {
            throw Self.damaged(url, "does not hold the samples \(Self.manifestFile) lists for shard \(shard.id)")
        }
        return out
    }

    /// The lines of a shard file whose SHA-256 matched the manifest, read as `ClusterSpoolWriter`
    /// writes them — `{"index":N,"sample":{…}}` and a newline each, N counting up from the shard's
    /// first index, each sample holding `"id":` and the id the manifest lists for it — without a
    /// scan of the JSON (the digest vouches for the bytes). `nil` at the first difference: the
    /// full scan then reads the file and names what is wrong.
    static func writtenLines(_ data: Data, shard: ClusterManifest.Shard) -> [SampleLine]? {
        var out: [SampleLine] = []
        out.reserveCapacity(shard.sampleIds.count)
        var prefix: [UInt8] = []
        var idMember: [UInt8] = []
        let ok = data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return shard.sampleIds.isEmpty }
            let count = raw.count
            var start = 0
            for (offset, id) in shard.sampleIds.enumerated() {
                guard start < count, let hit = memchr(base + start, 0x0A, count - start) else { return false }
                let end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                prefix.removeAll(keepingCapacity: true)
                prefix.append(contentsOf: #"{"index":"#.utf8)
                FastRecordEncoding.appendInt(shard.firstIndex + offset, to: &prefix)
                prefix.append(contentsOf: #","sample":{"#.utf8)
                // The sample's own id member, as the writer (or JSONEncoder) writes its value; a
                // case spooled as written may have whitespace around the colon.
                idMember.removeAll(keepingCapacity: true)
                FastRecordEncoding.appendString(id, to: &idMember)
                let sampleStart = start + prefix.count - 1
                guard end - start >= prefix.count + idMember.count + 7, base[end - 1] == UInt8(ascii: "}"),
                    memcmp(base + start, prefix, prefix.count) == 0,
                    Self.containsIdMember(base + sampleStart, count: end - 1 - sampleStart, value: idMember)
                else { return false }
                out.append(SampleLine(
                    index: shard.firstIndex + offset, id: id, line: data[(data.startIndex + start)..<(data.startIndex + end)],
                    sample: data[(data.startIndex + sampleStart)..<(data.startIndex + end - 1)]))
                start = end + 1
            }
            return start == count
        }
        return ok ? out : nil
    }

    /// Whether `count` bytes at `start` hold `"id"`, then a colon (JSON whitespace around it
    /// allowed), then `value` (a JSON string) somewhere.
    private static func containsIdMember(_ start: UnsafePointer<UInt8>, count: Int, value: [UInt8]) -> Bool {
        let key = Array(#""id""#.utf8)
        var position = 0
        while position <= count - key.count, let hit = memchr(start + position, Int32(key[0]), count - key.count + 1 - position) {
            let at = UnsafeRawPointer(start).distance(to: UnsafeRawPointer(hit))
            position = at + 1
            guard memcmp(start + at, key, key.count) == 0 else { continue }
            var cursor = at + key.count
            while cursor < count, JSONByteScanner.isWhitespace(start[cursor]) { cursor += 1 }
            guard cursor < count, start[cursor] == UInt8(ascii: ":") else { continue }
            cursor += 1
            while cursor < count, JSONByteScanner.isWhitespace(start[cursor]) { cursor += 1 }
            if count - cursor >= value.count, memcmp(start + cursor, value, value.count) == 0 { return true }
        }
        return false
    }

    /// A case as a dataset line wrote it (a spool's sample when `ClusterManifest.samplesAsWritten`)
    /// as records hold it: decoded, then encoded (`FastRecordEncoding`, else `JSONEncoder`), the
    /// bytes one process writes for it.
    public static func encodedSample(asWritten json: Data) throws -> Data {
        switch JSONL.decode(TestSample.self, from: json, source: nil, line: 0) {
        case .success(let sample):
            if let bytes = FastRecordEncoding.bytes(sample) { return Data(bytes) }
            return try JSONCoding.encoder().encode(sample)
        case .failure(let error):
            throw ChatbotTesterError(.invalidInput, "a spooled case does not decode: \(error)")
        }
    }

    /// `sampleLines(ofShard:)` on `BlockingIO`'s queue, off Swift's cooperative thread pool.
    public func sampleLinesOffPool(ofShard id: Int) async throws -> [SampleLine] {
        try await BlockingIO.run { try self.sampleLines(ofShard: id) }
    }

    /// `samples(ofShard:)` on `BlockingIO`'s queue, off Swift's cooperative thread pool (reading,
    /// hashing and decoding a shard file blocks).
    public func samplesOffPool(ofShard id: Int) async throws -> [IndexedSample] {
        try await BlockingIO.run { try self.samples(ofShard: id) }
    }

    /// Where each journaled sample's record sits in the journal, in dataset order. The journal is
    /// read in chunks of 1 MiB and each line is scanned, not decoded (`ClusterRecordEnvelope`:
    /// well-formed JSON shaped like a record; only its id, index and status are read), and its
    /// place kept by dataset index (`JournalSlots`, 16 bytes per sample of the spool): a journal
    /// of any size indexes in little memory, with no table of ids and no sort.
    ///
    /// Per sample the record key rule holds: the first success wins, a later success replaces
    /// an earlier error, nothing replaces a success. A torn last line is ignored. A damaged line
    /// elsewhere (not JSON, not shaped like a record, a record whose envelope id differs from its
    /// own, or one whose id is not the one the manifest lists at its index) is skipped and
    /// reported on `events` with its file:line: its sample is not journaled, so it runs again.
    ///
    /// When this process journaled every line since it last read the journal (the coordinator
    /// that ran the session, `JournalLog`), the index is taken from what it kept and the file is
    /// not read again (its size, inode and modification time must be those it left).
    public func journalIndex(events: EventBus? = nil) throws -> JournalIndex {
        try journalIndex(events: events, weighed: nil).index
    }

    /// `journalIndex(events:)`, calling `weighed` with each line the scan admits — its envelope as
    /// read, its byte range in the journal and what the record-key rule made of it — while the
    /// line's bytes are at hand (the resume's totals in the same pass). `scanned` is false when the index was taken from what
    /// this process kept (`JournalLog`): nothing was read, and `weighed` was not called.
    func journalIndex(
        events: EventBus?, weighed: ((ClusterRecordEnvelope, Range<Int>, ClusterRecordKeys.Admission) -> Void)?
    ) throws -> (index: JournalIndex, scanned: Bool) {
        // A spool still being written has no manifest yet: its committed shards list the ids.
        let ids = feed.map { ManifestSampleIds(shards: $0.committed) } ?? ManifestSampleIds(manifest)
        guard FileManager.default.fileExists(atPath: journalURL.path) else {
            journalLog.seed(slots: JournalSlots(), lines: 0, length: 0, damaged: [])
            return (JournalIndex(reader: nil, slots: JournalSlots(), ids: ids, damagedLines: []), true)
        }
        let reader = try JournalIndex.Reader(url: journalURL)
        if let kept = journalLog.index(of: try reader.stamp()) {
            return (JournalIndex(reader: reader, slots: kept.slots, ids: ids, damagedLines: kept.damaged), false)
        }
        var slots = JournalSlots(capacity: ids.end)
        var damaged: [Int] = []
        var line = 0
        let length = try reader.forEachLine { bytes, range in
            line += 1
            guard !range.isEmpty else { return }
            guard let key = try? ClusterRecordEnvelope.reading(bytes), key.runSampleId == key.sampleId, ids[key.index] == key.sampleId,
                let admission = slots.weigh(index: key.index, range: range, line: line, succeeded: key.status == .ok)
            else {
                damaged.append(line)
                events?.emit(LogEvent(
                    .warning, "journal line \(line) is damaged and was skipped; its case runs again", source: "\(journalURL.path):\(line)"))
                return
            }
            weighed?(key, range, admission)
        }
        journalLog.seed(slots: slots, lines: line, length: length, damaged: damaged)
        return (JournalIndex(reader: reader, slots: slots, ids: ids, damagedLines: damaged), true)
    }

    /// The sample ids already journaled (what a resumed run skips).
    public func journaledIds(events: EventBus? = nil) throws -> Set<String> {
        Set(try journalIndex(events: events).entries.map(\.sampleId))
    }

    /// Every journaled record, deduplicated, in dataset order (all in memory: for tests and small
    /// runs; `merge(into:)` streams).
    public func mergedRecords() throws -> [ClusterRecord] {
        let index = try journalIndex()
        return try index.entries.map { try index.record($0, source: journalURL.path) }
    }

    /// Writes `results.jsonl` (RunRecord per line) and, with `evals`, `evals.jsonl` (EvalRecord per
    /// line) in dataset order into `output`, one record at a time, and returns how many samples
    /// they cover.
    ///
    /// The lines are copied from the journal by byte range — a results line is the bytes of the
    /// record's `run` value, an evals line those of one element of its `evals` — not decoded and
    /// re-encoded: the worker wrote them with `JSONCoding` (sorted keys), so they are the bytes a
    /// re-encode would give. The journal is scanned once (`journalIndex()`, which keeps where each
    /// sample's line is); each kept line is then read once more, by range, and scanned for where
    /// its `run` and `evals` sit.
    ///
    /// - Parameter each: called with every merged sample in dataset order — its journal entry, the
    ///   bytes of its `run` (a results line) and of each of its evaluations (evals lines) — so the reports can
    ///   be built in the same pass (`ShardedRunStage`); the bytes are the lines just written.
    @discardableResult
    public func merge(
        into output: URL, evals writeEvals: Bool = true, each: ((_ entry: JournalIndex.Entry, _ run: Data, _ evals: [Data]) throws -> Void)? = nil
    ) throws -> Int {
        try merge(index: try journalIndex(), into: output, evals: writeEvals, each: each)
    }

    /// `merge(into:evals:each:)` with the journal's index already read (`journalIndex()`), which
    /// the caller also used for something else (the report parts of the lines it keeps).
    @discardableResult
    public func merge(
        index: JournalIndex, into output: URL, evals writeEvals: Bool = true,
        each: ((_ entry: JournalIndex.Entry, _ run: Data, _ evals: [Data]) throws -> Void)? = nil
    ) throws -> Int {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let results = try LineCopier(url: output.appendingPathComponent("results.jsonl"))
        let evals = writeEvals ? try LineCopier(url: output.appendingPathComponent("evals.jsonl")) : nil
        for entry in index.entries {
            let line = try index.bytes(of: entry)
            guard let (run, evalLines) = entry.slices(of: line) else {
                throw ChatbotTesterError(.invalidInput, "journal line \(entry.line) changed while merging", location: SourceLocation(source: journalURL.path, line: entry.line))
            }
            try results.write(run)
            if let evals { for eval in evalLines { try evals.write(eval) } }
            try each?(entry, run, evalLines)
        }
        try results.close()
        try evals?.close()
        return index.entries.count
    }
}

/// Writes lines of bytes to a new file through a buffer; `close` fsyncs.
private final class LineCopier {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let url: URL

    init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ChatbotTesterError(.io, "cannot create \(url.path)", location: SourceLocation(source: url.path)) }
        buffer.reserveCapacity(1 << 16)
    }

    deinit {
        if fd >= 0 { Foundation.close(fd) }
    }

    func write(_ line: Data) throws {
        line.withUnsafeBytes { buffer.append(contentsOf: $0) }
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        let ok = buffer.withUnsafeBytes { FileJournal.writeAll(fd, $0) }
        guard ok else { throw ChatbotTesterError(.io, "cannot write \(url.path)", location: SourceLocation(source: url.path)) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        guard fsync(fd) == 0 else { throw ChatbotTesterError(.io, "fsync failed for \(url.path)", location: SourceLocation(source: url.path)) }
    }
}
