internal import Crypto
import Foundation

/// SHA-256 (swift-crypto) behind one small API: the hash of cache keys, content ids and digests.
///
/// Every SHA-256 in the project goes through this type, so there is one implementation to trust.
///
/// ```swift
/// var hasher = SHA256Hasher()
/// hasher.update("abc")
/// let hex = hasher.finalizeHex()   // "ba7816bf…"
/// SHA256Hasher.hex("abc")          // the same in one call
/// ```
public struct SHA256Hasher: Sendable {
    private var hash = SHA256()

    public init() {}

    /// Feeds bytes.
    public mutating func update(_ data: some Sequence<UInt8>) {
        let done: Void? = data.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            let bytes = Array(data)
            bytes.withUnsafeBytes { update($0) }
        }
    }

    /// Feeds a string's UTF-8 bytes.
    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Feeds raw bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hash.update(bufferPointer: bytes)
    }

    /// The 32-byte digest. The hasher should not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        Array(hash.finalize())
    }

    /// The digest as 64 lowercase hex characters.
    public mutating func finalizeHex() -> String {
        HexDigits.lowercase(finalize())
    }

    /// The hex digest of `data` in one call.
    public static func hex(_ data: some Sequence<UInt8>) -> String {
        var hasher = SHA256Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
    }

    /// The hex digest of a string's UTF-8 bytes.
    public static func hex(_ text: String) -> String {
        hex(text.utf8)
    }
}

/// Lowercase hex rendering of bytes and integers, for digests.
public enum HexDigits {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Two lowercase hex digits per byte.
    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in bytes {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// A 64-bit value as exactly 16 lowercase hex digits (big-endian, zero-padded).
    public static func lowercase(_ value: UInt64) -> String {
        lowercase((0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) })
    }
}
