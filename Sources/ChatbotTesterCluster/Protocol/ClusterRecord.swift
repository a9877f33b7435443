import ChatbotTesterCore

/// One test case's finished result as it travels from a worker to the coordinator's journal.
public struct ClusterRecord: Sendable, Hashable, Codable {
    /// The sample id (results are deduplicated by it).
    public var sampleId: String
    /// The sample's 0-based position in the dataset (the merge order).
    public var index: Int
    /// The run's outcome.
    public var run: RunRecord
    /// The metric verdicts on the run, in metric order.
    public var evals: [EvalRecord]

    public init(sampleId: String, index: Int, run: RunRecord, evals: [EvalRecord]) {
        self.sampleId = sampleId
        self.index = index
        self.run = run
        self.evals = evals
    }
}

/// A test case with its 0-based position in the dataset.
public struct IndexedSample: Sendable, Hashable, Codable {
    public var index: Int
    public var sample: TestSample

    public init(index: Int, sample: TestSample) {
        self.index = index
        self.sample = sample
    }
}
