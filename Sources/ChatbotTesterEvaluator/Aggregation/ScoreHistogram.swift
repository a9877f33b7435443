import Foundation

/// A mergeable histogram with fixed buckets: counts only, so merging shards is exact and
/// order-independent.
///
/// `linear` has 1,001 buckets on [0, 1] (scores quantised to 0.001); `log` has buckets of ratio
/// 2^(1/32) (≈ 2.2 %) for positive quantities such as latency in milliseconds.
public struct ScoreHistogram: Sendable, Hashable, Codable {
    public enum Layout: String, Sendable, Hashable, Codable { case linear, log }

    public private(set) var layout: Layout
    /// Bucket index → count (sparse).
    public private(set) var counts: [Int: Int]
    public private(set) var total: Int

    public init(_ layout: Layout) {
        self.layout = layout
        self.counts = [:]
        self.total = 0
    }

    static let linearBuckets = 1000
    static let logStepsPerOctave = 32.0

    /// The bucket a value falls in.
    public func bucket(of value: Double) -> Int {
        switch layout {
        case .linear: return Int((min(1, max(0, value)) * Double(Self.linearBuckets)).rounded())
        case .log: return value <= 0.001 ? Int.min : Int((log2(value) * Self.logStepsPerOctave).rounded(.down))
        }
    }

    /// A representative value of a bucket (its value for linear, its geometric middle for log).
    public func value(ofBucket index: Int) -> Double {
        switch layout {
        case .linear: return Double(index) / Double(Self.linearBuckets)
        case .log: return index == Int.min ? 0 : exp2((Double(index) + 0.5) / Self.logStepsPerOctave)
        }
    }

    public mutating func add(_ value: Double) {
        guard value.isFinite else { return }
        counts[bucket(of: value), default: 0] += 1
        total += 1
    }

    /// Adds another histogram's counts (layouts must match).
    public mutating func merge(_ other: ScoreHistogram) {
        precondition(layout == other.layout, "cannot merge \(layout) and \(other.layout) histograms")
        for (index, count) in other.counts { counts[index, default: 0] += count }
        total += other.total
    }

    /// The `q`-quantile (0…1): the value of the bucket holding the ⌈q·n⌉-th smallest observation.
    public func quantile(_ q: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for index in counts.keys.sorted() {
            seen += counts[index]!
            if seen >= rank { return value(ofBucket: index) }
        }
        return nil
    }

    private enum CodingKeys: String, CodingKey { case layout, total, buckets }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layout = try c.decode(Layout.self, forKey: .layout)
        total = try c.decode(Int.self, forKey: .total)
        let raw = try c.decode([String: Int].self, forKey: .buckets)
        var counts: [Int: Int] = [:]
        for (key, count) in raw {
            guard let index = key == "zero" ? Int.min : Int(key) else {
                throw DecodingError.dataCorruptedError(forKey: .buckets, in: c, debugDescription: "bad bucket key '\(key)'")
            }
            counts[index] = count
        }
        self.counts = counts
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layout, forKey: .layout)
        try c.encode(total, forKey: .total)
        try c.encode(Dictionary(uniqueKeysWithValues: counts.map { ($0.key == Int.min ? "zero" : String($0.key), $0.value) }), forKey: .buckets)
    }
}
