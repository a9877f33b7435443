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

    /// Creates a spool for `samples`, or opens the one already in `directory` (resume). A
    /// convenience over `ClusterSpoolWriter`, which the streaming overload uses too.
    ///
    /// - Throws: `.invalidConfig` when an existing spool was made for another setup, `.invalidInput`
    ///   on duplicate sample ids, `.io` when files cannot be written.
    public static func prepare(
        at directory: URL, samples: [TestSample], setup: ClusterJobSetup, samplesPerShard: Int = 64, minShards: Int = 1,
        runId: String = UUID().uuidString.lowercased()
    ) throws -> ClusterSpool {
        let writer = try ClusterSpoolWriter(at: directory, setup: setup, samplesPerShard: samplesPerShard, minShards: minShards, runId: runId)
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
    /// - Throws: as `prepare(at:samples:setup:samplesPerShard:minShards:runId:)`, and what the stream throws.
    public static func prepare<Samples: AsyncSequence>(
        at directory: URL, samples: Samples, setup: ClusterJobSetup, samplesPerShard: Int = 64, minShards: Int = 1,
        runId: String = UUID().uuidString.lowercased()
    ) async throws -> ClusterSpool where Samples.Element == TestSample {
        let writer = try ClusterSpoolWriter(at: directory, setup: setup, samplesPerShard: samplesPerShard, minShards: minShards, runId: runId)
        for try await sample in samples { try writer.add(sample) }
        return try writer.finish()
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

    /// Writes `results.jsonl` (RunRecord per line) and, with `evals`, `evals.jsonl` (EvalRecord per
    /// line) in dataset order into `output`, one record at a time, and returns how many samples
    /// they cover.
    @discardableResult
    public func merge(into output: URL, evals writeEvals: Bool = true) throws -> Int {
        let index = try journalIndex()
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let results = try JSONLWriter(url: output.appendingPathComponent("results.jsonl"))
        let evals = writeEvals ? try JSONLWriter(url: output.appendingPathComponent("evals.jsonl")) : nil
        for entry in index.entries {
            let record = try index.record(entry, source: journalURL.path)
            try results.write(record.run)
            for eval in record.evals { try evals?.write(eval) }
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
