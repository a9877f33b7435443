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
    /// Errored runs by error code.
    public var errorsByCode: [String: Int] = [:]

    public init() {}

    public mutating func add(_ run: RunRecord) {
        samples += 1
        if run.status == .error {
            errored += 1
            errorsByCode[run.error?.code ?? "unknown", default: 0] += 1
        }
        latencySeconds.add(run.latencyMs / 1000)
        latencyMs.add(run.latencyMs)
        usage += run.usage
        if let cost = run.costUSD { costUSD.add(cost) }
    }

    public mutating func merge(_ other: RunStats) {
        samples += other.samples
        errored += other.errored
        latencySeconds.merge(other.latencySeconds)
        latencyMs.merge(other.latencyMs)
        usage += other.usage
        costUSD.merge(other.costUSD)
        for (code, count) in other.errorsByCode { errorsByCode[code, default: 0] += count }
    }

    /// Mean latency in milliseconds.
    public var meanLatencyMs: Double? { samples == 0 ? nil : latencySeconds.value * 1000 / Double(samples) }
}
