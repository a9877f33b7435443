import ChatbotTesterCore

/// The `evaluate:` section of a job config.
///
/// ```yaml
/// evaluate:
///   concurrency: 8            # samples evaluated at once (default 8)
///   htmlSampleCap: 1000       # samples embedded in report.html (default 1000, failing first)
///   baseline: runs/last-good  # optional: a run directory (or its evals.jsonl) to compare against
///   maxErrorRate: 0.05        # optional run gate: at most 5 % of runs may end in an error
///   metrics:
///     - {type: contains, value: "30 days", name: refund-window}
///     - {type: llm-judge, backend: judge, rubric: "...", threshold: 0.7, votes: 3, passRate: 0.9}
/// ```
public struct EvaluationConfig: Sendable, Hashable, Codable {
    public var metrics: [ComponentSpec]
    public var concurrency: Int
    public var htmlSampleCap: Int
    /// A baseline run directory or `evals.jsonl` for a comparison section in the reports.
    public var baseline: String?
    /// Run gate: the largest fraction of runs that may end in an error (set it on `Evaluator`).
    public var maxErrorRate: Double?

    public init(
        metrics: [ComponentSpec], concurrency: Int = 8, htmlSampleCap: Int = 1000, baseline: String? = nil, maxErrorRate: Double? = nil
    ) {
        self.metrics = metrics
        self.concurrency = concurrency
        self.htmlSampleCap = htmlSampleCap
        self.baseline = baseline
        self.maxErrorRate = maxErrorRate
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case metrics, concurrency, htmlSampleCap, baseline, maxErrorRate }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metrics = try c.decode([ComponentSpec].self, forKey: .metrics)
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? 8
        if concurrency < 1 {
            throw DecodingError.dataCorruptedError(forKey: .concurrency, in: c, debugDescription: "concurrency must be at least 1")
        }
        htmlSampleCap = try c.decodeIfPresent(Int.self, forKey: .htmlSampleCap) ?? 1000
        if htmlSampleCap < 0 {
            throw DecodingError.dataCorruptedError(forKey: .htmlSampleCap, in: c, debugDescription: "htmlSampleCap must not be negative")
        }
        baseline = try c.decodeIfPresent(String.self, forKey: .baseline)
        maxErrorRate = try c.decodeIfPresent(Double.self, forKey: .maxErrorRate)
        if let rate = maxErrorRate, !(0...1).contains(rate) {
            throw DecodingError.dataCorruptedError(forKey: .maxErrorRate, in: c, debugDescription: "maxErrorRate must be between 0 and 1")
        }
    }
}
