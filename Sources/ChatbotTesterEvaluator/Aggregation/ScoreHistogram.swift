import ChatbotTesterCore
import Foundation

/// The Evaluator's histogram: Core's `MergeableHistogram` in one of two layouts, with the JSON
/// shape of `summary.json` (`{layout, total, buckets: {"index": count, "zero": count}}`).
///
/// `linear` has 1,001 buckets on [0, 1] (scores quantised to 0.001); `log` has buckets of ratio
/// 2^(1/32) (≈ 2.2 %) for positive quantities such as latency in milliseconds.
public struct ScoreHistogram: Sendable, Hashable, Codable {
    public enum Layout: String, Sendable, Hashable, Codable {
        case linear, log

        var core: MergeableHistogram.Layout {
            switch self {
            case .linear: .unitInterval(steps: 1000)
            case .log: .logarithmic(stepsPerOctave: 32)
            }
        }
    }

    public let layout: Layout
    private var histogram: MergeableHistogram

    public init(_ layout: Layout) {
        self.layout = layout
        self.histogram = MergeableHistogram(layout.core)
    }

    /// Bucket index → count (sparse).
    public var counts: [Int: Int] { histogram.counts }
    /// Observations counted.
    public var total: Int { histogram.total }

    /// The bucket a value falls in.
    public func bucket(of value: Double) -> Int { histogram.bucket(of: value) }

    /// A representative value of a bucket (its value for linear, its geometric middle for log).
    public func value(ofBucket index: Int) -> Double { histogram.value(ofBucket: index) }

    /// Counts one value (non-finite values are ignored).
    public mutating func add(_ value: Double) { histogram.add(value) }

    /// Adds another histogram's counts (layouts must match).
    public mutating func merge(_ other: ScoreHistogram) { histogram.merge(other.histogram) }

    /// The `q`-quantile (0…1): the value of the bucket holding the ⌈q·n⌉-th smallest observation.
    public func quantile(_ q: Double) -> Double? { histogram.quantile(q) }

    private enum CodingKeys: String, CodingKey { case layout, total, buckets }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layout = try c.decode(Layout.self, forKey: .layout)
        histogram = MergeableHistogram(layout.core)
        let total = try c.decode(Int.self, forKey: .total)
        let raw = try c.decode([String: Int].self, forKey: .buckets)
        for (key, count) in raw {
            guard let index = key == "zero" ? MergeableHistogram.zeroBucket : Int(key) else {
                throw DecodingError.dataCorruptedError(forKey: .buckets, in: c, debugDescription: "bad bucket key '\(key)'")
            }
            histogram.add(bucket: index, count: count)
        }
        guard total == histogram.total else {
            throw DecodingError.dataCorruptedError(
                forKey: .total, in: c, debugDescription: "total \(total) differs from the buckets' sum \(histogram.total)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layout, forKey: .layout)
        try c.encode(total, forKey: .total)
        try c.encode(
            Dictionary(uniqueKeysWithValues: counts.map { ($0.key == MergeableHistogram.zeroBucket ? "zero" : String($0.key), $0.value) }),
            forKey: .buckets)
    }
}
