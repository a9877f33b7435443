/// The 64-bit FNV-1a hash: fast, stable across platforms and releases, not cryptographic.
///
/// Used to derive seeds from labels, for dedup digests, hashed-embedding buckets and the cluster's
/// order-independent id digests. Use `SHA256Hasher` for ids and cache keys that must not collide.
///
/// `add` feeds bytes as they are (plain FNV-1a, matching published test vectors); `combine` feeds
/// one *field* followed by a separator byte, so `("ab", "c")` and `("a", "bc")` differ.
public struct FNV1a64: Sendable, Hashable {
    /// The FNV-1a 64 offset basis.
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    /// The FNV-1a 64 prime.
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// The hash of everything fed so far.
    public private(set) var value: UInt64 = Self.offsetBasis

    public init() {}

    /// Feeds bytes (plain FNV-1a).
    public mutating func add(_ bytes: some Sequence<UInt8>) {
        var hash = value
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= Self.prime
        }
        value = hash
    }

    /// Feeds a string's UTF-8 bytes (plain FNV-1a). Prefer it to `add(text.utf8)` from other
    /// modules: it runs specialised here, where the generic `add` called across modules does not.
    public mutating func add(_ text: String) { add(text.utf8) }

    /// Feeds one field: its bytes, then a `0xFF` separator (a byte UTF-8 never contains).
    public mutating func combine(_ bytes: some Sequence<UInt8>) {
        add(bytes)
        add(CollectionOfOne(0xFF))
    }

    /// Feeds one text field (UTF-8, then the separator).
    public mutating func combine(_ text: String) { combine(text.utf8) }

    /// Feeds one number field (8 bytes little-endian, then the separator).
    public mutating func combine(_ number: UInt64) {
        combine((0..<8).map { UInt8(truncatingIfNeeded: number >> ($0 * 8)) })
    }

    /// The hash as exactly 16 lowercase hex digits.
    public var hex: String { HexDigits.lowercase(value) }

    /// The plain FNV-1a 64 of some bytes in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hasher = FNV1a64()
        hasher.add(bytes)
        return hasher.value
    }
}
