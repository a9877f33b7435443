import ChatbotTesterCore

/// A metric made from its shared options and a closure returning one `MetricScore` per record.
///
/// Applies the `tags` filter, records errored runs as unmeasured, and turns a thrown error into an
/// unmeasured record. Most built-in deterministic metrics are one of these.
///
/// A metric made with a synchronous body (`init(common:synchronousBody:)`, or
/// `MetricRegistry.registerSynchronousScoring`) can also be evaluated without suspending
/// (`evaluateNow`): the `Evaluator` then scores a record's deterministic metrics in one call and
/// many records per task, instead of one task per metric and record.
public struct ScoringMetric: EvaluationMetric {
    public let common: MetricCommon
    private let body: @Sendable (RunRecord) async throws -> MetricScore
    private let synchronousBody: (@Sendable (RunRecord) throws -> MetricScore)?

    public init(common: MetricCommon, body: @escaping @Sendable (RunRecord) async throws -> MetricScore) {
        self.common = common
        self.body = body
        self.synchronousBody = nil
    }

    /// A metric whose body never suspends (a deterministic check).
    public init(common: MetricCommon, synchronousBody: @escaping @Sendable (RunRecord) throws -> MetricScore) {
        self.common = common
        self.body = synchronousBody
        self.synchronousBody = synchronousBody
    }

    public var name: String { common.name }
    public var type: String { common.type }

    /// Whether `evaluateNow` can score records (the body is synchronous).
    public var isSynchronous: Bool { synchronousBody != nil }

    public func evaluate(_ record: RunRecord) async throws -> [EvalRecord] {
        if synchronousBody != nil { return evaluateNow(record) }
        guard common.applies(to: record) else { return [] }
        if let errored = common.erroredRun(record) { return [errored] }
        do {
            return [common.record(for: record, try await body(record))]
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return [unmeasured(record, error)]
        }
    }

    /// Scores a record without suspending; what `evaluate` returns. Needs a synchronous body
    /// (`isSynchronous`); without one every record is unmeasured.
    public func evaluateNow(_ record: RunRecord) -> [EvalRecord] {
        var records: [EvalRecord] = []
        appendNow(record, to: &records)
        return records
    }

    /// What `evaluateNow` returns, appended to `records` (no array per metric and record: the
    /// `Evaluator` collects a record's metrics in one).
    public func appendNow(_ record: RunRecord, to records: inout [EvalRecord]) {
        guard common.applies(to: record) else { return }
        if let errored = common.erroredRun(record) {
            records.append(errored)
            return
        }
        guard let synchronousBody else {
            records.append(common.unmeasured(record, "evaluation failed: the metric needs the asynchronous path"))
            return
        }
        do {
            records.append(common.record(for: record, try synchronousBody(record)))
        } catch {
            records.append(unmeasured(record, error))
        }
    }

    private func unmeasured(_ record: RunRecord, _ error: any Error) -> EvalRecord {
        if let reason = error as? NotApplicable { return common.unmeasured(record, reason.description) }
        return common.unmeasured(record, "evaluation failed: \(ChatbotTesterError.wrap(error).description)")
    }
}
