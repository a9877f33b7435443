import Foundation

/// The outcome of playing one test case against the chatbot under test.
///
/// A failed case is data: `status == .error` with `error` set; the transcript holds what was said
/// before the failure.
public struct RunRecord: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 2

    /// Whether the conversation completed.
    public enum Status: String, Sendable, Hashable, Codable {
        case ok, error
    }

    public var schemaVersion: Int
    /// The id of the test case.
    public var sampleId: String
    /// The backend instance name the case was played against.
    public var target: String
    public var status: Status
    /// The test case itself, so results are self-contained for evaluation and reports.
    public var sample: TestSample
    /// The whole conversation, system prompt included.
    public var transcript: [Message]
    /// The last assistant reply, if any.
    public var output: String?
    /// Per assistant turn: latency, usage, cost, attempts.
    public var turns: [TurnRecord]
    /// Total usage of the target (and simulator, counted separately in `simulatorUsage`).
    public var usage: Usage
    /// Usage of the simulated user's model, when one played.
    public var simulatorUsage: Usage?
    /// Total cost in US dollars, when a price is known.
    public var costUSD: Double?
    /// Sum of per-turn latencies, in milliseconds.
    public var latencyMs: Double
    /// Total backend attempts (retries included).
    public var attempts: Int
    /// Why a simulated conversation ended (`goal_reached`, `gave_up`, `max_turns`), `max_steps`
    /// when an agent loop was cut at the case's `maxSteps`, or `completed`.
    public var stopReason: String?
    public var error: ErrorInfo?
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(
        sample: TestSample, target: String, status: Status = .ok, transcript: [Message] = [], turns: [TurnRecord] = [],
        usage: Usage = .zero, simulatorUsage: Usage? = nil, costUSD: Double? = nil, latencyMs: Double = 0,
        attempts: Int = 0, stopReason: String? = nil, error: ErrorInfo? = nil, startedAt: Date? = nil,
        finishedAt: Date? = nil
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.sampleId = sample.id
        self.target = target
        self.status = status
        self.sample = sample
        self.transcript = transcript
        self.output = transcript.last(where: { $0.role == .assistant })?.content
        self.turns = turns
        self.usage = usage
        self.simulatorUsage = simulatorUsage
        self.costUSD = costUSD
        self.latencyMs = latencyMs
        self.attempts = attempts
        self.stopReason = stopReason
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion, sampleId, target, status, sample, transcript, output, turns, usage, simulatorUsage, costUSD,
            latencyMs, attempts, stopReason, error, startedAt, finishedAt
    }

    /// The members a `RunRecord`'s JSON may have (its decoder refuses others), from its coding keys:
    /// for code that reads the record's bytes without decoding it.
    public static let fieldNames: Set<String> = Set(CodingKeys.allCases.map(\.stringValue))

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? Self.currentSchemaVersion
        sampleId = try c.decode(String.self, forKey: .sampleId)
        target = try c.decode(String.self, forKey: .target)
        status = try c.decode(Status.self, forKey: .status)
        sample = try c.decode(TestSample.self, forKey: .sample)
        transcript = try c.decodeIfPresent([Message].self, forKey: .transcript) ?? []
        output = try c.decodeIfPresent(String.self, forKey: .output)
        turns = try c.decodeIfPresent([TurnRecord].self, forKey: .turns) ?? []
        usage = try c.decodeIfPresent(Usage.self, forKey: .usage) ?? .zero
        simulatorUsage = try c.decodeIfPresent(Usage.self, forKey: .simulatorUsage)
        costUSD = try c.decodeIfPresent(Double.self, forKey: .costUSD)
        latencyMs = try c.decodeIfPresent(Double.self, forKey: .latencyMs) ?? 0
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 0
        stopReason = try c.decodeIfPresent(String.self, forKey: .stopReason)
        error = try c.decodeIfPresent(ErrorInfo.self, forKey: .error)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
    }
}

extension RunRecord {
    /// Every tool call the bot made, in order.
    public var toolCalls: [ToolCall] { transcript.flatMap { $0.toolCalls ?? [] } }

    /// The tool results the runner sent back (the `.tool` messages), in order.
    public var toolResults: [Message] { transcript.filter { $0.role == .tool } }

    /// The contexts the bot reported retrieving, over all turns in order, duplicates removed.
    public var retrievedContexts: [String] {
        var seen = Set<String>()
        return turns.flatMap { $0.retrievedContexts ?? [] }.filter { seen.insert($0).inserted }
    }
}

/// Measurements of one call to the target (one assistant message): latency, usage, cost,
/// attempts, and what the reply carried besides text.
public struct TurnRecord: Sendable, Hashable, Codable {
    /// 0-based index of the call.
    public var index: Int
    public var latencyMs: Double
    public var usage: Usage
    public var costUSD: Double?
    public var attempts: Int
    public var finishReason: String?
    /// The tools the reply called, in order.
    public var toolCalls: [ToolCall]?
    /// The contexts the bot reported using for this reply.
    public var retrievedContexts: [String]?
    /// Time to the first streamed token, when the reply was streamed.
    public var timeToFirstTokenMs: Double?
    /// Completion tokens per second of a streamed reply, when known.
    public var tokensPerSecond: Double?

    public init(
        index: Int, latencyMs: Double, usage: Usage = .zero, costUSD: Double? = nil, attempts: Int = 1, finishReason: String? = nil,
        toolCalls: [ToolCall]? = nil, retrievedContexts: [String]? = nil, timeToFirstTokenMs: Double? = nil,
        tokensPerSecond: Double? = nil
    ) {
        self.index = index
        self.latencyMs = latencyMs
        self.usage = usage
        self.costUSD = costUSD
        self.attempts = attempts
        self.finishReason = finishReason
        self.toolCalls = toolCalls
        self.retrievedContexts = retrievedContexts
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.tokensPerSecond = tokensPerSecond
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case index, latencyMs, usage, costUSD, attempts, finishReason, toolCalls, retrievedContexts, timeToFirstTokenMs,
            tokensPerSecond
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        index = try c.decode(Int.self, forKey: .index)
        latencyMs = try c.decode(Double.self, forKey: .latencyMs)
        usage = try c.decode(Usage.self, forKey: .usage)
        costUSD = try c.decodeIfPresent(Double.self, forKey: .costUSD)
        attempts = try c.decode(Int.self, forKey: .attempts)
        finishReason = try c.decodeIfPresent(String.self, forKey: .finishReason)
        toolCalls = try c.decodeIfPresent([ToolCall].self, forKey: .toolCalls)
        retrievedContexts = try c.decodeIfPresent([String].self, forKey: .retrievedContexts)
        timeToFirstTokenMs = try c.decodeIfPresent(Double.self, forKey: .timeToFirstTokenMs)
        tokensPerSecond = try c.decodeIfPresent(Double.self, forKey: .tokensPerSecond)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(latencyMs, forKey: .latencyMs)
        try c.encode(usage, forKey: .usage)
        try c.encodeIfPresent(costUSD, forKey: .costUSD)
        try c.encode(attempts, forKey: .attempts)
        try c.encodeIfPresent(finishReason, forKey: .finishReason)
        if let toolCalls, !toolCalls.isEmpty { try c.encode(toolCalls, forKey: .toolCalls) }
        try c.encodeIfPresent(retrievedContexts, forKey: .retrievedContexts)
        try c.encodeIfPresent(timeToFirstTokenMs, forKey: .timeToFirstTokenMs)
        try c.encodeIfPresent(tokensPerSecond, forKey: .tokensPerSecond)
    }
}
