import Foundation

/// An on-disk cache of backend replies, one JSON file per key, written atomically.
///
/// Keys are SHA-256 digests of canonical JSON (sorted keys) of the backend identity and the request,
/// so a worker on another host with the same config and the same directory hits the same entries.
/// Files live at `<dir>/<first two hex digits>/<digest>.json`. A corrupt entry is a miss.
public struct ResponseCache: Sendable {
    /// How the cache is used.
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        /// Read hits and store misses (the default).
        case readWrite = "read-write"
        /// Read hits, never store (replaying a recorded run).
        case readOnly = "read-only"
        /// Never read, always store (re-recording).
        case refresh
    }

    /// The format version of entries; bumping it invalidates old entries.
    public static let formatVersion = 1

    public let directory: URL
    public let mode: Mode

    public init(directory: URL, mode: Mode = .readWrite) {
        self.directory = directory
        self.mode = mode
    }

    /// The key of a call: the SHA-256 of the format version, the kind of call, the canonical
    /// backend identity and the canonical request (sorted keys).
    public static func key(identity: JSONValue, kind: String, request: JSONValue) -> String {
        key(identityText: identity.canonicalText, kind: kind, canonicalRequest: Data(request.canonicalText.utf8))
    }

    /// The key from pre-rendered canonical parts (the middleware renders the identity once).
    public static func key(identityText: String, kind: String, canonicalRequest: Data) -> String {
        var hasher = SHA256Hasher()
        hasher.update("chatbot-tester-cache/v\(formatVersion)\n\(kind)\n\(identityText)\n")
        hasher.update(canonicalRequest)
        return hasher.finalizeHex()
    }

    /// The file of a key.
    public func url(forKey key: String) -> URL {
        directory.appendingPathComponent(String(key.prefix(2)), isDirectory: true).appendingPathComponent("\(key).json")
    }

    /// The stored value, or `nil` on a miss, a corrupt entry or in `refresh` mode. Blocks its
    /// caller while it reads the file: from async code use ``read(_:key:)``.
    public func load<T: Decodable>(_ type: T.Type, key: String) -> T? {
        guard mode != .refresh, let data = try? Data(contentsOf: url(forKey: key)) else { return nil }
        return try? JSONCoding.decoder().decode(T.self, from: data)
    }

    /// ``load(_:key:)`` with the file read on ``BlockingIO``'s queue, off Swift's cooperative pool
    /// (a cache on slow or shared storage would otherwise hold a pool thread per lookup), and the
    /// decoding on the caller's task.
    public func read<T: Decodable>(_ type: T.Type, key: String) async -> T? {
        guard mode != .refresh else { return nil }
        let file = url(forKey: key)
        guard let data = try? await BlockingIO.run({ try Data(contentsOf: file) }) else { return nil }
        return try? JSONCoding.decoder().decode(T.self, from: data)
    }

    /// Stores a value atomically (no-op in `readOnly` mode). Blocks its caller while it writes:
    /// from async code use ``write(_:key:)``.
    public func store<T: Encodable>(_ value: T, key: String) throws {
        guard let data = try entry(value) else { return }
        try FileArtifactStore.atomicWrite(data, to: url(forKey: key), durable: false)
    }

    /// ``store(_:key:)`` with the encoding on the caller's task and the write on ``BlockingIO``'s
    /// queue, off Swift's cooperative pool.
    public func write<T: Encodable>(_ value: T, key: String) async throws {
        guard let data = try entry(value) else { return }
        let file = url(forKey: key)
        try await BlockingIO.run { try FileArtifactStore.atomicWrite(data, to: file, durable: false) }
    }

    /// The bytes stored for `value`, or `nil` in `readOnly` mode.
    private func entry<T: Encodable>(_ value: T) throws -> Data? {
        guard mode != .readOnly else { return nil }
        // A reply that echoes a key is cached masked, like everything else written.
        return SecretMasker.shared.mask(try JSONCoding.encoder().encode(value))
    }
}
