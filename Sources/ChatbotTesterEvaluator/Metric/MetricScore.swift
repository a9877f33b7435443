import ChatbotTesterCore

/// What a metric found for one record, before the shared options (threshold, tags) turn it into
/// an `EvalRecord`.
public struct MetricScore: Sendable, Hashable {
    /// The score in [0, 1]; `nil` means the evaluation could not be made (unmeasured).
    public var score: Double?
    /// Why: what a check found, the judge's reason, or why it is unmeasured.
    public var reason: String?
    /// Individual judge votes (normalised to [0, 1]).
    public var votes: [Double]?
    /// Model usage spent on this score (judges, embeddings).
    public var usage: Usage?
    /// Cost of that usage in US dollars, when known.
    public var costUSD: Double?
    /// Metric-specific data (raw judge score, cosine, matched phrase…).
    public var details: [String: JSONValue]?

    public init(
        score: Double?, reason: String? = nil, votes: [Double]? = nil, usage: Usage? = nil, costUSD: Double? = nil,
        details: [String: JSONValue]? = nil
    ) {
        self.score = score.map { min(1, max(0, $0)) }
        self.reason = reason
        self.votes = votes
        self.usage = usage
        self.costUSD = costUSD
        self.details = details
    }

    /// A pass/fail check: 1 when `ok`, else 0.
    public static func bool(_ ok: Bool, reason: String? = nil, details: [String: JSONValue]? = nil) -> MetricScore {
        MetricScore(score: ok ? 1 : 0, reason: reason, details: details)
    }

    /// An evaluation that could not be made.
    public static func unmeasured(_ reason: String, details: [String: JSONValue]? = nil) -> MetricScore {
        MetricScore(score: nil, reason: reason, details: details)
    }

    /// Whether a score was made.
    public var isMeasured: Bool { score != nil }
}
