/// One metric's verdict on one run record.
///
/// An evaluation that could not be made (judge unreachable, unparseable verdict, missing reference)
/// is `unmeasured`: counted and reported apart, never folded into a mean.
public struct EvalRecord: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1

    /// Whether a score was made.
    public enum Status: String, Sendable, Hashable, Codable {
        case scored, unmeasured
    }

    public var schemaVersion: Int
    public var sampleId: String
    /// The metric instance name (defaults to its type).
    public var metric: String
    /// The metric type (`contains`, `llm-judge`, …).
    public var type: String
    public var status: Status
    /// Score in [0, 1] when scored.
    public var score: Double?
    /// Whether the score met the threshold.
    public var passed: Bool?
    public var threshold: Double?
    /// Why: the judge's reason, or what a deterministic check found.
    public var reason: String?
    /// Individual judge votes, when the judge voted more than once.
    public var votes: [Double]?
    /// Max minus min of the votes.
    public var spread: Double?
    /// True when some votes pass the threshold and others fail it.
    public var straddlesThreshold: Bool?
    /// Judge usage and cost.
    public var usage: Usage?
    public var costUSD: Double?
    /// The sample's tags, copied for grouping.
    public var tags: [String]
    /// Metric-specific data.
    public var details: [String: JSONValue]?

    public init(
        sampleId: String, metric: String, type: String, status: Status = .scored, score: Double? = nil,
        passed: Bool? = nil, threshold: Double? = nil, reason: String? = nil, votes: [Double]? = nil,
        spread: Double? = nil, straddlesThreshold: Bool? = nil, usage: Usage? = nil, costUSD: Double? = nil,
        tags: [String] = [], details: [String: JSONValue]? = nil
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.sampleId = sampleId
        self.metric = metric
        self.type = type
        self.status = status
        self.score = score
        self.passed = passed
        self.threshold = threshold
        self.reason = reason
        self.votes = votes
        self.spread = spread
        self.straddlesThreshold = straddlesThreshold
        self.usage = usage
        self.costUSD = costUSD
        self.tags = tags
        self.details = details
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion, sampleId, metric, type, status, score, passed, threshold, reason, votes, spread,
            straddlesThreshold, usage, costUSD, tags, details
    }

    /// The members a `EvalRecord`'s JSON may have (its decoder refuses others), from its coding keys:
    /// for code that reads the record's bytes without decoding it.
    public static let fieldNames: Set<String> = Set(CodingKeys.allCases.map(\.stringValue))

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? Self.currentSchemaVersion
        sampleId = try c.decode(String.self, forKey: .sampleId)
        metric = try c.decode(String.self, forKey: .metric)
        type = try c.decode(String.self, forKey: .type)
        status = try c.decode(Status.self, forKey: .status)
        score = try c.decodeIfPresent(Double.self, forKey: .score)
        passed = try c.decodeIfPresent(Bool.self, forKey: .passed)
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        votes = try c.decodeIfPresent([Double].self, forKey: .votes)
        spread = try c.decodeIfPresent(Double.self, forKey: .spread)
        straddlesThreshold = try c.decodeIfPresent(Bool.self, forKey: .straddlesThreshold)
        usage = try c.decodeIfPresent(Usage.self, forKey: .usage)
        costUSD = try c.decodeIfPresent(Double.self, forKey: .costUSD)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        details = try c.decodeIfPresent([String: JSONValue].self, forKey: .details)
    }
}
