import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPCompression

/// Decodes a `gzip` or `deflate` reply body piece by piece, with NIO's decompressor and its limit
/// (at most 50 times the compressed size so far): a hostile peer's small reply cannot become a
/// huge one. One decoder per reply, used by one thread at a time.
final class HTTPBodyDecoder {
    private let channel: EmbeddedChannel

    /// A decoder for a reply with `headers`, or `nil` when its body is not encoded (then nothing
    /// is made: most replies pay one header lookup).
    init?(status: Int, headers: HTTPHeaders) {
        guard let encoding = headers.first(name: "content-encoding")?.lowercased(),
            encoding.contains("gzip") || encoding.contains("deflate")
        else { return nil }
        channel = EmbeddedChannel()
        do {
            try channel.pipeline.syncOperations.addHandler(NIOHTTPResponseDecompressor(limit: .ratio(50)))
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
            try channel.writeInbound(HTTPClientResponsePart.head(head))
            _ = try channel.readInbound(as: HTTPClientResponsePart.self)
        } catch {
            return nil
        }
    }

    deinit {
        _ = try? channel.finish()
    }

    /// The decoded bytes of the next piece of the body.
    func feed(_ bytes: some Collection<UInt8>) throws(HTTPClientError) -> [UInt8] {
        try pass(.body(ByteBuffer(bytes: bytes)))
    }

    /// The last decoded bytes, once the body has ended.
    func finish() throws(HTTPClientError) -> [UInt8] {
        try pass(.end(nil))
    }

    /// Writes `part` through the decompressor and returns the body bytes that came out.
    private func pass(_ part: HTTPClientResponsePart) throws(HTTPClientError) -> [UInt8] {
        do {
            try channel.writeInbound(part)
            var out: [UInt8] = []
            while let decoded = try channel.readInbound(as: HTTPClientResponsePart.self) {
                if case .body(let buffer) = decoded { out.append(contentsOf: buffer.readableBytesView) }
            }
            return out
        } catch {
            throw HTTPClientError(.invalidReply, "invalid compressed body")
        }
    }

    /// A whole body decoded (`body` as it is when it is not encoded).
    static func decode(_ body: [UInt8], status: Int, headers: HTTPHeaders) throws(HTTPClientError) -> [UInt8] {
        guard let decoder = HTTPBodyDecoder(status: status, headers: headers) else { return body }
        return try decoder.feed(body) + decoder.finish()
    }
}
