import ChatbotTesterCore

/// What a cluster run reports on the `EventBus` (kind `cluster.*`).
public enum ClusterEvent: Sendable, Hashable {
    case workerJoined(workerId: String, pid: Int)
    case workerLost(workerId: String, reason: String, shardId: Int?, requeuedSamples: Int)
    case shardCompleted(shardId: Int, workerId: String)
    case shardRequeued(shardId: Int, samples: Int, reason: String)
    case shardReassigned(shardId: Int, attempt: Int, workerId: String, samples: Int)
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
        if case .progress(_, let added, _, _, _) = event { return .advanced(stage: "cluster", succeeded: true, count: added) }
        return .advanced(stage: "cluster", succeeded: true, count: 0)
    }

    /// A one-line human description.
    public var summary: String {
        switch event {
        case .workerJoined(let id, let pid): "worker \(id) joined (pid \(pid))"
        case .workerLost(let id, let reason, let shard, let requeued):
            "worker \(id) lost (\(reason))" + (shard.map { "; shard \($0) re-queued with \(requeued) samples" } ?? "")
        case .shardCompleted(let shard, let id): "shard \(shard) done by \(id)"
        case .shardRequeued(let shard, let samples, let reason): "shard \(shard) re-queued (\(samples) samples): \(reason)"
        case .shardReassigned(let shard, let attempt, let id, let samples): "shard \(shard) attempt \(attempt) → \(id) (\(samples) samples)"
        case .progress(let id, _, let completed, let total, let mine):
            "\(completed)/\(total) samples; \(id) has done \(mine)" + (workerSamplesPerSecond.map { String(format: " (%.1f/s)", $0) } ?? "")
        case .connectionClosed(let peer, let reason): "closed \(peer): \(reason)"
        }
    }

    private enum CodingKeys: String, CodingKey { case type, summary, workerSamplesPerSecond }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(String(describing: event).prefix(while: { $0 != "(" })), forKey: .type)
        try c.encode(summary, forKey: .summary)
        try c.encodeIfPresent(workerSamplesPerSecond, forKey: .workerSamplesPerSecond)
    }
}
