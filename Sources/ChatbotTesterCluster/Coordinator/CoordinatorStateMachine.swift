import ChatbotTesterCore

/// The coordinator's protocol logic as a pure state machine: feed it connection events, frames and
/// clock ticks; it returns the actions the I/O shell carries out (send, close, journal, load a
/// shard, report). No sockets, files or clocks inside, so every path is tested in memory.
///
/// Work stealing: a worker gets one shard at a time and asks for the next by finishing one, so
/// fast workers take more. Recording is exactly-once: a record is journaled only the first time
/// its sample id is seen. A lost worker's shard is re-queued minus the samples already journaled.
public struct CoordinatorStateMachine: Sendable {
    /// Identifies one connection in the shell.
    public typealias ConnectionID = Int

    /// Tunables.
    public struct Configuration: Sendable, Hashable {
        /// Seconds between heartbeats the coordinator sends, and asks workers to send.
        public var heartbeatInterval: Double
        /// A worker silent for this long is lost.
        public var heartbeatTimeout: Double
        /// A worker must say hello within this many seconds of connecting.
        public var helloTimeout: Double

        public init(heartbeatInterval: Double = 2, heartbeatTimeout: Double = 15, helloTimeout: Double = 10) {
            self.heartbeatInterval = heartbeatInterval
            self.heartbeatTimeout = heartbeatTimeout
            self.helloTimeout = helloTimeout
        }
    }

    /// What the shell must do.
    public enum Action: Sendable, Hashable {
        /// Send a message on a connection.
        case send(ConnectionID, ClusterMessage)
        /// Load the listed samples of a shard from the spool and send them as `assign`.
        case assign(ConnectionID, shardId: Int, attempt: Int, indices: [Int])
        /// Append these records to the journal (already deduplicated).
        case journal([ClusterRecord])
        /// Close a connection, logging why (`nil`: orderly).
        case close(ConnectionID, reason: String?)
        /// Report something (progress, lost workers, re-queued shards).
        case report(ClusterEvent)
        /// Answer a budget request once the shared rate budget of its backend allows it.
        case grantBudget(ConnectionID, ClusterMessage.BudgetRequest)
        /// Every sample is journaled: flush the journal and merge.
        case finished
    }

    private enum Phase: Sendable, Hashable {
        case awaitingHello
        case idle
        case working(shardId: Int)
        case draining
    }

    private struct Worker: Sendable {
        var phase: Phase
        var workerId: String?
        var pid: Int?
        var lastSeen: Double
        var connectedAt: Double
        var assignmentIds: [String] = []
        var recordsThisAssignment = 0
        var completedSamples = 0
    }

    private struct Shard: Sendable {
        /// index → sample id, for every sample of the shard.
        var members: [(index: Int, id: String)]
        var attempts = 0
        var owner: ConnectionID?
        var queued = false
    }

    public let configuration: Configuration
    private let welcome: ClusterMessage.Welcome
    private var shards: [Int: Shard] = [:]
    private var queue: [Int] = []
    private var workers: [ConnectionID: Worker] = [:]
    private var done: Set<String>
    private let total: Int
    private var finishedReported = false
    private var draining = false
    private var lastHeartbeatSent = -Double.infinity

    /// - Parameters:
    ///   - shards: every shard of the run: id → (index, sample id) members.
    ///   - journaled: sample ids already in the journal (a resumed run).
    public init(
        shards: [(id: Int, members: [(index: Int, id: String)])], journaled: Set<String>, welcome: ClusterMessage.Welcome,
        configuration: Configuration = Configuration()
    ) {
        self.configuration = configuration
        self.welcome = welcome
        self.done = journaled
        var total = 0
        for shard in shards {
            total += shard.members.count
            var state = Shard(members: shard.members)
            if shard.members.contains(where: { !journaled.contains($0.id) }) {
                state.queued = true
                queue.append(shard.id)
            }
            self.shards[shard.id] = state
        }
        self.total = total
    }

    /// Creates the machine for a spool, skipping journaled samples.
    public init(manifest: ClusterManifest, journaled: Set<String>, setup: ClusterJobSetup, configuration: Configuration = Configuration()) {
        self.init(
            shards: manifest.shards.map { shard in
                (shard.id, shard.sampleIds.enumerated().map { (shard.firstIndex + $0.offset, $0.element) })
            },
            journaled: journaled,
            welcome: ClusterMessage.Welcome(runId: manifest.runId, setup: setup, heartbeatSeconds: configuration.heartbeatInterval),
            configuration: configuration)
    }

    /// Samples journaled so far.
    public var completedCount: Int { done.count }
    /// Samples in the run.
    public var totalCount: Int { total }
    /// Whether every sample is journaled.
    public var isComplete: Bool { done.count >= total }
    /// Shards waiting for a worker.
    public var queuedShardIds: [Int] { queue }
    /// Connected workers (past hello).
    public var workerCount: Int { workers.values.filter { $0.phase != .awaitingHello }.count }

