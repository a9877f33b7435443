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
        let indent = Data("\n    ".utf8)
        for (position, shard) in shards.enumerated() {
            out.append(contentsOf: Array((position == 0 ? "" : ",").utf8))
            out.append(indent)
            for (part, line) in try encoder.encode(shard).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                if part > 0 { out.append(indent) }
                out.append(line)
            }
        }
        out.append(contentsOf: Array("\n  ]\n}".utf8))
        return out
    }
}
