import ChatbotTesterCore
import Foundation

/// A run's spool directory: the message files a cluster run is made of.
///
/// ```
/// spool/
///   manifest.json          ClusterManifest (run id, shards, setup digest)
///   setup.json             ClusterJobSetup (backends as specs — secrets stay {env: NAME} — and job)
///   shards/shard-00000.jsonl   one IndexedSample per line
///   journal.jsonl          ClusterRecord per line, appended and fsync'd in batches
/// ```
/// A record counts once it is in the journal. Opening an existing spool resumes it.
public struct ClusterSpool: Sendable {
    public let directory: URL
    public let manifest: ClusterManifest
    public let setup: ClusterJobSetup

    public var journalURL: URL { directory.appendingPathComponent("journal.jsonl") }
    public var manifestURL: URL { directory.appendingPathComponent("manifest.json") }

    /// Whether `directory` holds a spool (a manifest).
    public static func exists(at directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.json").path)
    }

    /// Creates a spool for `samples`, or opens the one already in `directory` (resume).
    ///
    /// - Throws: `.invalidConfig` when an existing spool was made for another setup, `.invalidInput`
    ///   on duplicate sample ids, `.io` when files cannot be written.
    public static func prepare(
        at directory: URL, samples: [TestSample], setup: ClusterJobSetup, samplesPerShard: Int = 64, minShards: Int = 1,
        runId: String = UUID().uuidString.lowercased()
    ) throws -> ClusterSpool {
        let setupDigest = try digest(of: setup)
        if exists(at: directory) {
            let spool = try open(at: directory)
            guard spool.manifest.setupDigest == setupDigest, spool.manifest.sampleCount == samples.count else {
                throw ChatbotTesterError(
                    .invalidConfig, "the spool holds another run (different config or dataset); use a new spool directory",
                    location: SourceLocation(source: directory.path))
            }
            return spool
        }
        var seen = Set<String>()
        for (line, sample) in samples.enumerated() where !seen.insert(sample.id).inserted {
            throw ChatbotTesterError(
                .invalidInput, "duplicate sample id '\(sample.id)'", location: SourceLocation(source: "dataset", line: line + 1, field: "id"))
        }
        let encoder = JSONCoding.encoder()
        var lines: [Data] = []
        lines.reserveCapacity(samples.count)
        for (index, sample) in samples.enumerated() {
            lines.append(try encoder.encode(IndexedSample(index: index, sample: sample)))
        }
        let ranges = ShardPlanner.plan(sizes: lines.map(\.count), maxSamples: samplesPerShard, minShards: minShards)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("shards"), withIntermediateDirectories: true)
        var shards: [ClusterManifest.Shard] = []
        for (id, range) in ranges.enumerated() {
            let file = String(format: "shards/shard-%05d.jsonl", id)
            var data = Data()
            for index in range {
                data.append(lines[index])
                data.append(0x0A)
            }
            try FileArtifactStore.atomicWrite(data, to: directory.appendingPathComponent(file))
            shards.append(ClusterManifest.Shard(
                id: id, file: file, count: range.count, bytes: data.count, firstIndex: range.lowerBound,
                sampleIds: range.map { samples[$0].id }))
        }
        try FileArtifactStore.atomicWrite(try JSONCoding.encoder(pretty: true).encode(setup), to: directory.appendingPathComponent("setup.json"))
        let manifest = ClusterManifest(runId: runId, sampleCount: samples.count, setupDigest: setupDigest, shards: shards)
        // The manifest goes last: its presence marks a complete spool.
        try FileArtifactStore.atomicWrite(try JSONCoding.encoder(pretty: true).encode(manifest), to: directory.appendingPathComponent("manifest.json"))
        return ClusterSpool(directory: directory, manifest: manifest, setup: setup)
    }

    /// Opens an existing spool.
    public static func open(at directory: URL) throws -> ClusterSpool {
        let manifest = try readJSON(ClusterManifest.self, directory.appendingPathComponent("manifest.json"))
        let setup = try readJSON(ClusterJobSetup.self, directory.appendingPathComponent("setup.json"))
        return ClusterSpool(directory: directory, manifest: manifest, setup: setup)
    }

    private static func readJSON<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: error)
        }
        do {
            return try JSONCoding.decoder().decode(T.self, from: data)
        } catch {
            throw ChatbotTesterError.decoding(error, source: url.path, line: nil)
        }
    }

    /// The digest recorded in the manifest for `setup`.
    public static func digest(of setup: ClusterJobSetup) throws -> String {
        ClusterDigest.of(text: try JSONValue(encoding: setup).canonicalText)
    }

    /// The samples of shard `id`.
    public func samples(ofShard id: Int) throws -> [IndexedSample] {
        guard let shard = manifest.shards.first(where: { $0.id == id }) else {
            throw ChatbotTesterError(.internal, "no shard \(id) in \(directory.path)")
        }
        let url = directory.appendingPathComponent(shard.file)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ChatbotTesterError(.io, "cannot read shard \(url.path)", location: SourceLocation(source: url.path), cause: error)
        }
        let decoder = JSONCoding.decoder()
        var out: [IndexedSample] = []
        var splitter = JSONL.LineSplitter()
        for (line, bytes) in splitter.feed(data) {
            do {
                out.append(try decoder.decode(IndexedSample.self, from: bytes))
            } catch {
                throw ChatbotTesterError.decoding(error, source: url.path, line: line)
            }
        }
        return out
    }

    /// Where each journaled sample's record sits in the journal: first occurrence per sample id,
    /// sorted by dataset index. The journal is memory-mapped and only each line's id and index are
    /// decoded, so a journal of any size indexes in little memory. A torn last line is ignored; a
    /// corrupt line elsewhere is an error naming the line.
    public func journalIndex() throws -> JournalIndex {
        guard FileManager.default.fileExists(atPath: journalURL.path) else { return JournalIndex(data: Data(), entries: []) }
        let data: Data
        do {
            data = try Data(contentsOf: journalURL, options: .alwaysMapped)
        } catch {
            throw ChatbotTesterError(.io, "cannot read \(journalURL.path)", location: SourceLocation(source: journalURL.path), cause: error)
        }
        let decoder = JSONCoding.decoder()
        var seen = Set<String>()
        var entries: [JournalIndex.Entry] = []
        var start = data.startIndex
        var line = 0
        while let newline = data[start...].firstIndex(of: 0x0A) {
            line += 1
            let range = start..<newline
            start = newline + 1
            guard !range.isEmpty else { continue }
            let key: RecordKey
            do {
                key = try decoder.decode(RecordKey.self, from: data[range])
            } catch {
                throw ChatbotTesterError.decoding(error, source: journalURL.path, line: line)
            }
            if seen.insert(key.sampleId).inserted {
                entries.append(JournalIndex.Entry(sampleId: key.sampleId, index: key.index, range: range, line: line))
            }
        }
        entries.sort { $0.index < $1.index }
        return JournalIndex(data: data, entries: entries)
    }

    /// The sample ids already journaled (what a resumed run skips).
    public func journaledIds() throws -> Set<String> {
        Set(try journalIndex().entries.map(\.sampleId))
    }

    /// Every journaled record, deduplicated, in dataset order (all in memory: for tests and small
    /// runs; `merge(into:)` streams).
    public func mergedRecords() throws -> [ClusterRecord] {
        let index = try journalIndex()
        return try index.entries.map { try index.record($0, source: journalURL.path) }
    }

    /// Writes `results.jsonl` (RunRecord per line) and `evals.jsonl` (EvalRecord per line) in dataset
    /// order into `output`, one record at a time, and returns how many samples they cover.
    @discardableResult
    public func merge(into output: URL) throws -> Int {
        let index = try journalIndex()
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let results = try JSONLWriter(url: output.appendingPathComponent("results.jsonl"))
        let evals = try JSONLWriter(url: output.appendingPathComponent("evals.jsonl"))
        for entry in index.entries {
            let record = try index.record(entry, source: journalURL.path)
            try results.write(record.run)
            for eval in record.evals { try evals.write(eval) }
        }
        try results.close()
        try evals.close()
        return index.entries.count
    }
}

/// The journal's lines by sample, in dataset order (see `ClusterSpool.journalIndex()`).
public struct JournalIndex: Sendable {
    /// One journaled sample: its id, dataset index and where its line is.
    public struct Entry: Sendable, Hashable {
        public var sampleId: String
        public var index: Int
        public var range: Range<Data.Index>
        public var line: Int
    }

    let data: Data
    public let entries: [Entry]

    /// Decodes the full record of `entry`.
    public func record(_ entry: Entry, source: String) throws -> ClusterRecord {
        do {
            return try JSONCoding.decoder().decode(ClusterRecord.self, from: data[entry.range])
        } catch {
            throw ChatbotTesterError.decoding(error, source: source, line: entry.line)
        }
    }
}

/// The two fields of a journal line needed to index it.
private struct RecordKey: Decodable {
    var sampleId: String
    var index: Int
}
