import Foundation

/// A histogram of counts in fixed buckets: the one histogram of the project.
///
/// Only integer counts are kept, so merging shards is exact and order-independent, and a
/// million observations cost a few kilobytes. The Runner's `LatencyHistogram` and the Evaluator's
/// `ScoreHistogram` are thin specialisations (their own layouts and JSON shapes) over it.
public struct MergeableHistogram: Sendable, Hashable {
    /// How values map to buckets.
    public enum Layout: Sendable, Hashable {
        /// Values clamped to [0, 1] and quantised to `1 / steps`: bucket `i` holds `i / steps`.
        case unitInterval(steps: Int)
        /// Positive values in buckets of ratio `2^(1/stepsPerOctave)`: bucket `i` holds
        /// `[2^(i/s), 2^((i+1)/s))`; values of at most 0.001 go to `zeroBucket`.
        case logarithmic(stepsPerOctave: Int)
    }

    /// The bucket of zero (and near-zero) values in a logarithmic layout: below every real bucket
    /// (≥ −10 × `stepsPerOctave` for values above 0.001) and readable in a file (not `Int.min`).
    public static let zeroBucket = -1_000_000

    /// How values map to buckets.
    public let layout: Layout
    /// Counts of the buckets in `denseRange`, at `index - denseRange.lowerBound` (allocated at the
    /// first observation in it, so empty exactly when no such bucket was counted): counting one
    /// costs no hashing. Other buckets are in `sparse`.
    private var dense: [Int] = []
    private var sparse: [Int: Int] = [:]
    /// Observations counted.
    public private(set) var total = 0

    public init(_ layout: Layout) {
        self.layout = layout
    }

    /// Bucket index → count, for the non-empty buckets.
    public var counts: [Int: Int] {
        guard !dense.isEmpty else { return sparse }
        var all = [Int: Int](minimumCapacity: sparse.count + dense.lazy.filter { $0 > 0 }.count)
        var walk = Walk(self)
        while let (bucket, count) = walk.next() { all[bucket] = count }
        return all
    }

    /// The buckets counted in `dense`: for a logarithmic layout, values from 0.001 to 2^24 (a
    /// latency from a microsecond to four and a half hours in ms, counted once per record by the
    /// Runner, the workers and the coordinator). A unit interval (scores, which fall on a few
    /// buckets) keeps the dictionary: an array of its 1,001 buckets cost more allocations than it
    /// saved in the evaluator's and the reports' benchmarks.
    private var denseRange: Range<Int> {
        switch layout {
        case .unitInterval: return 0..<0
        case .logarithmic(let steps): return (-10 * steps)..<(24 * steps + 1)
        }
    }

    /// Equal when their layouts and bucket counts are (however the counts are stored).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.layout == rhs.layout && lhs.total == rhs.total && lhs.sparse == rhs.sparse && lhs.dense == rhs.dense
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(layout)
        hasher.combine(total)
        hasher.combine(sparse)
        let base = denseRange.lowerBound
        for (offset, count) in dense.enumerated() where count > 0 {
            hasher.combine(base + offset)
            hasher.combine(count)
        }
    }

    /// The non-empty buckets and their counts in ascending order, walked without a closure or a
    /// collection (but the sorted buckets outside the dense range, when there are any).
    private struct Walk: IteratorProtocol {
        let histogram: MergeableHistogram
        let outside: [Int]
        var position = 0
        var offset = 0

        init(_ histogram: MergeableHistogram) {
            self.histogram = histogram
            outside = histogram.sparse.isEmpty ? [] : histogram.sparse.keys.sorted()
        }

        mutating func next() -> (bucket: Int, count: Int)? {
            let base = histogram.denseRange.lowerBound
            if position < outside.count, outside[position] < base { return sparse() }
            while offset < histogram.dense.count {
                defer { offset += 1 }
                if histogram.dense[offset] > 0 { return (base + offset, histogram.dense[offset]) }
            }
            return position < outside.count ? sparse() : nil
        }

        private mutating func sparse() -> (bucket: Int, count: Int) {
            defer { position += 1 }
            return (outside[position], histogram.sparse[outside[position]]!)
        }
    }

    /// The bucket a value falls in.
    public func bucket(of value: Double) -> Int {
        switch layout {
        case .unitInterval(let steps):
            return Int((min(1, max(0, value)) * Double(steps)).rounded())
        case .logarithmic(let steps):
            return value <= 0.001 ? Self.zeroBucket : Int((log2(value) * Double(steps)).rounded(.down))
        }
    }

    /// A representative value of a bucket: its value (unit interval) or geometric middle (log).
    public func value(ofBucket index: Int) -> Double {
        switch layout {
        case .unitInterval(let steps): return Double(index) / Double(steps)
        case .logarithmic(let steps): return index == Self.zeroBucket ? 0 : exp2((Double(index) + 0.5) / Double(steps))
        }
    }

    /// Counts one observation; non-finite values are ignored.
    public mutating func add(_ value: Double) {
        guard value.isFinite else { return }
        add(bucket: bucket(of: value), count: 1)
    }

    /// Counts `count` observations in a bucket (for decoders of stored histograms).
    public mutating func add(bucket index: Int, count: Int) {
        guard count > 0 else { return }
        let range = denseRange
        if range.contains(index) {
            if dense.isEmpty { dense = [Int](repeating: 0, count: range.count) }
            dense[index - range.lowerBound] += count
        } else {
            sparse[index, default: 0] += count
        }
        total += count
    }

    /// Adds another histogram's counts (exact; layouts must match).
    public mutating func merge(_ other: MergeableHistogram) {
        precondition(layout == other.layout, "cannot merge \(layout) and \(other.layout) histograms")
        var walk = Walk(other)
        while let (index, count) = walk.next() { add(bucket: index, count: count) }
    }

    /// The rank (1-based) of the `q`-quantile among `total` observations: ⌈q·n⌉, at least 1.
    public func rank(ofQuantile q: Double) -> Int {
        min(total, max(1, Int((q * Double(total)).rounded(.up))))
    }

    /// The bucket holding the ⌈q·n⌉-th smallest observation, or `nil` when empty.
    public func bucket(ofQuantile q: Double) -> Int? {
        guard total > 0 else { return nil }
        let rank = rank(ofQuantile: q)
        var seen = 0
        var walk = Walk(self)
        while let (index, count) = walk.next() {
            seen += count
            if seen >= rank { return index }
        }
        return nil
    }

    /// The `q`-quantile (0…1): the representative value of `bucket(ofQuantile:)`.
    public func quantile(_ q: Double) -> Double? {
        bucket(ofQuantile: q).map(value(ofBucket:))
    }

    /// The non-empty buckets in ascending order.
    public var sortedCounts: [(bucket: Int, count: Int)] {
        var out: [(bucket: Int, count: Int)] = []
        var walk = Walk(self)
        while let next = walk.next() { out.append(next) }
        return out
    }
}
