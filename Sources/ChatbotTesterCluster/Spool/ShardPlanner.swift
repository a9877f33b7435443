/// Splits a dataset into contiguous shards balanced by size.
///
/// Pure: takes each sample's encoded size and returns index ranges. Each shard holds at most
/// `maxSamples` samples; the shard count is `ceil(n / maxSamples)` (at least `minShards` when there
/// are enough samples, so every worker gets something), and cuts fall where the running byte total
/// crosses each shard's equal share, so a shard of long conversations holds fewer of them.
/// Sizes may be any integer type: the spool keeps them as `[Int32]` (4 bytes per case).
///
/// With `maxBytes`, there are also at least `ceil(total bytes / maxBytes)` shards, so a shard holds
/// about `maxBytes` at most (one sample more at worst): large shards of small cases, smaller
/// ones of long conversations. Without it (`nil`), the count depends on the sample count alone —
/// what the indexed split rule relies on (see `IndexedRun`).
public enum ShardPlanner {
    public static func plan<Sizes: RandomAccessCollection>(sizes: Sizes, maxSamples: Int, minShards: Int = 1, maxBytes: Int? = nil) -> [Range<Int>]
    where Sizes.Element: BinaryInteger {
        let n = sizes.count
        guard n > 0 else { return [] }
        let perShard = max(1, maxSamples)
        let total = sizes.reduce(0) { $0 + max(1, Int($1)) }
        let byBytes = maxBytes.map { (total + max(1, $0) - 1) / max(1, $0) } ?? 0
        let count = min(n, max((n + perShard - 1) / perShard, minShards, byBytes))
        var ranges: [Range<Int>] = []
        var start = 0
        var running = 0
        for (index, size) in sizes.enumerated() {
            running += max(1, Int(size))
            let shardsLeft = count - ranges.count
            let samplesLeftAfter = n - index - 1
            let target = Double(total) * Double(ranges.count + 1) / Double(count)
            let full = index + 1 - start >= perShard
            let mustCut = samplesLeftAfter == shardsLeft - 1 && shardsLeft > 1
            if shardsLeft > 1 && (Double(running) >= target || full || mustCut) {
                ranges.append(start..<(index + 1))
                start = index + 1
            }
        }
        if start < n { ranges.append(start..<n) }
        return ranges
    }
}

/// How a spool written as its samples come (`ClusterSpoolWriter` with `streamingShards`) cuts its
/// shards without knowing every size in advance: a shard closes at `maxSamples` samples or once it
/// holds `maxBytes` — the spool's own bound, and the expected total's share that makes about
/// `minShards` shards at least — whichever comes first. The first shards are smaller
/// (`firstShardSamples`, then twice as many each, up to `maxSamples`), so the first exists after
/// a few dozen cases and a run can start on it while the rest is written. Unlike `ShardPlanner`
/// it cannot balance the shards' sizes (the last one may be small); the coordinator hands out
/// samples one slot at a time from any shard, so shard sizes never hold a worker back.
public struct StreamingCut: Sendable, Hashable {
    /// Samples in the first shard.
    public static let firstShardSamples = 64
    public var maxSamples: Int
    public var maxBytes: Int

    /// - Parameter expectedBytes: about the bytes of the whole dataset (its file's size).
    public init(expectedBytes: Int, maxSamples: Int, minShards: Int = 1, maxBytes: Int? = nil) {
        self.maxSamples = max(1, maxSamples)
        let share = minShards > 1 ? max(1, expectedBytes / minShards) : Int.max
        self.maxBytes = min(max(1, maxBytes ?? Int.max), share)
    }

    /// Whether shard number `shard` (0 first), now holding `samples` samples of `bytes` bytes, is full.
    public func closes(samples: Int, bytes: Int, shard: Int) -> Bool {
        let ramp = shard < 16 ? min(maxSamples, Self.firstShardSamples << shard) : maxSamples
        return samples >= ramp || bytes >= maxBytes
    }
}
