import ChatbotTesterCore

/// The worker's protocol logic as a pure state machine; `ClusterWorker` is its I/O shell.
public struct WorkerStateMachine: Sendable {
    /// What the shell must do.
    public enum Action: Sendable, Hashable {
        case send(ClusterMessage)
        /// Rebuild backends and the shard processor from the welcome.
        case build(ClusterMessage.Welcome)
        /// Run the processor on an assignment.
        case process(ClusterMessage.Assignment)
        /// The coordinator granted a budget request.
        case granted(ClusterMessage.BudgetGrant)
        /// Leave: `reason` nil for an orderly shutdown, else a protocol failure to report.
        case exit(reason: String?)
    }

    private enum Phase: Sendable, Hashable {
        case initial, awaitingWelcome, ready, working(shardId: Int), exited
    }

    public let hello: ClusterMessage.Hello
    private var phase = Phase.initial
    private var draining = false
    private var sentIds: [String] = []

    public init(hello: ClusterMessage.Hello) {
        self.hello = hello
    }

    /// Whether the worker has left.
    public var hasExited: Bool { phase == .exited }

    /// Opening actions: say hello.
    public mutating func start() -> [Action] {
        guard phase == .initial else { return [] }
        phase = .awaitingWelcome
        return [.send(.hello(hello))]
    }

    /// A message from the coordinator.
    public mutating func received(_ message: ClusterMessage) -> [Action] {
        switch (phase, message) {
        case (.exited, _):
            return []
        case (_, .heartbeat):
            return []
        case (_, .budgetGrant(let grant)):
            return [.granted(grant)]
        case (_, .shutdown):
            phase = .exited
            return [.exit(reason: nil)]
        case (_, .error(let info)):
            phase = .exited
            return [.exit(reason: "coordinator reported \(info.code): \(info.message)")]
        case (.awaitingWelcome, .welcome(let welcome)):
            guard welcome.protocolVersion == clusterProtocolVersion else {
                return fail("coordinator speaks protocol \(welcome.protocolVersion), this worker \(clusterProtocolVersion)")
            }
            phase = .ready
            return [.build(welcome)]
        case (.ready, .assign(let assignment)):
            phase = .working(shardId: assignment.shardId)
            sentIds = []
            return [.process(assignment)]
        case (.ready, .drain):
            phase = .exited
            return [.exit(reason: nil)]
        case (.working, .drain):
            draining = true
            return []
        default:
            return fail("unexpected \(message.typeName) in state \(phase)")
        }
    }

    /// The processor produced records for the current shard: send them as one frame.
    public mutating func produced(_ records: [ClusterRecord]) -> [Action] {
        guard case .working = phase, !records.isEmpty else { return [] }
        sentIds.append(contentsOf: records.map(\.sampleId))
        return [.send(.records(records))]
    }

    /// The processor finished the current shard.
    public mutating func finishedShard() -> [Action] {
        guard case .working(let shardId) = phase else { return [] }
        let done = ClusterMessage.ShardDone(shardId: shardId, count: sentIds.count, digest: ClusterDigest.of(sampleIds: sentIds))
        sentIds = []
        if draining {
            phase = .exited
            return [.send(.shardDone(done)), .exit(reason: nil)]
        }
        phase = .ready
        return [.send(.shardDone(done))]
    }

    /// The processor or the backends failed beyond a per-sample error.
    public mutating func failed(_ error: ChatbotTesterError) -> [Action] {
        guard phase != .exited else { return [] }
        phase = .exited
        return [.send(.error(ErrorInfo(error))), .exit(reason: error.description)]
    }

    private mutating func fail(_ reason: String) -> [Action] {
        phase = .exited
        return [.send(.error(ErrorInfo(code: ChatbotTesterError.Code.proto.rawValue, message: reason))), .exit(reason: reason)]
    }
}
