import ChatbotTesterCore
import Foundation

extension ClusterManifest {
    /// The manifest as `JSONCoding.encoder(pretty: true)` writes it, byte for byte, but encoded one
    /// shard at a time: encoding a million-id manifest in one go builds the whole tree in memory
    /// first (about 90 bytes per case), this keeps only the output.
    public func prettyJSON() throws -> Data {
        var out = Data()
        try writePrettyJSON { out.append(contentsOf: $0) }
        return out
    }

    /// Hands `prettyJSON()`'s bytes to `write` in pieces of about 64 KiB, in order, without
    /// holding the document: how the spool writes a million-id manifest to its file (with its
    /// digest taken as it goes) without a copy of it in memory.
    public func writePrettyJSON(_ write: (UnsafeRawBufferPointer) throws -> Void) throws {
        let encoder = JSONCoding.encoder(pretty: true)
        var header = self
        header.shards = []
        let head = try encoder.encode(header)
        // Keys are sorted and "shards" sorts last, so the shards array closes the document.
        guard !shards.isEmpty, let marker = head.range(of: Data(#""shards" : ["#.utf8), options: .backwards) else {
            try encoder.encode(self).withUnsafeBytes(write)
            return
        }
        var piece = [UInt8](head[..<marker.upperBound])
        let indent = Array("\n    ".utf8)
        // One shard at a time into a reused buffer, handed on once it holds 64 KiB.
        for (position, shard) in shards.enumerated() {
            if position > 0 { piece.append(UInt8(ascii: ",")) }
            piece.append(contentsOf: indent)
            if !Self.appendPretty(shard, to: &piece) {
                for (part, line) in try encoder.encode(shard).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                    if part > 0 { piece.append(contentsOf: indent) }
                    piece.append(contentsOf: line)
                }
            }
            if piece.count >= 1 << 16 {
                try piece.withUnsafeBytes(write)
                piece.removeAll(keepingCapacity: true)
            }
        }
        piece.append(contentsOf: Array("\n  ]\n}".utf8))
        try piece.withUnsafeBytes(write)
    }

    /// Appends a shard as the pretty encoder writes it at the depth of the manifest's `shards`
    /// array (members indented by 6 spaces, sample ids by 8), straight to bytes: the manifest of a
    /// large run lists every sample id. False, writing nothing, for a shard without samples (the
    /// encoder's empty array is left to it).
    static func appendPretty(_ shard: Shard, to out: inout [UInt8]) -> Bool {
        guard !shard.sampleIds.isEmpty else { return false }
        let member = Array("\n      ".utf8)
        func key(_ name: String, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: member)
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: #"" : "#.utf8)
        }
        out.append(UInt8(ascii: "{"))
        key("bytes", first: true)
        FastRecordEncoding.appendInt(shard.bytes, to: &out)
        key("count")
        FastRecordEncoding.appendInt(shard.count, to: &out)
        key("file")
        FastRecordEncoding.appendString(shard.file, to: &out)
        key("firstIndex")
        FastRecordEncoding.appendInt(shard.firstIndex, to: &out)
        key("id")
        FastRecordEncoding.appendInt(shard.id, to: &out)
        key("sampleIds")
        out.append(UInt8(ascii: "["))
        for (position, id) in shard.sampleIds.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "\n        ".utf8)
            FastRecordEncoding.appendString(id, to: &out)
        }
        out.append(contentsOf: "\n      ]".utf8)
        key("sha256")
        FastRecordEncoding.appendString(shard.sha256, to: &out)
        out.append(contentsOf: "\n    }".utf8)
        return true
    }
}
