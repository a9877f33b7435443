import ChatbotTesterCore

/// Mergeable statistics of the runs themselves: counts, latency histogram, usage and cost.
public struct RunStats: Sendable, Hashable, Codable {
    /// Run records seen.
    public var samples: Int = 0
    /// Runs that ended in an error.
    public var errored: Int = 0
    /// Total latency, in seconds (exact fixed-point sum).
    public var latencySeconds = ExactSum()
    /// Per-sample latency in milliseconds, log buckets (≈ 2.2 % resolution).
    public var latencyMs = ScoreHistogram(.log)
    public var usage = Usage.zero
    public var costUSD = ExactSum()
    /// Runs whose cost is known (a price was configured); `nil` in summaries written before this
    /// was counted.
    public var pricedSamples: Int?
    /// Errored runs by error code.
    public var errorsByCode: [String: Int] = [:]

    public init() {}

    public mutating func add(_ run: RunRecord) {
        add(status: run.status, errorCode: run.error?.code, latencyMs: run.latencyMs, usage: run.usage, costUSD: run.costUSD)
    }

    /// Counts a run by what these statistics read of it (a report part's numbers, with no record).
    public mutating func add(status: RunRecord.Status, errorCode: String?, latencyMs latency: Double, usage runUsage: Usage, costUSD cost: Double?) {
        samples += 1
        if status == .error {
            errored += 1
            errorsByCode[errorCode ?? "unknown", default: 0] += 1
        }
        latencySeconds.add(latency / 1000)
        latencyMs.add(latency)
        usage += runUsage
        if let cost {
            costUSD.add(cost)
            pricedSamples = (pricedSamples ?? 0) + 1
        }
    }

    public mutating func merge(_ other: RunStats) {
        samples += other.samples
        errored += other.errored
        latencySeconds.merge(other.latencySeconds)
        latencyMs.merge(other.latencyMs)
        usage += other.usage
        costUSD.merge(other.costUSD)
        if pricedSamples != nil || other.pricedSamples != nil { pricedSamples = (pricedSamples ?? 0) + (other.pricedSamples ?? 0) }
        for (code, count) in other.errorsByCode { errorsByCode[code, default: 0] += count }
    }

    /// The run cost for display: `$0.0123`, `$0.0123 (40 of 50 runs priced)`, or `unknown` when no
    /// run had a price (never a misleading `$0.0000`).
    public var costText: String {
        let priced = pricedSamples ?? (costUSD.units == 0 ? 0 : samples)
        if priced == 0, samples > 0 { return "unknown" }
        let text = "$" + ReportText.number(costUSD.value, digits: costUSD.value > 0 && costUSD.value < 0.01 ? 6 : 4)
        return priced < samples ? "\(text) (\(priced) of \(samples) runs priced)" : text
    }

    /// Mean latency in milliseconds.
    public var meanLatencyMs: Double? { samples == 0 ? nil : latencySeconds.value * 1000 / Double(samples) }
}
