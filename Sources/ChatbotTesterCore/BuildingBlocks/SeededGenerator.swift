/// A small, fast, seedable random number generator (SplitMix64): the one seeded RNG of the project.
///
/// The Generator's random choices, the mock server's injected faults and anything else that must
/// repeat run to run use it. Every random choice the generator makes goes through this type and
/// its own helpers (not the standard library's `shuffled(using:)`, whose algorithm may change
/// between Swift releases), so a seed yields the same dataset on every platform and toolchain.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from a seed.
    public init(seed: UInt64) {
        state = seed
    }

    /// Creates a generator from a seed and labels, so independent streams (one per sample and
    /// perturbation kind) do not depend on the order they are used in.
    public init(seed: UInt64, labels: [String]) {
        var hasher = FNV1a64()
        hasher.combine(seed)
        for label in labels { hasher.combine(label) }
        state = hasher.value
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound` (`bound` > 0), without modulo bias.
    public mutating func int(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let limit = UInt64(bound)
        let threshold = (0 &- limit) % limit
        while true {
            let value = next()
            if value >= threshold { return Int(value % limit) }
        }
    }

    /// A uniform double in `0..<1`.
    public mutating func unit() -> Double {
        Double(next() >> 11) / Double(UInt64(1) << 53)
    }

    /// `true` with probability `p`.
    public mutating func chance(_ p: Double) -> Bool {
        unit() < p
    }

    /// A random element of a non-empty collection.
    public mutating func pick<C: RandomAccessCollection>(_ collection: C) -> C.Element where C.Index == Int {
        collection[collection.startIndex + int(below: collection.count)]
    }

    /// The elements in a seeded random order (Fisher–Yates).
    public mutating func shuffle<T>(_ items: [T]) -> [T] {
        var copy = items
        var index = copy.count - 1
        while index > 0 {
            let other = int(below: index + 1)
            copy.swapAt(index, other)
            index -= 1
        }
        return copy
    }

    /// `count` distinct integers from `0..<total`, sorted (Floyd's algorithm: never materialises the range).
    public mutating func distinctIndices(_ count: Int, below total: Int) -> [Int] {
        guard count < total else { return Array(0..<max(total, 0)) }
        var chosen = Set<Int>()
        for upper in (total - count)..<total {
            let candidate = int(below: upper + 1)
            if !chosen.insert(candidate).inserted { chosen.insert(upper) }
        }
        return chosen.sorted()
    }
}
