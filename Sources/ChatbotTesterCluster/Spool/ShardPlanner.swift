/// Splits a dataset into contiguous shards balanced by size.
///
/// Pure: takes each sample's encoded size and returns index ranges. Each shard holds at most
/// `maxSamples` samples; the shard count is `ceil(n / maxSamples)` (at least `minShards` when there
/// are enough samples, so every worker gets something), and cuts fall where the running byte total
/// crosses each shard's equal share, so a shard of long conversations holds fewer of them.
public enum ShardPlanner {
    public static func plan(sizes: [Int], maxSamples: Int, minShards: Int = 1) -> [Range<Int>] {
        let n = sizes.count
        guard n > 0 else { return [] }
        let perShard = max(1, maxSamples)
        let count = min(n, max((n + perShard - 1) / perShard, minShards))
        let total = sizes.reduce(0) { $0 + max(1, $1) }
        var ranges: [Range<Int>] = []
        var start = 0
        var running = 0
        for index in 0..<n {
            running += max(1, sizes[index])
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
