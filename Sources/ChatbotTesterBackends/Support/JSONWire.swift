import ChatbotTesterCore
import Foundation

/// JSON bytes ↔ `JSONValue` for wire bodies.
enum JSONWire {
    /// Compact JSON with sorted keys.
    static func encode(_ value: JSONValue) -> Data {
        Data(JSONByteWriter.bytes(value))
    }

    static func parse(_ data: Data) throws -> JSONValue {
        try JSONByteParser.parse(data)
    }

    /// Parses a reply body; a body that is not JSON is a `.badResponse` naming the peer (retryable:
    /// a truncated or garbled reply is usually a glitch).
    static func decode(_ data: Data, peer: BackendPeer) throws -> JSONValue {
        do {
            return try parse(data)
        } catch {
            throw peer.badResponse("reply is not valid JSON", body: data, retry: .transient)
        }
    }

    /// A JSON text as a string.
    static func text(_ value: JSONValue) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }
}