    /// Actions to take at start (a spool already complete finishes at once).
    public mutating func start() -> [Action] {
        isComplete ? finish() : []
    }

    /// A new connection was accepted at `now` (seconds, any monotonic origin).
    public mutating func connected(_ id: ConnectionID, now: Double) -> [Action] {
        workers[id] = Worker(phase: .awaitingHello, lastSeen: now, connectedAt: now)
        return []
    }

    /// A frame could not be read (malformed, oversized): the connection goes, the rest lives on.
    public mutating func violation(_ id: ConnectionID, reason: String) -> [Action] {
        var actions: [Action] = [.close(id, reason: reason)]
        actions += lost(id, reason: reason)
        return actions
    }

    /// The connection ended (EOF, error or after a `close` action).
    public mutating func disconnected(_ id: ConnectionID, reason: String?) -> [Action] {
        lost(id, reason: reason ?? "connection closed")
    }

    private mutating func lost(_ id: ConnectionID, reason: String) -> [Action] {
        guard let worker = workers.removeValue(forKey: id) else { return [] }
        var actions: [Action] = []
        let name = worker.workerId ?? "connection \(id)"
        if case .working(let shardId) = worker.phase {
            let remaining = requeue(shardId)
            actions.append(.report(.workerLost(workerId: name, reason: reason, shardId: shardId, requeuedSamples: remaining)))
            actions += dispatch()
        } else if worker.workerId != nil, !isComplete {
            actions.append(.report(.workerLost(workerId: name, reason: reason, shardId: nil, requeuedSamples: 0)))
        }
        return actions
    }

    /// Puts the unjournaled rest of a shard back at the front of the queue; returns its size.
    private mutating func requeue(_ shardId: Int) -> Int {
        guard var shard = shards[shardId] else { return 0 }
        shard.owner = nil
        let remaining = shard.members.filter { !done.contains($0.id) }.count
        if remaining > 0 && !shard.queued {
            shard.queued = true
            queue.insert(shardId, at: 0)
        }
        shards[shardId] = shard
        return remaining
    }

    /// A decoded message arrived on `id` at `now`.
    public mutating func received(_ message: ClusterMessage, from id: ConnectionID, now: Double) -> [Action] {
        guard var worker = workers[id] else { return [] }
        worker.lastSeen = now
        workers[id] = worker
        switch (worker.phase, message) {
        case (.awaitingHello, .hello(let hello)):
            guard hello.protocolVersion == clusterProtocolVersion else {
                return violation(id, reason: "protocol version \(hello.protocolVersion) is not \(clusterProtocolVersion)")
            }
            worker.workerId = hello.workerId
            worker.pid = hello.pid
            worker.phase = draining ? .draining : .idle
            workers[id] = worker
            var actions: [Action] = [.send(id, .welcome(welcome)), .report(.workerJoined(workerId: hello.workerId, pid: hello.pid))]
            if isComplete || draining {
                actions.append(.send(id, .shutdown))
            } else {
                actions += dispatch()
            }
            return actions
        case (.awaitingHello, _):
            return violation(id, reason: "expected hello, got \(message.typeName)")
        case (_, .heartbeat):
            return []
        case (.working(let shardId), .records(let records)):
            return accept(records, shardId: shardId, from: id)
        case (.working(let shardId), .shardDone(let summary)):
            return shardDone(summary, shardId: shardId, from: id)
        case (_, .error(let info)):
            return [.close(id, reason: "worker reported \(info.code): \(info.message)")] + lost(id, reason: "worker error: \(info.message)")
        case (.idle, .budgetRequest(let request)), (.working, .budgetRequest(let request)), (.draining, .budgetRequest(let request)):
            return [.grantBudget(id, request)]
        default:
            return violation(id, reason: "unexpected \(message.typeName) from \(worker.workerId ?? "worker") while \(worker.phase)")
        }
    }

    private mutating func accept(_ records: [ClusterRecord], shardId: Int, from id: ConnectionID) -> [Action] {
        guard var worker = workers[id], let shard = shards[shardId] else { return [] }
        // Check the whole frame before counting any of it: a refused frame journals nothing.
        var members: [String: Int] = [:]
        members.reserveCapacity(shard.members.count)
        for member in shard.members { members[member.id] = member.index }
        for record in records {
            guard let index = members[record.sampleId] else {
                return violation(id, reason: "record for sample '\(record.sampleId)' that is not in shard \(shardId)")
            }
            guard record.run.sampleId == record.sampleId else {
                return violation(id, reason: "record envelope for sample '\(record.sampleId)' carries the result of sample '\(record.run.sampleId)'")
            }
            guard record.index == index else {
                return violation(id, reason: "record for sample '\(record.sampleId)' says index \(record.index); its index in shard \(shardId) is \(index)")
            }
        }
        var fresh: [ClusterRecord] = []
        for record in records {
            worker.assignmentIds.append(record.sampleId)
            worker.recordsThisAssignment += 1
            if done.insert(record.sampleId).inserted {
                fresh.append(record)
            }
        }
        worker.completedSamples += fresh.count
        workers[id] = worker
        var actions: [Action] = []
        if !fresh.isEmpty {
            actions.append(.journal(fresh))
            actions.append(.report(.progress(workerId: worker.workerId ?? "?", added: fresh.count, completed: done.count, total: total, workerCompleted: worker.completedSamples)))
        }
        return actions
    }

