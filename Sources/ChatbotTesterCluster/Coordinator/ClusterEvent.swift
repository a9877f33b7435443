import ChatbotTesterCore

/// What a cluster run reports on the `EventBus` (kind `cluster.*`).
public enum ClusterEvent: Sendable, Hashable {
    /// The coordinator started serving: `total` samples, `resumed` of them already journaled.
    case runStarted(total: Int, resumed: Int)
    /// The run ended: every sample journaled (`completed`), or stopped with `reason` (a
    /// `RunStopReason` raw value).
    case runFinished(total: Int, journaled: Int, reason: String)
    case workerJoined(workerId: String, pid: Int)
    /// A worker went away; the samples it held and had not returned go back to the queue.
    case workerLost(workerId: String, reason: String, requeuedSamples: Int)
    /// The run stops starting samples (budget, failure policy, interrupt); `inFlight` still finish.
    case stopping(reason: String, inFlight: Int)
    /// Samples in flight were given up after an interrupt's grace period (a resume plays them).
    case abandoned(samples: Int)
    case progress(workerId: String, added: Int, completed: Int, total: Int, workerCompleted: Int)
    /// A connection was closed for a protocol violation or refused (peer credentials).
    case connectionClosed(peer: String, reason: String)
}

/// The `TesterEvent` carrying a `ClusterEvent`.
public struct ClusterTesterEvent: TesterEvent, ProgressEvent {
    public static let kind = "cluster"
    public var event: ClusterEvent
    /// Samples per second of the worker named in a `.progress` event, since it joined.
    public var workerSamplesPerSecond: Double?

    public init(_ event: ClusterEvent, workerSamplesPerSecond: Double? = nil) {
        self.event = event
        self.workerSamplesPerSecond = workerSamplesPerSecond
    }

    public var progress: ProgressUpdate {
        switch event {
        case .runStarted(let total, let resumed): return .started(stage: "cluster", total: total - resumed)
        case .runFinished: return .finished(stage: "cluster")
        case .progress(_, let added, _, _, _): return .advanced(stage: "cluster", succeeded: true, count: added)
        default: return .advanced(stage: "cluster", succeeded: true, count: 0)
        }
    }

    /// A one-line human description.
    public var summary: String {
        switch event {
        case .runStarted(let total, let resumed): "serving \(total) samples" + (resumed > 0 ? " (\(resumed) already journaled)" : "")
        case .runFinished(let total, let journaled, let reason):
            reason == RunStopReason.completed.rawValue
                ? "all \(total) samples journaled" : "stopped (\(reason)): \(journaled) of \(total) samples journaled"
        case .workerJoined(let id, let pid): "worker \(id) joined (pid \(pid))"
        case .workerLost(let id, let reason, let requeued):
            "worker \(id) lost (\(reason))" + (requeued > 0 ? "; \(requeued) samples re-queued" : "")
        case .stopping(let reason, let inFlight): "stopping (\(reason)): no new samples; \(inFlight) in flight finish"
        case .abandoned(let samples): "\(samples) samples in flight abandoned (a resume plays them)"
        case .progress(let id, _, let completed, let total, let mine):
            "\(completed)/\(total) samples; \(id) has done \(mine)" + (workerSamplesPerSecond.map { " (\(DecimalText.fixed($0, digits: 1))/s)" } ?? "")
        case .connectionClosed(let peer, let reason): "closed \(peer): \(reason)"
        }
    }

    /// The case's name (`progress`), as the log's `type` field.
    public var typeName: String {
        switch event {
        case .runStarted: "runStarted"
        case .runFinished: "runFinished"
        case .workerJoined: "workerJoined"
        case .workerLost: "workerLost"
        case .stopping: "stopping"
        case .abandoned: "abandoned"
        case .progress: "progress"
        case .connectionClosed: "connectionClosed"
        }
    }

    private enum CodingKeys: String, CodingKey { case type, summary, workerSamplesPerSecond }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(typeName, forKey: .type)
        try c.encode(summary, forKey: .summary)
        try c.encodeIfPresent(workerSamplesPerSecond, forKey: .workerSamplesPerSecond)
    }

    /// Its `events.jsonl` fields as `encode(to:)` gives them (sorted), without `JSONEncoder`: the
    /// coordinator reports progress as records arrive.
    public func appendJSONFields(to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #","summary":"#.utf8)
        FastRecordEncoding.appendString(summary, to: &out)
        out.append(contentsOf: #","type":"#.utf8)
        FastRecordEncoding.appendString(typeName, to: &out)
        if let workerSamplesPerSecond {
            out.append(contentsOf: #","workerSamplesPerSecond":"#.utf8)
            guard FastRecordEncoding.appendNumber(workerSamplesPerSecond, to: &out) else { return false }
        }
        return true
    }
}
