/// A compact set of string ids (sample ids, record keys): each id is kept as a 128-bit digest in an
/// open-addressing table, optionally with an `Int` per id (a line number, a flag), so a million ids
/// take about 20 MB (28 MB with values) however long the ids are, where a `Set<String>` takes 60 MB
/// or more. Dataset scans, the Runner's duplicate check, resume and `results.jsonl` writing use it,
/// so a run's memory does not grow with the length of its ids.
///
/// The digest is two SipHash values of the id under this process's random hashing seed (Swift's
/// `Hasher`), each started with its own salt: ids equal as Swift strings (canonically equivalent
/// Unicode) have the same digest, and distinct ids collide with probability about n²/2¹²⁸ (below
/// 10⁻²⁶ for 10⁹ ids). The seed is secret and differs per process, so a hostile dataset cannot be
/// crafted to collide; digests are never written anywhere.
///
/// ```swift
/// var seen = IDDigestSet(expectedCount: 1_000_000)
/// if !seen.insert(sample.id) { … duplicate … }
/// ```
public struct IDDigestSet: Sendable {
    /// Two words per slot (`hi`, `lo`); `hi == 0` marks an empty slot (digests always have bit 0 of `hi` set).
    private var words: [UInt64]
    /// One value per slot, when values are kept (`trackingValues`).
    private var values: [Int]
    private let trackingValues: Bool
    private var capacity: Int
    /// Ids in the set.
    public private(set) var count = 0

    /// An empty set sized for `expectedCount` ids without regrowing.
    /// - Parameter values: keep an `Int` per id (`insert(_:value:)`, `value(of:)`).
    public init(expectedCount: Int = 0, values: Bool = false) {
        trackingValues = values
        capacity = Self.capacity(for: max(16, expectedCount))
        words = [UInt64](repeating: 0, count: 2 * capacity)
        self.values = values ? [Int](repeating: 0, count: capacity) : []
    }

    /// Makes room for `count` ids in all without regrowing (nothing when there is room already):
    /// for a caller that learns how many ids to expect once it has started.
    public mutating func reserveCapacity(_ count: Int) {
        let wanted = Self.capacity(for: max(16, count))
        guard wanted > capacity else { return }
        rehash(into: wanted)
    }

    /// The set of `ids`.
    public init(_ ids: some Sequence<String>) {
        self.init()
        for id in ids { insert(id) }
    }

    /// Slots for `count` ids at a load of at most 4/5.
    private static func capacity(for count: Int) -> Int { count + count / 4 + 1 }

    /// The 128-bit digest of an id (`hi` never 0).
    @inline(__always)
    static func digest(_ id: String) -> (hi: UInt64, lo: UInt64) {
        var first = Hasher()
        first.combine(0x5EED_0001 as UInt32)
        first.combine(id)
        var second = Hasher()
        second.combine(0x5EED_0002 as UInt32)
        second.combine(id)
        return (UInt64(UInt(bitPattern: first.finalize())) | 1, UInt64(UInt(bitPattern: second.finalize())))
    }

    /// The slot holding `digest`, or the empty slot where it would go.
    @inline(__always)
    private func slot(of digest: (hi: UInt64, lo: UInt64)) -> (index: Int, found: Bool) {
        // The digest is uniform: its high bits pick the start (no power-of-two capacity needed).
        var index = Int(digest.hi.multipliedFullWidth(by: UInt64(capacity)).high)
        return words.withUnsafeBufferPointer { table in
            while true {
                let hi = table[2 * index]
                if hi == 0 { return (index, false) }
                if hi == digest.hi, table[2 * index + 1] == digest.lo { return (index, true) }
                index += 1
                if index == capacity { index = 0 }
            }
        }
    }

    /// Whether the set holds `id`.
    public func contains(_ id: String) -> Bool {
        slot(of: Self.digest(id)).found
    }

    /// Adds `id`; returns whether it was new.
    @discardableResult
    public mutating func insert(_ id: String) -> Bool {
        insert(digest: Self.digest(id), value: 0) == nil
    }

    /// Adds `id` with `value` when it is new; returns the value already stored for it otherwise
    /// (then nothing changes). Needs `values: true`.
    public mutating func insert(_ id: String, value: Int) -> Int? {
        precondition(trackingValues, "IDDigestSet(values: true) keeps values")
        return insert(digest: Self.digest(id), value: value)
    }

    /// The value stored with `id` (nil when absent or when values are not kept).
    public func value(of id: String) -> Int? {
        guard trackingValues else { return nil }
        let (index, found) = slot(of: Self.digest(id))
        return found ? values[index] : nil
    }

    /// Replaces the value of an id already in the set (returns false when it is absent).
    @discardableResult
    public mutating func update(_ id: String, value: Int) -> Bool {
        precondition(trackingValues, "IDDigestSet(values: true) keeps values")
        let (index, found) = slot(of: Self.digest(id))
        if found { values[index] = value }
        return found
    }

    private mutating func insert(digest: (hi: UInt64, lo: UInt64), value: Int) -> Int? {
        let (index, found) = slot(of: digest)
        if found { return trackingValues ? values[index] : 0 }
        if (count + 1) * 5 > capacity * 4 {
            grow()
            return insert(digest: digest, value: value)
        }
        words[2 * index] = digest.hi
        words[2 * index + 1] = digest.lo
        if trackingValues { values[index] = value }
        count += 1
        return nil
    }

    /// Rehashes into 1.5 times the slots.
    private mutating func grow() {
        rehash(into: capacity + capacity / 2 + 1)
    }

    /// Rehashes into `newCapacity` slots.
    private mutating func rehash(into newCapacity: Int) {
        let oldWords = words
        let oldValues = values
        let oldCapacity = capacity
        capacity = newCapacity
        words = [UInt64](repeating: 0, count: 2 * capacity)
        values = trackingValues ? [Int](repeating: 0, count: capacity) : []
        count = 0
        for old in 0..<oldCapacity where oldWords[2 * old] != 0 {
            let digest = (hi: oldWords[2 * old], lo: oldWords[2 * old + 1])
            let (index, _) = slot(of: digest)
            words[2 * index] = digest.hi
            words[2 * index + 1] = digest.lo
            if trackingValues { values[index] = oldValues[old] }
            count += 1
        }
    }

    /// The ids whose value passes `isIncluded`, in a new set (values kept).
    public func filter(values isIncluded: (Int) -> Bool) -> IDDigestSet {
        var kept = IDDigestSet(expectedCount: count, values: trackingValues)
        for slot in 0..<capacity where words[2 * slot] != 0 && (!trackingValues || isIncluded(values[slot])) {
            _ = kept.insert(digest: (words[2 * slot], words[2 * slot + 1]), value: trackingValues ? values[slot] : 0)
        }
        return kept
    }

    /// The number of ids whose value passes `predicate`.
    public func count(values predicate: (Int) -> Bool) -> Int {
        guard trackingValues else { return 0 }
        var total = 0
        for slot in 0..<capacity where words[2 * slot] != 0 && predicate(values[slot]) { total += 1 }
        return total
    }

    /// Bytes held by the table (for benchmarks and docs).
    public var footprintBytes: Int { words.capacity * 8 + values.capacity * 8 }
}
