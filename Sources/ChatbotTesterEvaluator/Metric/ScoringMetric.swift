import ChatbotTesterCore

/// A metric made from its shared options and a closure returning one `MetricScore` per record.
///
/// Applies the `tags` filter, records errored runs as unmeasured, and turns a thrown error into an
/// unmeasured record. Most built-in deterministic metrics are one of these.
public struct ScoringMetric: EvaluationMetric {
    public let common: MetricCommon
    private let body: @Sendable (RunRecord) async throws -> MetricScore

    public init(common: MetricCommon, body: @escaping @Sendable (RunRecord) async throws -> MetricScore) {
        self.common = common
        self.body = body
    }

    public var name: String { common.name }
    public var type: String { common.type }

    public func evaluate(_ record: RunRecord) async throws -> [EvalRecord] {
        guard common.applies(to: record) else { return [] }
        if let errored = common.erroredRun(record) { return [errored] }
        do {
            return [common.record(for: record, try await body(record))]
        } catch is CancellationError {
            throw CancellationError()
        } catch let reason as NotApplicable {
            return [common.unmeasured(record, reason.description)]
        } catch {
            return [common.unmeasured(record, "evaluation failed: \(ChatbotTesterError.wrap(error).description)")]
        }
    }
}
