import ChatbotTesterCore
import Foundation

extension ClusterManifest {
    /// The manifest as `JSONCoding.encoder(pretty: true)` writes it, byte for byte, but encoded one
    /// shard at a time: encoding a million-id manifest in one go builds the whole tree in memory
    /// first (about 90 bytes per case), this keeps only the output.
    public func prettyJSON() throws -> Data {
        let encoder = JSONCoding.encoder(pretty: true)
        var header = self
        header.shards = []
        let head = try encoder.encode(header)
        // Keys are sorted and "shards" sorts last, so the shards array closes the document.
        guard !shards.isEmpty, let marker = head.range(of: Data(#""shards" : ["#.utf8), options: .backwards) else {
            return try encoder.encode(self)
        }
        var out = Data(head[..<marker.upperBound])
        let indent = Array("\n    ".utf8)
        // One shard at a time into a reused buffer, then onto the document (one copy of it in memory).
        var piece: [UInt8] = []
        for (position, shard) in shards.enumerated() {
            piece.removeAll(keepingCapacity: true)
            if position > 0 { piece.append(UInt8(ascii: ",")) }
            piece.append(contentsOf: indent)
            if !Self.appendPretty(shard, to: &piece) {
                for (part, line) in try encoder.encode(shard).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                    if part > 0 { piece.append(contentsOf: indent) }
                    piece.append(contentsOf: line)
                }
            }
            out.append(contentsOf: piece)
        }
        out.append(contentsOf: Array("\n  ]\n}".utf8))
        return out
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
