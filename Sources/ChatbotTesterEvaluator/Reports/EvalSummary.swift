import ChatbotTesterCore

/// The content of `summary.json`: the verdict, the gates, and the mergeable aggregate.
public struct EvalSummary: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1
    public var schemaVersion = Self.currentSchemaVersion
    /// True when every gate passed (exit code 0).
    public var passed: Bool
    /// Weighted mean of the metric means.
    public var overallScore: Double?
    public var gates: [GateResult]
    public var aggregate: EvalAggregate
    /// Result lines that could not be read (they are skipped, not evaluated).
    public var rejectedLines: Int

    public init(aggregate: EvalAggregate, rejectedLines: Int = 0) {
        self.passed = aggregate.passed
        self.overallScore = aggregate.overallScore
        self.gates = aggregate.gateResults
        self.aggregate = aggregate
        self.rejectedLines = rejectedLines
    }
}
