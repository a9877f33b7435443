import ChatbotTesterCore

/// Emitted when all metrics of one sample are done.
public struct EvalSampleCompleted: ProgressEvent {
    public static let kind = "evaluate.sample.completed"
    public var sampleId: String
    /// Metric names whose score missed the threshold.
    public var failed: [String]
    /// Metric names that could not be scored.
    public var unmeasured: [String]
    /// A failed or unmeasured verdict is a result, not an error: the progress display counts it done.
    public var progress: ProgressUpdate { .advanced(stage: "evaluate", succeeded: true, count: 1) }

    public init(sampleId: String, failed: [String], unmeasured: [String]) {
        self.sampleId = sampleId
        self.failed = failed
        self.unmeasured = unmeasured
    }

    private enum CodingKeys: String, CodingKey { case sampleId, failed, unmeasured }
}

/// Emitted when evaluation starts and ends.
public struct EvalStageChanged: ProgressEvent {
    public static let kind = "evaluate.stage"
    public var started: Bool
    public var total: Int?
    public var progress: ProgressUpdate { started ? .started(stage: "evaluate", total: total) : .finished(stage: "evaluate") }

    public init(started: Bool, total: Int? = nil) {
        self.started = started
        self.total = total
    }

    private enum CodingKeys: String, CodingKey { case started, total }
}

/// Emitted for a result line that cannot be decoded (it is skipped and counted, never fatal).
public struct EvalInputRejected: TesterEvent {
    public static let kind = "evaluate.input.rejected"
    public var source: String?
    public var line: Int?
    public var message: String

    public init(_ error: ChatbotTesterError) {
        source = error.location?.source
        line = error.location?.line
        message = error.description
    }
}
