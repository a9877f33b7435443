import ChatbotTesterCore
import Foundation

/// An `EmbeddingBackend` for tests: the same text always gets the same unit vector (derived from its
/// SHA-256), different texts get different ones. Records every call.
public final class MockEmbeddingBackend: EmbeddingBackend {
    public let dimensions: Int
    private let calls = Locked<[[String]]>([])

    public init(dimensions: Int = 8) {
        self.dimensions = max(1, dimensions)
    }

    /// Every call's inputs, in order.
    public var recordedCalls: [[String]] { calls.current }
    /// How many calls were made.
    public var callCount: Int { calls.withLock { $0.count } }

    public func embed(_ inputs: [String]) async throws -> EmbeddingResponse {
        calls.withLock { $0.append(inputs) }
        let tokens = inputs.reduce(0) { $0 + $1.split(separator: " ").count }
        return EmbeddingResponse(vectors: inputs.map(vector), usage: Usage(promptTokens: tokens))
    }

    /// The vector of `text`: components in [-1, 1] from its digest, normalised to length 1.
    public func vector(for text: String) -> [Double] {
        var bytes: [UInt8] = []
        var counter = 0
        while bytes.count < dimensions {
            var hasher = SHA256Hasher()
            hasher.update("\(counter):\(text)")
            bytes += hasher.finalize()
            counter += 1
        }
        let raw = bytes.prefix(dimensions).map { Double($0) / 127.5 - 1 }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? raw.map { $0 / norm } : raw
    }
}
