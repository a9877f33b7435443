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
        guard version == ClusterManifest.currentSchemaVersion else {
            throw damaged(manifestURL, "has spool format \(version); this version reads format \(ClusterManifest.currentSchemaVersion) (start a new run without --resume)")
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

    /// The file of shard `id`, checked against the manifest (size, SHA-256).
    private func verifiedShard(_ id: Int) throws -> (ClusterManifest.Shard, String, Data) {
        guard let shard = manifest.shards.first(where: { $0.id == id }) ?? feed?.shard(id) else {
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
    private static func readShard(_ path: String, bytes: Int) throws -> Data {
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
                // The sample's own id member, as the writer (or JSONEncoder) writes it.
                idMember.removeAll(keepingCapacity: true)
                idMember.append(contentsOf: #""id":"#.utf8)
                FastRecordEncoding.appendString(id, to: &idMember)
                let sampleStart = start + prefix.count - 1
                guard end - start >= prefix.count + idMember.count + 2, base[end - 1] == UInt8(ascii: "}"),
                    memcmp(base + start, prefix, prefix.count) == 0,
                    Self.contains(base + sampleStart, count: end - 1 - sampleStart, idMember)
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

    /// Whether `count` bytes at `start` hold `needle` (which starts with a quote) somewhere.
    private static func contains(_ start: UnsafePointer<UInt8>, count: Int, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= count else { return false }
        var position = 0
        while position <= count - needle.count, let hit = memchr(start + position, Int32(first), count - needle.count + 1 - position) {
            let at = UnsafeRawPointer(start).distance(to: UnsafeRawPointer(hit))
            if memcmp(start + at, needle, needle.count) == 0 { return true }
            position = at + 1
        }
        return false
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

    /// Where each journaled sample's record sits in the journal, sorted by dataset index. The
    /// journal is read in chunks of 1 MiB and each line is scanned, not decoded (`ClusterRecordEnvelope`:
    /// well-formed JSON shaped like a record; only its id, index and status are read), so a
    /// journal of any size indexes in little memory.
    ///
    /// Per sample id the record key rule holds: the first success wins, a later success replaces
    /// an earlier error, nothing replaces a success. A torn last line is ignored. A damaged line
    /// elsewhere (not JSON, not shaped like a record, or a record whose envelope id differs from its own) is
    /// skipped and reported on `events` with its file:line: its sample is not journaled, so it
    /// runs again.
    ///
    /// When this process journaled every line since it last read the journal (the coordinator
    /// that ran the session, `JournalLog`), the index is taken from what it kept and the file is
    /// not read again (its size, inode and modification time must be those it left).
    public func journalIndex(events: EventBus? = nil) throws -> JournalIndex {
        guard FileManager.default.fileExists(atPath: journalURL.path) else {
            journalLog.seed(entries: [], lines: 0, length: 0, damaged: [])
            return JournalIndex(reader: nil, entries: [], damagedLines: [])
        }
        let reader = try JournalIndex.Reader(url: journalURL)
        if let kept = journalLog.index(of: try reader.stamp()) {
            return JournalIndex(reader: reader, entries: kept.entries, damagedLines: kept.damaged)
        }
        // Where each sample's entry is, by id (a 16-byte digest and a position each: a million
        // ids take ~28 MB, where a `[String: Int]` takes twice that and more for long ids). Grown
        // with the journal, not sized for the spool: a resume early in a big run reads few lines.
        var positions = IDDigestSet(values: true)
        var entries: [JournalIndex.Entry] = []
        entries.reserveCapacity(manifest.sampleCount)
        var damaged: [Int] = []
        var line = 0
        let length = try reader.forEachLine { bytes, range in
            line += 1
            guard !range.isEmpty else { return }
            guard let key = try? ClusterRecordEnvelope(scanning: bytes), key.runSampleId == key.sampleId, key.index >= 0 else {
                damaged.append(line)
                events?.emit(LogEvent(
                    .warning, "journal line \(line) is damaged and was skipped; its case runs again", source: "\(journalURL.path):\(line)"))
                return
            }
            let entry = JournalIndex.Entry(
                sampleId: key.sampleId, index: key.index, range: range, line: line, succeeded: key.status == .ok, costUSD: key.costUSD,
                runSpan: JournalIndex.Entry.span(key.runRange), evalsSpan: JournalIndex.Entry.span(key.evalsRange))
            // Stored at the next position when new (then the rule admits it as the first).
            let position = positions.insert(key.sampleId, value: entries.count)
            switch ClusterRecordKeys.admission(existing: position.map { entries[$0].succeeded }, succeeded: entry.succeeded) {
            case .first:
                entries.append(entry)
            case .replacesError:
                entries[position!] = entry
            case .duplicate:
                break
            }
        }
        positions = IDDigestSet()  // freed before the sort
        JournalIndex.sortInPlace(&entries)
        journalLog.seed(entries: entries, lines: line, length: length, damaged: damaged)
        return JournalIndex(reader: reader, entries: entries, damagedLines: damaged)
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
    /// record's `run` and `evals` sit); each kept line is then read once more, by range.
    ///
    /// - Parameter each: called with every merged sample in dataset order — its journal entry, the
    ///   bytes of its `run` (a results line) and of each of its evaluations (evals lines) — so the reports can
    ///   be built in the same pass (`ShardedRunStage`); the bytes are the lines just written.
    @discardableResult
    public func merge(
        into output: URL, evals writeEvals: Bool = true, each: ((_ entry: JournalIndex.Entry, _ run: Data, _ evals: [Data]) throws -> Void)? = nil
    ) throws -> Int {
        let index = try journalIndex()
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

/// The journal's lines by sample, in dataset order (see `ClusterSpool.journalIndex()`).
public struct JournalIndex: Sendable {
    /// One journaled sample: its id, dataset index and where its line is.
    public struct Entry: Sendable, Hashable {
        public var sampleId: String
        public var index: Int
        /// The line's byte range in the journal file (without its newline).
        public var range: Range<Int>
        public var line: Int
        /// Whether the record is a success (`run.status == .ok`).
        public var succeeded: Bool
        /// What the run cost, when known.
        public var costUSD: Double?
        /// Where the record's `run` value and `evals` array sit in its line (kept from the
        /// index's scan so the merge does not scan the line again).
        var runSpan: Range<Int32>
        var evalsSpan: Range<Int32>

        static func span(_ range: Range<Int>) -> Range<Int32> { Int32(clamping: range.lowerBound)..<Int32(clamping: range.upperBound) }

        /// The bytes of the `run` value and of each element of `evals` in `line` (this entry's
        /// journal line); nil when the line is not the one indexed.
        func slices(of line: Data) -> (run: Data, evals: [Data])? {
            let start = line.startIndex
            guard Int(runSpan.upperBound) <= line.count, Int(evalsSpan.upperBound) <= line.count,
                let elements = try? JSONByteScanner.elements(ofArray: line, in: Int(evalsSpan.lowerBound)..<Int(evalsSpan.upperBound))
            else { return nil }
            let run = line[(start + Int(runSpan.lowerBound))..<(start + Int(runSpan.upperBound))]
            guard run.first == UInt8(ascii: "{"), run.last == UInt8(ascii: "}") else { return nil }
            let evals = elements.map { line[(start + $0.lowerBound)..<(start + $0.upperBound)] }
            return (run, evals)
        }
    }

    /// Sorts `entries` by dataset index, then journal line (a key no two entries share), without
    /// a second array of entries: a sort of 4-byte positions, then each entry moved once into
    /// place (following the permutation's cycles). A million entries of ~90 bytes would otherwise
    /// need a scratch buffer of up to as many again at the merge's peak.
    static func sortInPlace(_ entries: inout [Entry]) {
        guard entries.count > 1, entries.count <= Int(UInt32.max) else {
            entries.sort { ($0.index, $0.line) < ($1.index, $1.line) }
            return
        }
        var order = (0..<entries.count).map { UInt32($0) }
        entries.withUnsafeBufferPointer { all in
            order.sort { (all[Int($0)].index, all[Int($0)].line) < (all[Int($1)].index, all[Int($1)].line) }
        }
        // order[target] is the position of the entry that belongs at target: walk each cycle once.
        var placed = [Bool](repeating: false, count: entries.count)
        for start in 0..<entries.count where !placed[start] {
            let held = entries[start]
            var target = start
            while true {
                placed[target] = true
                let source = Int(order[target])
                if source == start {
                    entries[target] = held
                    break
                }
                entries[target] = entries[source]
                target = source
            }
        }
    }

    let reader: Reader?
    public let entries: [Entry]
    /// Journal lines skipped as damaged (1-based); their samples count as not journaled.
    public let damagedLines: [Int]

    /// The bytes of `entry`'s journal line, read from the file (nothing is kept in memory).
    public func bytes(of entry: Entry) throws -> Data {
        guard let reader else { throw ChatbotTesterError(.internal, "no journal to read line \(entry.line) from") }
        return try reader.read(entry.range, line: entry.line)
    }

    /// Decodes the full record of `entry`.
    public func record(_ entry: Entry, source: String) throws -> ClusterRecord {
        let bytes = try bytes(of: entry)
        do {
            return try JSONCoding.decoder().decode(ClusterRecord.self, from: bytes)
        } catch {
            throw ChatbotTesterError.decoding(error, source: source, line: entry.line)
        }
    }

    /// The open journal file, read by chunks (indexing) and by line range (`pread`, safe from
    /// any thread).
    final class Reader: @unchecked Sendable {
        let url: URL
        private let fd: Int32

        init(url: URL) throws {
            self.url = url
            fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
            }
        }

        deinit { close(fd) }

        private func failure(_ line: Int?) -> ChatbotTesterError {
            ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path, line: line), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }

        /// The file's size, inode and modification time.
        func stamp() throws -> JournalLog.Stamp {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw failure(nil) }
            return JournalLog.Stamp(info)
        }

        /// Calls `body` with each complete line (a torn last line is left out) and its byte range;
        /// returns the length of the complete lines (where a torn last line starts).
        @discardableResult
        func forEachLine(_ body: (Data, Range<Int>) throws -> Void) throws -> Int {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var filled = 0
            var bufferOffset = 0
            var position: off_t = 0
            while true {
                if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }  // a line longer than the buffer
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, position) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw failure(nil) }
                if n == 0 { return bufferOffset }
                position += off_t(n)
                filled += n
                var start = 0
                try buffer.withUnsafeBytes { raw in
                    let base = raw.baseAddress!
                    while start < filled, let hit = memchr(base + start, 0x0A, filled - start) {
                        let newline = base.distance(to: UnsafeRawPointer(hit))
                        try body(Data(bytes: base + start, count: newline - start), (bufferOffset + start)..<(bufferOffset + newline))
                        start = newline + 1
                    }
                }
                if start > 0 {
                    buffer.withUnsafeMutableBytes { raw in _ = memmove(raw.baseAddress!, raw.baseAddress! + start, filled - start) }
                    filled -= start
                    bufferOffset += start
                }
            }
        }

        /// The bytes at `range` of the file.
        func read(_ range: Range<Int>, line: Int) throws -> Data {
            var out = Data(count: range.count)
            var done = 0
            try out.withUnsafeMutableBytes { raw in
                while done < range.count {
                    let n = pread(fd, raw.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw failure(line) }
                    done += n
                }
            }
            return out
        }
    }
}

/// The journal's index kept in memory: seeded by a scan of the journal (`journalIndex()`, which
/// a coordinator's resume does before it appends anything) and extended by the coordinator with
/// each line it appends, so the merge that follows does not scan the journal again. It is used
/// only once the coordinator has closed the journal and sealed the log (`seal(_:)`: the file's
/// size is the length the log covers), and only while the file is as it was sealed (size, inode,
/// modification time); anything else — an edit, another writer, a failed append — leaves the
/// merge to scan.
final class JournalLog: @unchecked Sendable {
    /// What identifies a file's state: size, inode, modification time.
    struct Stamp: Equatable {
        var size: Int
        var inode: UInt64
        var seconds: Int
        var nanoseconds: Int

        init(_ info: stat) {
            size = Int(info.st_size)
            inode = UInt64(info.st_ino)
            seconds = Int(info.st_mtim.tv_sec)
            nanoseconds = Int(info.st_mtim.tv_nsec)
        }
    }

    private let lock = NSLock()
    /// Entries in journal order: the scan's (deduplicated, sorted), then those appended since.
    private var entries: [JournalIndex.Entry] = []
    /// How many of `entries` came from the scan (already deduplicated and in dataset order).
    private var seeded = 0
    private var damaged: [Int] = []
    private var lines = 0
    /// Bytes of the journal covered; nil before a scan (or after a failed append).
    private var length: Int?
    /// The journal as the coordinator left it: the log is used only for that file.
    private var sealed: Stamp?

    func seed(entries: [JournalIndex.Entry], lines: Int, length: Int, damaged: [Int]) {
        lock.withLock {
            self.entries = entries
            self.seeded = entries.count
            self.lines = lines
            self.length = length
            self.damaged = damaged
            sealed = nil
        }
    }

    /// Marks the log complete for the journal at `url` as it is now (closed by the coordinator),
    /// when the file's size is the length the log covers.
    func seal(_ url: URL) {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return }
        let stamp = Stamp(info)
        lock.withLock { sealed = length == stamp.size ? stamp : nil }
    }

    /// Records a line just appended to the journal: `envelope`'s bytes and a newline.
    func appended(_ envelope: ClusterRecordEnvelope) {
        appended(envelope, count: envelope.bytes.count, run: envelope.runRange, evals: envelope.evalsRange)
    }

    /// Records a line of `count` bytes and a newline just appended to the journal: `envelope`
    /// with its sample put back (`ClusterRecordEnvelope.splicedShape(sampleCount:)` gives the
    /// line's length and its `run` and `evals` ranges).
    func appended(_ envelope: ClusterRecordEnvelope, count: Int, run: Range<Int>, evals: Range<Int>) {
        lock.withLock {
            guard let start = length else { return }
            sealed = nil
            lines += 1
            entries.append(JournalIndex.Entry(
                sampleId: envelope.sampleId, index: envelope.index, range: start..<(start + count), line: lines,
                succeeded: envelope.status == .ok, costUSD: envelope.costUSD, runSpan: JournalIndex.Entry.span(run),
                evalsSpan: JournalIndex.Entry.span(evals)))
            length = start + count + 1
        }
    }

    /// Forgets what was kept and keeps nothing more until the next scan seeds it again (an append
    /// failed: the file may not be what the log says; or the coordinator keeps no index).
    func invalidate() {
        lock.withLock {
            length = nil
            sealed = nil
            entries = []
            seeded = 0
        }
    }

    /// The index of the journal whose state is `stamp`, when the log was sealed on exactly that:
    /// each sample once by the record-key rule (`ClusterRecordKeys`), in dataset order. A sample's
    /// records are weighed in journal order, as the scan weighs them. The log's own entries are
    /// sorted and folded in place (no second copy of a million entries).
    func index(of stamp: Stamp) -> (entries: [JournalIndex.Entry], damaged: [Int])? {
        lock.withLock {
            guard let sealed, sealed == stamp else { return nil }
            guard entries.count > seeded else { return (entries, damaged) }
            // Records of one sample share its dataset index: sort by index, then journal line, and
            // keep per index what the rule keeps.
            JournalIndex.sortInPlace(&entries)
            var kept = 0
            for position in entries.indices {
                let entry = entries[position]
                if kept > 0, entries[kept - 1].index == entry.index, entries[kept - 1].sampleId == entry.sampleId {
                    switch ClusterRecordKeys.admission(existing: entries[kept - 1].succeeded, succeeded: entry.succeeded) {
                    case .first:
                        entries[kept] = entry
                        kept += 1
                    case .replacesError: entries[kept - 1] = entry
                    case .duplicate: break
                    }
                } else {
                    entries[kept] = entry
                    kept += 1
                }
            }
            entries.removeLast(entries.count - kept)
            seeded = entries.count
            return (entries, damaged)
        }
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
        buffer.append(contentsOf: line)
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
