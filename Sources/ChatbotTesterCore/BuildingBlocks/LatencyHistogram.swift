import Foundation

/// A mergeable latency histogram: log buckets about 1% wide (`MergeableHistogram`, 70 steps per
/// doubling) plus an exact sum, so percentiles of a million-sample run cost a few kilobytes and
/// shards merge to bit-identical totals.
///
/// Percentiles are accurate to about half a percent (the top one is the exact maximum); `min`,
/// `max` and the mean are exact (the sum is kept in whole microseconds, see `ExactSum`).
public struct LatencyHistogram: Sendable, Hashable, Codable {
    /// 70 steps per doubling: buckets of ratio 2^(1/70) ≈ 1.0099.
    public static let layout = MergeableHistogram.Layout.logarithmic(stepsPerOctave: 70)
    /// The sum counts microseconds.
    static let unitsPerMillisecond: Int64 = 1_000

    private var histogram = MergeableHistogram(Self.layout)
    private var sum = ExactSum(unitsPerOne: Self.unitsPerMillisecond)
    /// The smallest observation, in milliseconds.
    public private(set) var minMs: Double?
    /// The largest observation, in milliseconds.
    public private(set) var maxMs: Double?

    public init() {}

    /// Observations recorded.
    public var count: Int { histogram.total }
    /// The sum of observations in milliseconds (exact to the microsecond, order-independent).
    public var sumMs: Double { sum.value }
    /// Bucket index → count.
    public var buckets: [Int: Int] { histogram.counts }

    /// Adds one observation in milliseconds (negative values count as 0; non-finite are ignored).
    public mutating func record(_ milliseconds: Double) {
        guard milliseconds.isFinite else { return }
        let value = max(milliseconds, 0)
        histogram.add(value)
        sum.add(value)
        minMs = min(minMs ?? value, value)
        maxMs = max(maxMs ?? value, value)
    }

    /// Adds another histogram's observations (exact).
    public mutating func merge(_ other: LatencyHistogram) {
        histogram.merge(other.histogram)
        sum.merge(other.sum)
        if let otherMin = other.minMs { minMs = min(minMs ?? otherMin, otherMin) }
        if let otherMax = other.maxMs { maxMs = max(maxMs ?? otherMax, otherMax) }
    }

    /// The mean, or `nil` when empty.
    public var meanMs: Double? { count == 0 ? nil : sumMs / Double(count) }

    /// The value below which `fraction` (0…1) of observations fall, or `nil` when empty: the middle
    /// of its bucket, kept within [min, max]; the last rank is the exact maximum.
    public func percentile(_ fraction: Double) -> Double? {
        guard let minMs, let maxMs, let index = histogram.bucket(ofQuantile: fraction) else { return nil }
        if histogram.rank(ofQuantile: fraction) == count { return maxMs }
        if index == MergeableHistogram.zeroBucket { return 0 }
        return min(max(histogram.value(ofBucket: index), minMs), maxMs)
    }

    enum CodingKeys: String, CodingKey { case buckets, count, sumMs, minMs, maxMs }

    /// Reads `{buckets: [[index, count]…], count, sumMs, minMs, maxMs}`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let pairs = try c.decode([[Int]].self, forKey: .buckets)
        for pair in pairs where pair.count == 2 { histogram.add(bucket: pair[0], count: pair[1]) }
        let count = try c.decode(Int.self, forKey: .count)
        guard count == histogram.total else {
            throw DecodingError.dataCorruptedError(
                forKey: .count, in: c, debugDescription: "count \(count) differs from the buckets' total \(histogram.total)")
        }
        sum = ExactSum(value: try c.decode(Double.self, forKey: .sumMs), unitsPerOne: Self.unitsPerMillisecond)
        minMs = try c.decodeIfPresent(Double.self, forKey: .minMs)
        maxMs = try c.decodeIfPresent(Double.self, forKey: .maxMs)
    }

    /// Writes `{buckets: [[index, count]…], count, sumMs, minMs, maxMs}` (`sumMs` from the exact sum).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(histogram.sortedCounts.map { [$0.bucket, $0.count] }, forKey: .buckets)
        try c.encode(count, forKey: .count)
        try c.encode(sumMs, forKey: .sumMs)
        try c.encodeIfPresent(minMs, forKey: .minMs)
        try c.encodeIfPresent(maxMs, forKey: .maxMs)
    }
}
