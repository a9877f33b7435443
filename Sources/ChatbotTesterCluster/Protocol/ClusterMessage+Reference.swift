import ChatbotTesterCore
import Foundation

extension ClusterMessage {
    /// Samples for a worker named by where the spool holds them (protocol 10), not carried: each
    /// sample's dataset index and id, and the shards they are in — the file inside the spool, its
    /// size and SHA-256 as the manifest records them, and the indexes it holds. The worker reads
    /// the shard itself (`WorkerShardReader`), checks its digest and the line of each index, and
    /// plays the samples as an `assign` of them.
    ///
    /// The coordinator sends these only to a worker that appends its records to the spool's
    /// journal itself (it has seen a `journaled` frame of that worker: the same host, mount and
    /// user as the spool); a worker that cannot read a shard hands the samples back (`released`
    /// with `unreadable`) and is sent the samples' bytes from then on.
    public struct AssignmentByReference: Sendable, Hashable, Codable {
        /// The shards the samples are in.
        public var shards: [ShardReference]
        /// The samples, in the order they are to be played.
        public var samples: [SampleReference]
        /// As `Assignment.slots`.
        public var slots: Int?

        public init(shards: [ShardReference], samples: [SampleReference], slots: Int? = nil) {
            self.shards = shards
            self.samples = samples
            self.slots = slots
        }
    }

    /// A shard of the spool as its manifest records it (`ClusterManifest.Shard` without its ids).
    public struct ShardReference: Sendable, Hashable, Codable {
        public var id: Int
        /// The file, relative to the spool's directory (`shards/shard-NNNNN.jsonl`).
        public var file: String
        /// The file's size in bytes.
        public var bytes: Int
        /// The file's SHA-256 (lowercase hex).
        public var sha256: String
        /// The dataset index of its first line; its lines hold `firstIndex..<firstIndex + count`.
        public var firstIndex: Int
        public var count: Int

        public init(id: Int, file: String, bytes: Int, sha256: String, firstIndex: Int, count: Int) {
            self.id = id
            self.file = file
            self.bytes = bytes
            self.sha256 = sha256
            self.firstIndex = firstIndex
            self.count = count
        }

        /// The reference of a shard the manifest lists.
        public init(_ shard: ClusterManifest.Shard) {
            self.init(id: shard.id, file: shard.file, bytes: shard.bytes, sha256: shard.sha256, firstIndex: shard.firstIndex, count: shard.count)
        }

        /// The indexes of its lines.
        public var indexes: Range<Int> { firstIndex..<(firstIndex + max(0, count)) }
    }

    /// One sample of an `AssignmentByReference`: its dataset index and id.
    public struct SampleReference: Sendable, Hashable, Codable {
        public var index: Int
        public var id: String

        public init(index: Int, id: String) {
            self.index = index
            self.id = id
        }
    }
}

extension ClusterMessageCodec {
    /// The payload of an `assignByReference`: the bytes `encode(.assignByReference(…))` writes
    /// (sorted keys), written directly (the coordinator sends one per batch of samples).
    public func encodeAssignByReference(_ assignment: ClusterMessage.AssignmentByReference) -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(96 + assignment.samples.count * 32 + assignment.shards.count * 160)
        out.append(contentsOf: #"{"body":{"samples":["#.utf8)
        for (position, sample) in assignment.samples.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":"#.utf8)
            FastRecordEncoding.appendString(sample.id, to: &out)
            out.append(contentsOf: #","index":"#.utf8)
            FastRecordEncoding.appendInt(sample.index, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"shards":["#.utf8)
        for (position, shard) in assignment.shards.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"bytes":"#.utf8)
            FastRecordEncoding.appendInt(shard.bytes, to: &out)
            out.append(contentsOf: #","count":"#.utf8)
            FastRecordEncoding.appendInt(shard.count, to: &out)
            out.append(contentsOf: #","file":"#.utf8)
            FastRecordEncoding.appendString(shard.file, to: &out)
            out.append(contentsOf: #","firstIndex":"#.utf8)
            FastRecordEncoding.appendInt(shard.firstIndex, to: &out)
            out.append(contentsOf: #","id":"#.utf8)
            FastRecordEncoding.appendInt(shard.id, to: &out)
            out.append(contentsOf: #","sha256":"#.utf8)
            FastRecordEncoding.appendString(shard.sha256, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        if let slots = assignment.slots {
            out.append(contentsOf: #","slots":"#.utf8)
            FastRecordEncoding.appendInt(slots, to: &out)
        }
        out.append(contentsOf: #"},"type":"assignByReference"}"#.utf8)
        return Data(out)
    }
}