    private mutating func shardDone(_ summary: ClusterMessage.ShardDone, shardId: Int, from id: ConnectionID) -> [Action] {
        guard var worker = workers[id] else { return [] }
        guard summary.shardId == shardId else {
            return violation(id, reason: "shardDone for shard \(summary.shardId) while working on \(shardId)")
        }
        let digest = ClusterDigest.of(sampleIds: worker.assignmentIds)
        guard summary.count == worker.recordsThisAssignment, summary.digest == digest else {
            return violation(id, reason: "shardDone for shard \(shardId) says \(summary.count) records (\(summary.digest)), received \(worker.recordsThisAssignment) (\(digest))")
        }
        worker.phase = draining ? .draining : .idle
        worker.assignmentIds = []
        worker.recordsThisAssignment = 0
        workers[id] = worker
        var actions: [Action] = []
        let remaining = requeue(shardId)
        if remaining == 0 {
            actions.append(.report(.shardCompleted(shardId: shardId, workerId: worker.workerId ?? "?")))
        } else {
            actions.append(.report(.shardRequeued(shardId: shardId, samples: remaining, reason: "worker finished without \(remaining) samples")))
        }
        if isComplete { return actions + finish() }
        if draining { return actions + [.send(id, .shutdown)] }
        return actions + dispatch()
    }

    /// Hands queued shards to idle workers (lowest connection id first).
    private mutating func dispatch() -> [Action] {
        guard !draining else { return [] }
        var actions: [Action] = []
        for id in workers.keys.sorted() where workers[id]?.phase == .idle {
            guard let shardId = nextShard() else { break }
            var shard = shards[shardId]!
            shard.attempts += 1
            shard.owner = id
            shard.queued = false
            shards[shardId] = shard
            workers[id]!.phase = .working(shardId: shardId)
            workers[id]!.assignmentIds = []
            workers[id]!.recordsThisAssignment = 0
            let indices = shard.members.filter { !done.contains($0.id) }.map(\.index)
            actions.append(.assign(id, shardId: shardId, attempt: shard.attempts, indices: indices))
            if shard.attempts > 1 {
                actions.append(.report(.shardReassigned(shardId: shardId, attempt: shard.attempts, workerId: workers[id]!.workerId ?? "?", samples: indices.count)))
            }
        }
        return actions
    }

    private mutating func nextShard() -> Int? {
        while !queue.isEmpty {
            let shardId = queue.removeFirst()
            guard let shard = shards[shardId] else { continue }
            if shard.members.contains(where: { !done.contains($0.id) }) { return shardId }
            shards[shardId]!.queued = false
        }
        return nil
    }

    /// The clock advanced: send heartbeats, drop silent workers.
    public mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        for id in workers.keys.sorted() {
            guard let worker = workers[id] else { continue }
            if worker.phase == .awaitingHello, now - worker.connectedAt > configuration.helloTimeout {
                actions += violation(id, reason: "no hello within \(configuration.helloTimeout)s")
            } else if worker.phase != .awaitingHello, now - worker.lastSeen > configuration.heartbeatTimeout {
                actions += violation(id, reason: "no heartbeat for \(configuration.heartbeatTimeout)s")
            }
        }
        if now - lastHeartbeatSent >= configuration.heartbeatInterval {
            lastHeartbeatSent = now
            for id in workers.keys.sorted() where workers[id]?.phase != .awaitingHello {
                actions.append(.send(id, .heartbeat))
            }
        }
        return actions
    }

    /// Stop handing out shards; workers finish what they hold and are told to shut down.
    public mutating func drain() -> [Action] {
        draining = true
        var actions: [Action] = []
        for id in workers.keys.sorted() {
            if workers[id]?.phase == .idle {
                workers[id]!.phase = .draining
                actions.append(.send(id, .shutdown))
            } else if case .working = workers[id]?.phase {
                actions.append(.send(id, .drain))
            }
        }
        return actions
    }

    private mutating func finish() -> [Action] {
        guard !finishedReported else { return [] }
        finishedReported = true
        var actions: [Action] = []
        for id in workers.keys.sorted() where workers[id]?.phase != .awaitingHello {
            actions.append(.send(id, .shutdown))
        }
        actions.append(.finished)
        return actions
    }
}
