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

        /// The indexes of its lines (empty for a reference whose numbers cannot be a shard's:
        /// negative, or past the largest index).
        public var indexes: Range<Int> {
            guard firstIndex >= 0, count > 0, count <= Int.max - firstIndex else { return 0..<0 }
            return firstIndex..<(firstIndex + count)
        }
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

extension ClusterMessageCodec {
    /// The assignment of a payload in `encodeAssignByReference`'s shape, read over its bytes (a
    /// worker reads one per batch of samples; `JSONDecoder` cost it more than the samples); nil for
    /// any other message or shape — an id with an escape, say — which `decode(_:peer:)` then reads.
    static func assignmentByReference(inCoordinatorShape payload: Data) -> ClusterMessage.AssignmentByReference? {
        payload.withUnsafeBytes { raw -> ClusterMessage.AssignmentByReference? in
            var cursor = ByteCursor(raw.bindMemory(to: UInt8.self))
            guard cursor.skip(#"{"body":{"samples":["#) else { return nil }
            var samples: [ClusterMessage.SampleReference] = []
            if !cursor.skip("]") {
                repeat {
                    guard cursor.skip(#"{"id":"#), let id = cursor.plainString(), cursor.skip(#","index":"#), let index = cursor.integer(),
                        cursor.skip("}")
                    else { return nil }
                    samples.append(ClusterMessage.SampleReference(index: index, id: id))
                } while cursor.skip(",")
                guard cursor.skip("]") else { return nil }
            }
            guard cursor.skip(#","shards":["#) else { return nil }
            var shards: [ClusterMessage.ShardReference] = []
            if !cursor.skip("]") {
                repeat {
                    guard cursor.skip(#"{"bytes":"#), let bytes = cursor.integer(), cursor.skip(#","count":"#), let count = cursor.integer(),
                        cursor.skip(#","file":"#), let file = cursor.plainString(), cursor.skip(#","firstIndex":"#), let firstIndex = cursor.integer(),
                        cursor.skip(#","id":"#), let id = cursor.integer(), cursor.skip(#","sha256":"#), let sha256 = cursor.plainString(),
                        cursor.skip("}")
                    else { return nil }
                    shards.append(ClusterMessage.ShardReference(id: id, file: file, bytes: bytes, sha256: sha256, firstIndex: firstIndex, count: count))
                } while cursor.skip(",")
                guard cursor.skip("]") else { return nil }
            }
            var slots: Int?
            if cursor.skip(#","slots":"#) {
                guard let value = cursor.integer() else { return nil }
                slots = value
            }
            guard cursor.skip(#"},"type":"assignByReference"}"#), cursor.atEnd else { return nil }
            return ClusterMessage.AssignmentByReference(shards: shards, samples: samples, slots: slots)
        }
    }
}

/// Reads bytes front to back: literals, integers and strings as the cluster's frame and spool
/// writers write them (an assignment by reference, a shard line).
struct ByteCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }

    /// Steps over `literal` when it comes next.
    mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - at >= count, let base = bytes.baseAddress, memcmp(base + at, literal.utf8Start, count) == 0 else { return false }
        at += count
        return true
    }

    /// A non-negative decimal integer without a leading zero, of at most 18 digits.
    mutating func integer() -> Int? {
        var value = 0
        let start = at
        while at < bytes.count, at - start < 18, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            value = value * 10 + Int(bytes[at] - UInt8(ascii: "0"))
            at += 1
        }
        let digits = at - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0"),
            at == bytes.count || bytes[at] < UInt8(ascii: "0") || bytes[at] > UInt8(ascii: "9")
        else { return nil }
        return value
    }

    /// A JSON string without escapes or control characters, valid UTF-8 (nil otherwise: the
    /// frame is then decoded whole).
    mutating func plainString() -> String? {
        guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { return nil }
        let start = at + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
            if bytes[end] == UInt8(ascii: "\\") || bytes[end] < 0x20 { return nil }
            end += 1
        }
        guard end < bytes.count, let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) else { return nil }
        at = end + 1
        return text
    }
}
