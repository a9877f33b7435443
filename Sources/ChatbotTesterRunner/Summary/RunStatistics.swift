import ChatbotTesterCore

/// Running totals over run records: the mergeable part of a `RunSummary`.
///
/// Sums, counts and a histogram only, so shards (or a journal read back on resume) merge exactly.
public struct RunStatistics: Sendable, Hashable, Codable {
    /// Records with `status: ok`.
    public var ok: Int = 0
    /// Records with `status: error` (failed samples: recorded, reported as unmeasured).
    public var error: Int = 0
    /// Target usage.
    public var usage: Usage = .zero
    /// Simulated-user usage.
    public var simulatorUsage: Usage = .zero
    /// Cost in US dollars (target plus simulator) of the records that had a price.
    public var costUSD: Double = 0
    /// Assistant turns played.
    public var turns: Int = 0
    /// Backend attempts, retries included.
    public var attempts: Int = 0
    /// Per-sample latency (sum of its turns).
    public var latency = LatencyHistogram()
    /// Per-turn latency of the target.
    public var turnLatency = LatencyHistogram()
    /// Failed records by error code.
    public var errorsByCode: [String: Int] = [:]
    /// Simulated conversations by stop reason (`goal_reached`, `gave_up`, `max_turns`).
    public var stopReasons: [String: Int] = [:]

    public init() {}

    /// Records counted.
    public var recorded: Int { ok + error }

    /// Adds one record.
    public mutating func add(_ record: RunRecord) {
        switch record.status {
        case .ok: ok += 1
        case .error:
            error += 1
            errorsByCode[record.error?.code ?? "unknown", default: 0] += 1
        }
        usage += record.usage
        if let simulator = record.simulatorUsage { simulatorUsage += simulator }
        costUSD += record.costUSD ?? 0
        turns += record.turns.count
        attempts += record.attempts
        latency.record(record.latencyMs)
        for turn in record.turns { turnLatency.record(turn.latencyMs) }
        if record.sample.kind == .simulated, let reason = record.stopReason { stopReasons[reason, default: 0] += 1 }
    }

    /// Adds another set of totals (exact).
    public mutating func merge(_ other: RunStatistics) {
        ok += other.ok
        error += other.error
        usage += other.usage
        simulatorUsage += other.simulatorUsage
        costUSD += other.costUSD
        turns += other.turns
        attempts += other.attempts
        latency.merge(other.latency)
        turnLatency.merge(other.turnLatency)
        errorsByCode.merge(other.errorsByCode, uniquingKeysWith: +)
        stopReasons.merge(other.stopReasons, uniquingKeysWith: +)
    }
}
