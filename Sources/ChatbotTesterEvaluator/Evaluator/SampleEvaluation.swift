import ChatbotTesterCore

/// One sample's run record with every evaluation of it: the unit reports are written from.
public struct SampleEvaluation: Sendable, Hashable {
    /// The run, or `nil` when evaluations exist for a sample whose result line is missing.
    public var run: RunRecord?
    public var evals: [EvalRecord]

    public init(run: RunRecord?, evals: [EvalRecord]) {
        self.run = run
        self.evals = evals
    }

    public var sampleId: String { run?.sampleId ?? evals.first?.sampleId ?? "" }

    /// The sample's overall outcome, for filtering and ordering in reports.
    public enum Outcome: String, Sendable, Hashable, Codable, Comparable {
        case error, failed, unmeasured, passed
        public static func < (a: Outcome, b: Outcome) -> Bool {
            let order: [Outcome] = [.error, .failed, .unmeasured, .passed]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    public var outcome: Outcome {
        Self.outcome(failedRun: run?.status == .error, evals: evals)
    }

    /// The outcome of a sample whose run failed or not, with these evaluations.
    static func outcome(failedRun: Bool, evals: [EvalRecord]) -> Outcome {
        if failedRun { return .error }
        // By index: reading two fields copies no record.
        var unmeasured = false
        for index in evals.indices {
            if evals[index].passed == false { return .failed }
            if evals[index].status == .unmeasured { unmeasured = true }
        }
        return unmeasured ? .unmeasured : .passed
    }
}
