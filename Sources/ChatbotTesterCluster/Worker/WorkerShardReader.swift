import ChatbotTesterCore
import Foundation

/// Reads the samples of an `assignByReference` from the spool's shards (protocol 10): the worker
/// side of assignment by reference. A shard is read in one read of the size the reference gives,
/// its SHA-256 checked against the reference's, its lines counted; then each sample's line (the one
/// at its index) must be `{"index":N,"sample":{…}}` with that index, and its case must decode as a
/// dataset line does and carry the id the reference names. The last few shards read are kept
/// (assignments take samples in dataset order, so consecutive ones share a shard).
///
/// Anything that does not hold — a file name that is not a shard's, a file missing, of another
/// size or digest, a line of another shape, index or id — is an `Unreadable` naming the file and
/// why: the worker hands the samples back (`released` with `unreadable`) and the coordinator reads
/// the shard itself, which names a damaged file as a run without references would.
struct WorkerShardReader {
    /// Why the samples of an assignment could not be read.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    private struct Loaded {
        var reference: ClusterMessage.ShardReference
        /// The file's path (for what names it).
        var path: String
        var data: Data
        /// Where each line starts, and one past the last line's newline.
        var lineStarts: [Int]
    }

    /// The spool's directory (the journal's), with a trailing slash.
    let directory: String
    /// How many shards stay read.
    let keeps: Int
    private var loaded: [Loaded] = []
    private let decoder = JSONCoding.decoder()

    /// A reader of the spool in `directory`.
    init(directory: String, keeps: Int = 4) {
        self.directory = directory.hasSuffix("/") ? directory : directory + "/"
        self.keeps = max(1, keeps)
    }

    /// The reader of the spool whose journal is at `journalPath` (the journal is the spool's
    /// `journal.jsonl`, beside its `shards/`).
    init(journalPath: String) {
        self.init(directory: (journalPath as NSString).deletingLastPathComponent)
    }

    /// The samples `assignment` names, in its order, each read from its shard (looked up again
    /// only when a sample is not in the last one's: they come in dataset order).
    mutating func samples(of assignment: ClusterMessage.AssignmentByReference) throws(Unreadable) -> [IndexedSample] {
        var out: [IndexedSample] = []
        out.reserveCapacity(assignment.samples.count)
        var current: Loaded?
        for reference in assignment.samples {
            if current?.reference.indexes.contains(reference.index) != true {
                guard let shard = assignment.shards.first(where: { $0.indexes.contains(reference.index) }) else {
                    throw Unreadable(description: "sample '\(reference.id)' at index \(reference.index) is in none of the shards named")
                }
                current = try load(shard)
            }
            out.append(try sample(reference, in: current!))
        }
        return out
    }

    private func sample(_ reference: ClusterMessage.SampleReference, in loaded: Loaded) throws(Unreadable) -> IndexedSample {
        let position = reference.index - loaded.reference.firstIndex
        let start = loaded.lineStarts[position], end = loaded.lineStarts[position + 1] - 1
        let line = loaded.data[(loaded.data.startIndex + start)..<(loaded.data.startIndex + end)]
        guard let (index, bytes) = ClusterMessageCodec.indexedLine(line), index == reference.index else {
            throw Unreadable(description: "spool file \(loaded.path) line \(position + 1) is not the indexed sample at index \(reference.index)")
        }
        switch JSONL.decode(TestSample.self, from: bytes, source: loaded.path, line: position + 1, decoder: decoder) {
        case .success(let sample):
            guard sample.id == reference.id else {
                throw Unreadable(description: "spool file \(loaded.path) line \(position + 1) holds sample '\(sample.id)', not '\(reference.id)'")
            }
            return IndexedSample(index: index, sample: sample, encodedSample: bytes, byReference: true)
        case .failure(let error):
            throw Unreadable(description: "spool file \(loaded.path) line \(position + 1): \(error)")
        }
    }

    /// The shard read and checked, from those kept or from its file.
    private mutating func load(_ shard: ClusterMessage.ShardReference) throws(Unreadable) -> Loaded {
        if let kept = loaded.first(where: { $0.reference == shard }) { return kept }
        guard Self.isShardFile(shard.file) else { throw Unreadable(description: "'\(shard.file)' is not a shard of the spool") }
        // A line is at least `{"index":N,"sample":{}}` and its newline: a count the size cannot hold
        // is refused before anything is read or reserved.
        guard !shard.indexes.isEmpty, shard.bytes > 0, shard.count <= shard.bytes / 24 + 1 else {
            throw Unreadable(description: "shard \(shard.id) named with \(shard.count) lines from index \(shard.firstIndex) in \(shard.bytes) bytes")
        }
        let path = directory + shard.file
        let data: Data
        do {
            data = try ClusterSpool.readShard(path, bytes: shard.bytes)
        } catch {
            throw Unreadable(description: "\(error)")
        }
        let digest = SpoolDigest.sha256(data)
        guard digest == shard.sha256 else {
            throw Unreadable(description: "spool file \(path) has SHA-256 \(digest), the coordinator named \(shard.sha256)")
        }
        var starts: [Int] = [0]
        starts.reserveCapacity(shard.count + 1)
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var at = 0
            while at < raw.count, let hit = memchr(base + at, 0x0A, raw.count - at) {
                at = base.distance(to: UnsafeRawPointer(hit)) + 1
                starts.append(at)
            }
        }
        guard starts.count == shard.count + 1, starts.last == data.count else {
            throw Unreadable(description: "spool file \(path) holds \(starts.count - 1) whole lines, the coordinator named \(shard.count)")
        }
        let read = Loaded(reference: shard, path: path, data: data, lineStarts: starts)
        loaded.append(read)
        if loaded.count > keeps { loaded.removeFirst() }
        return read
    }

    /// Whether `file` names a shard as the spool writer names them (`shards/shard-NNNNN.jsonl`):
    /// no other file of the host is read on a coordinator's word.
    static func isShardFile(_ file: String) -> Bool {
        let prefix = "shards/shard-", suffix = ".jsonl"
        guard file.hasPrefix(prefix), file.hasSuffix(suffix), file.utf8.count > prefix.utf8.count + suffix.utf8.count else { return false }
        let digits = file.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        return digits.count <= 9 && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
