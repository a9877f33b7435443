/// Running totals over run records: the mergeable part of a run summary.
///
/// Integer counts, exact fixed-point sums (`ExactSum`: cost in nano-dollars, latency in
/// microseconds) and histograms only, so the same records added in any order, or split into shards
/// (or a journal read back on resume) and merged, give bit-identical statistics. Lives in Core so
/// every mode (one process, the Runner's resume, the cluster's coordinator) counts the same way.
///
/// Its JSON shape is that of `run-summary.json`'s `statistics`: `costUSD` is a number computed from
/// the exact sum.
public struct RunStatistics: Sendable, Hashable, Codable {
    /// Records with `status: ok`.
    public var ok: Int = 0
    /// Records with `status: error` (failed samples: recorded, reported as unmeasured).
    public var error: Int = 0
    /// Target usage.
    public var usage: Usage = .zero
    /// Simulated-user usage.
    public var simulatorUsage: Usage = .zero
    /// Cost (target plus simulator) of the records that had a price, exact in nano-dollars.
    public var cost = ExactSum()
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

    /// Cost in US dollars (target plus simulator) of the records that had a price.
    public var costUSD: Double { cost.value }
    /// Records that carried a cost (a price table applied); the rest are unpriced, so `costUSD`
    /// is unknown when this is 0 and a lower bound when it is below `recorded`.
    public var priced: Int = 0

    /// Adds one record.
    public mutating func add(_ record: RunRecord) {
        add(record.statisticsFacts)
    }

    /// Adds one record's facts: the one fold every path shares (a decoded record, the
    /// coordinator's record read from its bytes), so a sharded and a single summary cannot drift.
    /// Inlinable, so a caller in another module gets it specialized for its turn latencies'
    /// sequence: unspecialized, the coordinator instantiated generic metadata for every record.
    @inlinable
    public mutating func add(_ facts: RunRecordFacts<some Sequence<Double>>) {
        switch facts.status {
        case .ok: ok += 1
        case .error:
            error += 1
            errorsByCode[facts.error?.code ?? "unknown", default: 0] += 1
        }
        usage += facts.usage
        if let simulator = facts.simulatorUsage { simulatorUsage += simulator }
        if let price = facts.costUSD {
            cost.add(price)
            priced += 1
        }
        attempts += facts.attempts
        latency.record(facts.latencyMs)
        for turn in facts.turnLatencies {
            turns += 1
            turnLatency.record(turn)
        }
        if facts.simulated, let reason = facts.stopReason { stopReasons[reason, default: 0] += 1 }
    }

    /// Adds another set of totals (exact and order-independent).
    public mutating func merge(_ other: RunStatistics) {
        ok += other.ok
        error += other.error
        usage += other.usage
        simulatorUsage += other.simulatorUsage
        cost.merge(other.cost)
        priced += other.priced
        turns += other.turns
        attempts += other.attempts
        latency.merge(other.latency)
        turnLatency.merge(other.turnLatency)
        errorsByCode.merge(other.errorsByCode, uniquingKeysWith: +)
        stopReasons.merge(other.stopReasons, uniquingKeysWith: +)
    }

    enum CodingKeys: String, CodingKey {
        case ok, error, usage, simulatorUsage, costUSD, priced, turns, attempts, latency, turnLatency, errorsByCode, stopReasons
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ok = try c.decode(Int.self, forKey: .ok)
        error = try c.decode(Int.self, forKey: .error)
        usage = try c.decode(Usage.self, forKey: .usage)
        simulatorUsage = try c.decode(Usage.self, forKey: .simulatorUsage)
        cost = ExactSum(value: try c.decode(Double.self, forKey: .costUSD))
        // Files written before `priced` existed: every cost counted was priced, or none was.
        priced = try c.decodeIfPresent(Int.self, forKey: .priced) ?? (cost.value > 0 ? ok + error : 0)
        turns = try c.decode(Int.self, forKey: .turns)
        attempts = try c.decode(Int.self, forKey: .attempts)
        latency = try c.decode(LatencyHistogram.self, forKey: .latency)
        turnLatency = try c.decode(LatencyHistogram.self, forKey: .turnLatency)
        errorsByCode = try c.decode([String: Int].self, forKey: .errorsByCode)
        stopReasons = try c.decode([String: Int].self, forKey: .stopReasons)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ok, forKey: .ok)
        try c.encode(error, forKey: .error)
        try c.encode(usage, forKey: .usage)
        try c.encode(simulatorUsage, forKey: .simulatorUsage)
        try c.encode(costUSD, forKey: .costUSD)
        try c.encode(priced, forKey: .priced)
        try c.encode(turns, forKey: .turns)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(latency, forKey: .latency)
        try c.encode(turnLatency, forKey: .turnLatency)
        try c.encode(errorsByCode, forKey: .errorsByCode)
        try c.encode(stopReasons, forKey: .stopReasons)
    }
}

/// What `RunStatistics` counts of one run record, however the record was read: decoded
/// (`RunRecord.statisticsFacts`, turn latencies read in place) or scanned from its bytes (the
/// cluster coordinator's `ClusterRunFacts`).
public struct RunRecordFacts<TurnLatencies: Sequence<Double>> {
    public var status: RunRecord.Status
    /// The error of a failed record (its code is counted, its message kept as an example).
    public var error: ErrorInfo?
    public var usage: Usage
    public var simulatorUsage: Usage?
    public var costUSD: Double?
    public var latencyMs: Double
    public var attempts: Int
    /// Each assistant turn's latency, in order.
    public var turnLatencies: TurnLatencies
    public var stopReason: String?
    /// Whether the sample is a simulated conversation (only those count their stop reason).
    public var simulated: Bool

    public init(
        status: RunRecord.Status, error: ErrorInfo?, usage: Usage, simulatorUsage: Usage?, costUSD: Double?, latencyMs: Double,
        attempts: Int, turnLatencies: TurnLatencies, stopReason: String?, simulated: Bool
    ) {
        self.status = status
        self.error = error
        self.usage = usage
        self.simulatorUsage = simulatorUsage
        self.costUSD = costUSD
        self.latencyMs = latencyMs
        self.attempts = attempts
        self.turnLatencies = turnLatencies
        self.stopReason = stopReason
        self.simulated = simulated
    }
}

extension RunRecordFacts: Sendable where TurnLatencies: Sendable {}
extension RunRecordFacts: Equatable where TurnLatencies: Equatable {}
extension RunRecordFacts: Hashable where TurnLatencies: Hashable {}

extension RunRecord {
    /// What `RunStatistics` counts of this record.
    public var statisticsFacts: RunRecordFacts<LazyMapSequence<[TurnRecord], Double>> {
        RunRecordFacts(
            status: status, error: error, usage: usage, simulatorUsage: simulatorUsage, costUSD: costUSD, latencyMs: latencyMs,
            attempts: attempts, turnLatencies: turns.lazy.map(\.latencyMs), stopReason: stopReason, simulated: sample.kind == .simulated)
    }
}
