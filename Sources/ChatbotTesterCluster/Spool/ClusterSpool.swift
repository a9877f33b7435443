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

    /// The journaled records, first occurrence per sample id, in journal order. A torn last line is
    /// ignored; a corrupt line elsewhere is an error naming the line.
    public func journaledRecords() throws -> [ClusterRecord] {
        guard FileManager.default.fileExists(atPath: journalURL.path) else { return [] }
        let data: Data
        do {
            data = try Data(contentsOf: journalURL)
        } catch {
            throw ChatbotTesterError(.io, "cannot read \(journalURL.path)", location: SourceLocation(source: journalURL.path), cause: error)
        }
        let decoder = JSONCoding.decoder()
        var seen = Set<String>()
        var out: [ClusterRecord] = []
        var splitter = JSONL.LineSplitter()
        for (line, bytes) in splitter.feed(data) {
            let record: ClusterRecord
            do {
                record = try decoder.decode(ClusterRecord.self, from: bytes)
            } catch {
                throw ChatbotTesterError.decoding(error, source: journalURL.path, line: line)
            }
            if seen.insert(record.sampleId).inserted { out.append(record) }
        }
        return out
    }

    /// Every journaled record, deduplicated, in dataset order.
    public func mergedRecords() throws -> [ClusterRecord] {
        try journaledRecords().sorted { $0.index < $1.index }
    }

    /// Writes `results.jsonl` (RunRecord per line) and `evals.jsonl` (EvalRecord per line) in dataset
    /// order into `output`, and returns how many samples they cover.
    @discardableResult
    public func merge(into output: URL) throws -> Int {
        let records = try mergedRecords()
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let results = try JSONLWriter(url: output.appendingPathComponent("results.jsonl"))
        let evals = try JSONLWriter(url: output.appendingPathComponent("evals.jsonl"))
        for record in records {
            try results.write(record.run)
            for eval in record.evals { try evals.write(eval) }
        }
        try results.close()
        try evals.close()
        return records.count
    }
}
