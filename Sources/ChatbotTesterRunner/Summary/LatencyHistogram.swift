import Foundation

/// A mergeable latency histogram with log-spaced buckets (1% wide), so percentiles of a
/// million-sample run cost a few kilobytes and shards merge exactly.
///
/// Percentiles are accurate to about half a percent; `min`, `max` and the mean are exact.
public struct LatencyHistogram: Sendable, Hashable, Codable {
    /// Bucket index → count. Index `i` holds values in `[base^i, base^(i+1))` ms; zero and below go
    /// to `zeroBucket`.
    public private(set) var buckets: [Int: Int]
    public private(set) var count: Int
    public private(set) var sumMs: Double
    public private(set) var minMs: Double?
    public private(set) var maxMs: Double?

    private static let base = 1.01
    private static let logBase = Foundation.log(base)
    private static let zeroBucket = Int.min

    public init() {
        buckets = [:]
        count = 0
        sumMs = 0
    }

    /// Adds one observation in milliseconds.
    public mutating func record(_ milliseconds: Double) {
        guard milliseconds.isFinite else { return }
        let value = max(milliseconds, 0)
        let index = value < 0.001 ? Self.zeroBucket : Int((Foundation.log(value) / Self.logBase).rounded(.down))
        buckets[index, default: 0] += 1
        count += 1
        sumMs += value
        minMs = min(minMs ?? value, value)
        maxMs = max(maxMs ?? value, value)
    }

    /// Adds another histogram's observations (exact).
    public mutating func merge(_ other: LatencyHistogram) {
        for (index, n) in other.buckets { buckets[index, default: 0] += n }
        count += other.count
        sumMs += other.sumMs
        if let otherMin = other.minMs { minMs = min(minMs ?? otherMin, otherMin) }
        if let otherMax = other.maxMs { maxMs = max(maxMs ?? otherMax, otherMax) }
    }

    /// The mean, or `nil` when empty.
    public var meanMs: Double? { count == 0 ? nil : sumMs / Double(count) }

    /// The value below which `fraction` (0…1) of observations fall, or `nil` when empty.
    public func percentile(_ fraction: Double) -> Double? {
        guard count > 0, let minMs, let maxMs else { return nil }
        let rank = max(1, Int((fraction * Double(count)).rounded(.up)))
        var seen = 0
        for index in buckets.keys.sorted() {
            seen += buckets[index]!
            if seen >= rank {
                if index == Self.zeroBucket { return 0 }
                let middle = Foundation.pow(Self.base, Double(index) + 0.5)
                return min(max(middle, minMs), maxMs)
            }
        }
        return maxMs
    }

    enum CodingKeys: String, CodingKey { case buckets, count, sumMs, minMs, maxMs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let pairs = try c.decode([[Int]].self, forKey: .buckets)
        buckets = [:]
        for pair in pairs where pair.count == 2 { buckets[pair[0], default: 0] += pair[1] }
        count = try c.decode(Int.self, forKey: .count)
        sumMs = try c.decode(Double.self, forKey: .sumMs)
        minMs = try c.decodeIfPresent(Double.self, forKey: .minMs)
        maxMs = try c.decodeIfPresent(Double.self, forKey: .maxMs)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(buckets.keys.sorted().map { [$0, buckets[$0]!] }, forKey: .buckets)
        try c.encode(count, forKey: .count)
        try c.encode(sumMs, forKey: .sumMs)
        try c.encodeIfPresent(minMs, forKey: .minMs)
        try c.encodeIfPresent(maxMs, forKey: .maxMs)
    }
}
