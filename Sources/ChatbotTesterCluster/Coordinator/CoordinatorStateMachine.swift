import ChatbotTesterCore
import DequeModule

/// The coordinator's protocol logic as a pure state machine: feed it connection events, frames and
/// clock ticks; it returns the actions the I/O shell carries out (send, close, journal, load
/// samples, report). No sockets, files or clocks inside, so every path is tested in memory.
///
/// It schedules a sharded run exactly as the Runner schedules a single-process one:
/// - **Concurrency.** At most `concurrency` samples are in flight in the whole run (the bot's
///   capacity, `run.concurrency`), split across the workers: each ready worker's share is
///   `concurrency / max(workers, expectedWorkers)` (the remainder to the first ones). A worker is
///   handed samples one slot at a time as its records come back, so a slow case holds one slot,
///   never a whole shard, and fast workers take more. With a `prefetch` window a worker also holds
///   up to that many samples more, queued on its side and started as its slots free (its share is
///   sent as `slots` with each `assign`): what is in flight to the target stays within the share,
///   and samples go out and come back several to a frame instead of one slot at a time.
/// - **The tail, and a stop rule in reach.** Once nothing is left to hand out (the spool
///   complete), a worker with a free slot does not idle while another worker queues samples it has
///   not started: that worker is asked to hand its queue back (`release`, as for a stop), and what
///   comes back goes out again one slot at a time, fewest held first, with no window beyond a
///   worker's share (so it does not bounce back and forth). A slow case at the end holds one slot,
///   never the queue behind it. The same happens while the samples the run may hold could trip the
///   budget or the failure policy (`RunLimits.mayStop(within:)`): queues are handed back and no
///   window is held, so a stop finds no more samples started than one process would.
/// - **Stop rules.** Every record is counted in one `RunLimits` (cost budget, failure policy) for the
///   whole run; when it says stop, or the shell calls `stop(_:)` (interrupt), no sample starts any
///   more (workers hand back what they queued and have not started: `release` / `released`), the
///   samples in flight finish (or are abandoned after `stopGrace` seconds when cancelled), and the
///   run ends with that stop reason. A resume plays what was not started.
/// - **Exactly-once recording.** A record is accepted only from the worker the sample was handed
///   to, with the index it was handed with, and journaled by the record-key rule
///   (`ClusterRecordKeys`: the first record of a sample, or a success replacing an error; anything
///   else is counted as a duplicate and dropped). A lost worker's samples go back to the front of
///   the queue.
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
        /// Samples in flight in the whole run at most (`run.concurrency`).
        public var concurrency: Int
        /// Workers the run is meant to have (`--workers N`); shares are computed for at least this
        /// many, so the first worker to join does not take every slot. 0: the workers connected.
        public var expectedWorkers: Int
        /// After an interrupt, how long samples in flight may take to finish before they are
        /// abandoned (a resume plays them).
        public var stopGrace: Double
        /// Samples a worker may hold beyond its share, queued on its side (0: none; each sample is
        /// handed out as a slot frees). With a window, samples are handed out in batches of at least
        /// half of it once the worker's slots are busy.
        public var prefetch: Int
        /// The spool's journal, offered in `welcome` to workers that can append their records to it
        /// themselves (`journaled` frames, protocol 8); nil: records travel in `records` frames.
        public var recordJournal: ClusterMessage.RecordJournal?
        /// Whether `welcome` asks the workers that journal to keep their records' report parts for
        /// the reports' pieces (protocol 12, `Welcome.reportPieces`).
        public var reportPieces = false

        public init(
            heartbeatInterval: Double = 2, heartbeatTimeout: Double = 15, helloTimeout: Double = 10, concurrency: Int = 8,
            expectedWorkers: Int = 0, stopGrace: Double = 10, prefetch: Int = 0
        ) {
            self.heartbeatInterval = heartbeatInterval
            self.heartbeatTimeout = heartbeatTimeout
            self.helloTimeout = helloTimeout
            self.concurrency = max(1, concurrency)
            self.expectedWorkers = max(0, expectedWorkers)
            self.stopGrace = stopGrace
            self.prefetch = max(0, prefetch)
        }

        /// The prefetch window a run of `concurrency` over `workers` workers uses:
        /// `prefetchShares` times each worker's share, when that is at least 4 (below, samples go
        /// out one slot at a time, so a stop rule's count is never overrun by samples a worker
        /// started before `release` reached it). What a worker queues never runs beyond its share
        /// (`slots`), so the window's depth changes only how many samples and records share a
        /// frame (each frame costs the coordinator a wake-up, a read or write, an actor turn) — and
        /// how much one worker may queue while another idles at the run's end, which the tail rule
        /// takes back (`release`; see the type's notes).
        public static func prefetch(concurrency: Int, workers: Int) -> Int {
            let share = concurrency / max(1, workers)
            return share >= 4 ? prefetchShares * share : 0
        }

        /// The prefetch window's depth in shares: at 2 (sessions 8–14) a worker sent its records
        /// about every 16 cases at `concurrency: 32` over two workers; at 8 (session 15) a frame
        /// carries up to 64 both ways and the coordinator's CPU is about a quarter lower
        /// (docs/cluster.md, "Session 15"); at 16, with frames of up to 128 records
        /// (`ClusterWorker.Options.batchSize`), frames average about 90 records and the coordinator
        /// takes about 3 % less CPU (session 25).
        public static let prefetchShares = 16
    }

    /// A sample of the spool: its shard, dataset index and id.
    public struct SampleRef: Sendable, Hashable {
        public var shardId: Int
        public var index: Int
        public var id: String

        public init(shardId: Int, index: Int, id: String) {
            self.shardId = shardId
            self.index = index
            self.id = id
        }
    }

    /// What the shell must do.
    public enum Action: Sendable, Hashable {
        /// Send a message on a connection.
        case send(ConnectionID, ClusterMessage)
        /// Load these samples from the spool and send them as one `assign`.
        case assign(ConnectionID, [SampleRef])
        /// Append these records' bytes to the journal, one line each (already checked and
        /// deduplicated).
        case journal([ClusterRecordEnvelope])
        /// Close a connection, logging why (`nil`: orderly).
        case close(ConnectionID, reason: String?)
        /// Report something (progress, lost workers, re-queued samples, a stop).
        case report(ClusterEvent)
        /// Answer a budget request once the shared rate budget of its backend allows it.
        case grantBudget(ConnectionID, ClusterMessage.BudgetRequest)
        /// The run is over (every sample journaled, or stopped): flush the journal and merge.
        case finished(RunStopReason)
    }

    private enum Phase: Sendable, Hashable {
        case awaitingHello
        case ready
    }

    private struct Worker: Sendable {
        var phase: Phase
        var workerId: String?
        var lastSeen: Double
        var connectedAt: Double
        /// Samples handed to this worker and not returned, by dataset index.
        var inFlight: [Int: SampleRef] = [:]
        var completedSamples = 0
        /// Asked to hand back its queue (the window closed), and handed nothing since: what it
        /// holds beyond its share then is only records not sent yet, never a queue to ask for.
        var queueReleaseAsked = false
    }

    private enum Recorded: UInt8, Sendable {
        case none, error, success
    }

    /// A shard's members. Those of a manifest's shard are contiguous (`firstIndex + position`) and
    /// share the manifest's id list instead of copying it: a million-case run keeps its ids once.
    private struct Shard: Sendable {
        var id: Int
        var firstIndex: Int
        var ids: [String]
        /// The members' dataset indexes when they are not contiguous (nil: `firstIndex + position`).
        var indexes: [Int]?
        /// The next member not yet considered for dispatch.
        var cursor = 0

        init(id: Int, firstIndex: Int, ids: [String]) {
            self.id = id
            self.firstIndex = firstIndex
            self.ids = ids
        }

        init(id: Int, members: [(index: Int, id: String)]) {
            self.id = id
            firstIndex = members.first?.index ?? 0
            ids = members.map(\.id)
            let first = firstIndex
            if !members.enumerated().allSatisfy({ $0.element.index == first + $0.offset }) { indexes = members.map(\.index) }
        }

        var count: Int { ids.count }
        /// One past the largest dataset index of a member (0 when empty).
        var end: Int { indexes.map { ($0.max() ?? -1) + 1 } ?? (ids.isEmpty ? 0 : firstIndex + ids.count) }
        func index(at position: Int) -> Int { indexes?[position] ?? firstIndex + position }
    }

    public let configuration: Configuration
    private let welcome: ClusterMessage.Welcome
    private var shards: [Shard] = []
    /// Positions in `shards` with members not yet dispatched.
    private var shardQueue: Deque<Int> = []
    /// Samples to play again (a lost worker's), ahead of the shards.
    private var retry: Deque<SampleRef> = []
    private var workers: [ConnectionID: Worker] = [:]
    /// Set once the run's tail was reached (nothing left to hand out while a worker had a free
    /// slot): from then on no worker is handed more than its share.
    private var atTail = false
    /// The run's circuit breakers, one per backend instance a worker reported a connection failure
    /// of, and why each is down once open (`breakerReport` / `breakerState`).
    private var breakers: [String: (breaker: CircuitBreaker, down: ClusterMessage.BreakerState.Down?)] = [:]
    /// The most instances with a breaker: a run has a handful; a worker naming more is refused.
    static let maxBreakers = 256
    /// `shares()` while the ready workers stay the same (every frame of records dispatches); reset
    /// when a worker joins or leaves.
    private var shareCache: [ConnectionID: Int]?
    /// Per dataset index, what is recorded of the sample (the record-key rule, `ClusterRecordKeys`,
    /// kept by index: ids and indices are one to one in a spool): nothing, an error, a success.
    private var recorded: [Recorded]
    private var recordedCount = 0
    private var total: Int
    /// Whether every shard of the run is known; false while the spool is still written (shards
    /// then arrive through `spooled(_:complete:)`).
    private var spoolComplete: Bool
    private var inFlight = 0
    private var limits: RunLimits
    private var stopReason: RunStopReason?
    private var stopDeadline: Double?
    private var finishedReported = false
    private var lastHeartbeatSent = -Double.infinity
    private var now = 0.0
    /// Samples given up: in flight when a stop's grace ran out, or refused by a backend that is down.
    public private(set) var abandonedCount = 0
    /// Records dropped by the record-key rule (a sample already recorded).
    public private(set) var duplicateCount = 0

    /// - Parameters:
    ///   - shards: every shard of the run: id → (index, sample id) members, in dataset order.
    ///   - journaled: sample ids already in the journal (a resumed run).
    ///   - limits: the run's budget and failure policy, with what earlier sessions spent.
    ///   - spoolComplete: false when the spool is still being written: the run is not complete
    ///     before `spooled(_:complete:)` says it is.
    public init(
        shards: [(id: Int, members: [(index: Int, id: String)])], journaled: Set<String>, welcome: ClusterMessage.Welcome,
        limits: RunLimits = RunLimits(), configuration: Configuration = Configuration(), spoolComplete: Bool = true
    ) {
        self.init(
            shards: shards.map { Shard(id: $0.id, members: $0.members) }, journaled: { journaled.contains($1) }, welcome: welcome,
            limits: limits, configuration: configuration, spoolComplete: spoolComplete)
    }

    /// `journaled(index, id)`: whether the sample at dataset index `index`, with id `id`, is in the journal.
    private init(
        shards: [Shard], journaled: (Int, String) -> Bool, welcome: ClusterMessage.Welcome, limits: RunLimits, configuration: Configuration,
        spoolComplete: Bool
    ) {
        self.configuration = configuration
        self.spoolComplete = spoolComplete
        var welcome = welcome
        // Only a queue (a prefetch window) can start samples the coordinator has not counted a
        // failure for; see `Welcome.handBackQueueAtFirstFailure`.
        if configuration.prefetch > 0 && !limits.failurePolicy.isNever { welcome.handBackQueueAtFirstFailure = true }
        welcome.recordJournal = configuration.recordJournal
        welcome.reportPieces = configuration.reportPieces && configuration.recordJournal != nil ? true : nil
        self.welcome = welcome
        self.limits = limits
        var recorded = [Recorded](repeating: .none, count: shards.lazy.map(\.end).max() ?? 0)
        var recordedCount = 0
        var total = 0
        for shard in shards {
            total += shard.count
            var open = false
            for position in 0..<shard.count {
                let index = shard.index(at: position)
                if !journaled(index, shard.ids[position]) {
                    open = true
                } else if recorded[index] == .none {
                    recorded[index] = .success
                    recordedCount += 1
                }
            }
            if open { shardQueue.append(self.shards.count) }
            self.shards.append(shard)
        }
        self.recorded = recorded
        self.recordedCount = recordedCount
        self.total = total
    }

    /// Creates the machine for a spool, skipping journaled samples.
    /// With `spoolComplete: false`, `manifest` is that of a spool still being written (no shards
    /// yet: they come through `spooled(_:complete:)`).
    public init(
        manifest: ClusterManifest, journaled: Set<String>, setup: ClusterJobSetup, limits: RunLimits = RunLimits(),
        configuration: Configuration = Configuration(), spoolComplete: Bool = true
    ) {
        self.init(
            manifest: manifest, journaledWhere: { journaled.contains($1) }, setup: setup, limits: limits, configuration: configuration,
            spoolComplete: spoolComplete)
    }

    /// Creates the machine for a spool, skipping the samples whose dataset indexes `journaled`
    /// holds (a resume's `ClusterSpool.ResumeState.journaled`).
    public init(
        manifest: ClusterManifest, journaled: JournaledSamples, setup: ClusterJobSetup, limits: RunLimits = RunLimits(),
        configuration: Configuration = Configuration(), spoolComplete: Bool = true
    ) {
        self.init(
            manifest: manifest, journaledWhere: { index, _ in journaled.contains(index) }, setup: setup, limits: limits,
            configuration: configuration, spoolComplete: spoolComplete)
    }

    private init(
        manifest: ClusterManifest, journaledWhere journaled: (Int, String) -> Bool, setup: ClusterJobSetup, limits: RunLimits,
        configuration: Configuration, spoolComplete: Bool
    ) {
        self.init(
            shards: manifest.shards.map { Shard(id: $0.id, firstIndex: $0.firstIndex, ids: $0.sampleIds) },
            journaled: journaled,
            welcome: ClusterMessage.Welcome(
                runId: manifest.runId, setup: setup, heartbeatSeconds: configuration.heartbeatInterval, samplesAsWritten: manifest.samplesAsWritten),
            limits: limits, configuration: configuration, spoolComplete: spoolComplete)
    }

    /// A manifest shard as the machine takes it: its id and its (dataset index, sample id) members.
    public static func members(of shard: ClusterManifest.Shard) -> (id: Int, members: [(index: Int, id: String)]) {
        (shard.id, shard.sampleIds.enumerated().map { (shard.firstIndex + $0.offset, $0.element) })
    }

    /// Shards of a spool still being written, as they are committed (after those already known, in
    /// dataset order); `complete` once the last one is (the run can then complete). Their samples
    /// are handed out at once to workers with spare slots. A spool written while the run plays is
    /// a fresh one: none of its samples is journaled yet.
    public mutating func spooled(_ shards: [(id: Int, members: [(index: Int, id: String)])], complete: Bool) -> [Action] {
        spooled(shards.map { Shard(id: $0.id, members: $0.members) }, complete: complete)
    }

    /// Manifest shards of a spool still being written, as they are committed (see
    /// `spooled(_:complete:)`); their id lists are shared, not copied.
    public mutating func spooled(manifestShards shards: [ClusterManifest.Shard], complete: Bool) -> [Action] {
        spooled(shards.map { Shard(id: $0.id, firstIndex: $0.firstIndex, ids: $0.sampleIds) }, complete: complete)
    }

    private mutating func spooled(_ shards: [Shard], complete: Bool) -> [Action] {
        for shard in shards {
            let end = shard.end
            if end > recorded.count { recorded.append(contentsOf: repeatElement(.none, count: end - recorded.count)) }
            total += shard.count
            if shard.count > 0 { shardQueue.append(self.shards.count) }
            self.shards.append(shard)
        }
        if complete { spoolComplete = true }
        return settle()
    }

    /// Samples journaled so far.
    public var completedCount: Int { recordedCount }
    /// The dataset indexes of the samples journaled so far (earlier sessions included), as ranges
    /// in increasing order.
    public var recordedRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start: Int?
        for index in recorded.indices {
            if recorded[index] != .none {
                if start == nil { start = index }
            } else if let first = start {
                ranges.append(first..<index)
                start = nil
            }
        }
        if let first = start { ranges.append(first..<recorded.count) }
        return ranges
    }
    /// Samples in the run.
    public var totalCount: Int { total }
    /// Samples handed to workers and not yet returned.
    public var inFlightCount: Int { inFlight }
    /// Whether every sample is journaled.
    public var isComplete: Bool { spoolComplete && recordedCount >= total }
    /// Whether every shard of the run is known (false while the spool is being written).
    public var isSpoolComplete: Bool { spoolComplete }
    /// Why the run stops, once it does.
    public var stoppingReason: RunStopReason? { stopReason }
    /// The run's budget and failure counts.
    public var runLimits: RunLimits { limits }
    /// Connected workers (past hello).
    public var workerCount: Int { workers.values.filter { $0.phase == .ready }.count }

    /// Actions to take at start: a spool already complete, or a budget already spent, ends at once.
    public mutating func start() -> [Action] {
        if isComplete { return finish(.completed) }
        if let reason = limits.exhaustedBeforeStart {
            stopReason = reason
            return [.report(.stopping(reason: reason.rawValue, inFlight: 0))] + finish(reason)
        }
        return []
    }

    /// A new connection was accepted at `now` (seconds, any monotonic origin).
    public mutating func connected(_ id: ConnectionID, now: Double) -> [Action] {
        self.now = max(self.now, now)
        workers[id] = Worker(phase: .awaitingHello, lastSeen: now, connectedAt: now)
        shareCache = nil
        return []
    }

    /// A frame could not be read (malformed, oversized): the connection goes, the rest lives on.
    public mutating func violation(_ id: ConnectionID, reason: String) -> [Action] {
        guard workers[id] != nil else { return [] }
        return [.close(id, reason: reason)] + lost(id, reason: reason)
    }

    /// The connection ended (EOF, error or after a `close` action).
    public mutating func disconnected(_ id: ConnectionID, reason: String?) -> [Action] {
        lost(id, reason: reason ?? "connection closed")
    }

    private mutating func lost(_ id: ConnectionID, reason: String) -> [Action] {
        guard let worker = workers.removeValue(forKey: id) else { return [] }
        shareCache = nil
        let name = worker.workerId ?? "connection \(id)"
        var requeued = 0
        // Back to the front, in dataset order.
        for ref in worker.inFlight.values.sorted(by: { $0.index > $1.index }) where !isRecorded(ref.index) {
            retry.prepend(ref)
            requeued += 1
        }
        inFlight -= worker.inFlight.count
        var actions: [Action] = []
        if worker.workerId != nil, !finishedReported {
            actions.append(.report(.workerLost(workerId: name, reason: reason, requeuedSamples: requeued)))
        }
        return actions + settle()
    }

    /// A decoded message arrived on `id` at `now`.
    public mutating func received(_ message: ClusterMessage, from id: ConnectionID, now: Double) -> [Action] {
        self.now = max(self.now, now)
        guard var worker = workers[id] else { return [] }
        worker.lastSeen = now
        workers[id]?.lastSeen = now
        switch (worker.phase, message) {
        case (.awaitingHello, .hello(let hello)):
            guard hello.protocolVersion == clusterProtocolVersion else {
                return violation(id, reason: "protocol version \(hello.protocolVersion) is not \(clusterProtocolVersion)")
            }
            worker.workerId = hello.workerId
            worker.phase = .ready
            shareCache = nil
            workers[id] = worker
            var actions: [Action] = [.send(id, .welcome(welcome)), .report(.workerJoined(workerId: hello.workerId, pid: hello.pid))]
            // A worker joining late learns which backends are down already.
            for (backend, entry) in breakers.sorted(by: { $0.key < $1.key }) {
                if let down = entry.down { actions.append(.send(id, .breakerState(.init(requestId: nil, backend: backend, down: down)))) }
            }
            if finishedReported {
                actions.append(.send(id, .shutdown))
            } else {
                actions += dispatch()
            }
            return actions
        case (.awaitingHello, _):
            return violation(id, reason: "expected hello, got \(message.typeName)")
        case (_, .heartbeat):
            return []
        case (.ready, .records(let records)):
            do {
                return accept(try records.map(ClusterRecordEnvelope.init(encoding:)), from: id)
            } catch {
                return violation(id, reason: "a record cannot be encoded: \(error)")
            }
        case (_, .error(let info)):
            return [.close(id, reason: "worker reported \(info.code): \(info.message)")] + lost(id, reason: "worker error: \(info.message)")
        case (.ready, .budgetRequest(let request)):
            return [.grantBudget(id, request)]
        case (.ready, .breakerReport(let report)):
            return breakerReported(report, from: id)
        case (.ready, .released(let released)):
            return handBack(released.sampleIds, from: id)
        default:
            return violation(id, reason: "unexpected \(message.typeName) from \(worker.workerId ?? "worker")")
        }
    }

    /// A worker's attempt failed at the connection level, or was answered after reported failures:
    /// the instance's one breaker records it as one process's breaker records its own attempts.
    /// A failure is answered (with why it is down when it is open); the report that opens it is
    /// also told to every other worker, so their calls fail at once with `target_down`.
    private mutating func breakerReported(_ report: ClusterMessage.BreakerReport, from id: ConnectionID) -> [Action] {
        guard breakers[report.backend] != nil || breakers.count < Self.maxBreakers else {
            return violation(id, reason: "breaker reports name more than \(Self.maxBreakers) backends")
        }
        var entry =
            breakers[report.backend] ?? (CircuitBreaker(settings: CircuitBreaker.Settings(consecutiveFailures: report.consecutiveFailures)), nil)
        guard let failure = report.failure else {
            _ = entry.breaker.record(.answered)
            breakers[report.backend] = entry
            return []
        }
        var opened = false
        if case .open(let failures, let code, let message) = entry.breaker.record(.connectionFailure(code: failure.code, message: failure.message)) {
            entry.down = .init(failures: failures, last: .init(code: code, message: message, peer: failure.peer))
            opened = true
        }
        breakers[report.backend] = entry
        var actions: [Action] = []
        if let requestId = report.requestId {
            actions.append(.send(id, .breakerState(.init(requestId: requestId, backend: report.backend, down: entry.down, opened: opened ? true : nil))))
        }
        if opened, let down = entry.down {
            for other in workers.keys.sorted() where other != id && workers[other]?.phase == .ready {
                actions.append(.send(other, .breakerState(.init(requestId: nil, backend: report.backend, down: down))))
            }
        }
        return actions
    }

    /// A `records` frame arrived on `id` at `now`, read as envelopes (the shell's lean path: the
    /// records' bytes are journaled as received). Same checks as `received(.records(_:))`.
    public mutating func received(records: [ClusterRecordEnvelope], from id: ConnectionID, now: Double) -> [Action] {
        self.now = max(self.now, now)
        guard let phase = workers[id]?.phase else { return [] }
        workers[id]?.lastSeen = now
        guard phase == .ready else { return violation(id, reason: "expected hello, got records") }
        return accept(records, from: id)
    }

    private mutating func accept(_ records: [ClusterRecordEnvelope], from id: ConnectionID) -> [Action] {
        // Taken out while it changes (put back below), so its table of samples is not copied.
        guard var worker = workers.removeValue(forKey: id) else { return [] }
        // The records kept: `records` itself unless one is dropped (no envelope copied then; an
        // envelope holds a dozen references).
        var kept: [ClusterRecordEnvelope]?
        var stopped: RunStopReason?
        func drop(_ position: Int) {
            if kept == nil { kept = Array(records[..<position]) }
        }
        // What is read of each record, read in place (an element taken out of the array is a copy).
        var read: [(index: Int, sampleId: String, runSampleId: String, stopReason: RunStopReason?, failed: Bool, costUSD: Double?)] = []
        read.reserveCapacity(records.count)
        records.withUnsafeBufferPointer { buffer in
            for position in buffer.indices {
                read.append((
                    buffer[position].index, buffer[position].sampleId, buffer[position].runSampleId, buffer[position].stopReason,
                    buffer[position].failed, buffer[position].costUSD
                ))
            }
        }
        for position in records.indices {
            let (index, sampleId, runSampleId, stopReason, failed, costUSD) = read[position]
            guard runSampleId == sampleId else {
                workers[id] = worker
                return violation(id, reason: "record envelope says sample '\(sampleId)' but holds the result of '\(runSampleId)'")
            }
            guard let ref = worker.inFlight[index], ref.id == sampleId else {
                workers[id] = worker
                if let given = worker.inFlight.values.first(where: { $0.id == sampleId }) {
                    return violation(id, reason: "record for sample '\(sampleId)' says index \(index), it was given as \(given.index)")
                }
                return violation(id, reason: "record for sample '\(sampleId)', which this worker was not given (or already returned)")
            }
            worker.inFlight[index] = nil
            inFlight -= 1
            if let reason = stopReason {
                // A backend is down (its breaker refused the call): not data about the bot. The
                // sample stays for a resume, and the run stops as a single process would.
                retry.prepend(ref)
                abandonedCount += 1
                if stopped == nil { stopped = reason }
                drop(position)
                continue
            }
            guard admit(index, succeeded: !failed) != .duplicate else {
                duplicateCount += 1
                drop(position)
                continue
            }
            kept?.append(records[position])
            if let reason = limits.recordFinished(failed: failed, costUSD: costUSD), stopped == nil {
                stopped = reason
            }
        }
        let fresh = kept ?? records
        worker.completedSamples += fresh.count
        workers[id] = worker
        var actions: [Action] = []
        if !fresh.isEmpty {
            actions.append(.journal(fresh))
            actions.append(.report(.progress(
                workerId: worker.workerId ?? "?", added: fresh.count, completed: recordedCount, total: total, workerCompleted: worker.completedSamples)))
        }
        if let stopped { actions += stop(stopped) }
        return actions + settle()
    }

    /// Applies the record-key rule to a record of the sample at `index` and remembers the outcome.
    private mutating func admit(_ index: Int, succeeded ok: Bool) -> ClusterRecordKeys.Admission {
        let existing: Bool? = recorded[index] == .none ? nil : recorded[index] == .success
        let admission = ClusterRecordKeys.admission(existing: existing, succeeded: ok)
        guard admission != .duplicate else { return admission }
        if existing == nil { recordedCount += 1 }
        recorded[index] = ok ? .success : .error
        return admission
    }

    /// Whether the sample at `index` has a record.
    private func isRecorded(_ index: Int) -> Bool {
        index < recorded.count && recorded[index] != .none
    }

    /// Stops starting samples (an interrupt, or a stop rule). Samples in flight finish; after an
    /// interrupt (`.cancelled`) they are abandoned once `stopGrace` seconds have passed. The first
    /// reason wins.
    public mutating func stop(_ reason: RunStopReason) -> [Action] {
        guard stopReason == nil, !finishedReported else { return [] }
        stopReason = reason
        if reason == .cancelled { stopDeadline = now + configuration.stopGrace }
        var actions: [Action] = [.report(.stopping(reason: reason.rawValue, inFlight: inFlight))]
        // Queued samples must not start: ask every worker that may hold some to hand them back.
        if configuration.prefetch > 0 {
            for id in workers.keys.sorted() where workers[id]?.phase == .ready && workers[id]?.inFlight.isEmpty == false {
                actions.append(.send(id, .release))
            }
        }
        return actions + settle()
    }

    /// A worker handed back samples it held without starting them (after `release`): they are no
    /// longer in flight, and go back to the front of the queue (a resume plays them).
    private mutating func handBack(_ ids: [String], from id: ConnectionID) -> [Action] {
        guard var worker = workers[id] else { return [] }
        var refs: [SampleRef] = []
        for sampleId in ids {
            guard let ref = worker.inFlight.values.first(where: { $0.id == sampleId }) else {
                workers[id] = worker
                return violation(id, reason: "handed back sample '\(sampleId)', which this worker does not hold")
            }
            worker.inFlight[ref.index] = nil
            refs.append(ref)
            inFlight -= 1
        }
        workers[id] = worker
        for ref in refs.sorted(by: { $0.index > $1.index }) { retry.prepend(ref) }
        return settle()
    }

    /// The number of samples worker `id` may play at once: its share of `concurrency` (sent as an
    /// assignment's `slots`).
    public func slots(for id: ConnectionID) -> Int? {
        shares()[id]
    }

    /// Ends the run when nothing more can happen, else hands out samples.
    private mutating func settle() -> [Action] {
        if finishedReported { return [] }
        if isComplete { return finish(.completed) }
        if let stopReason {
            return inFlight == 0 ? finish(stopReason) : []
        }
        return dispatch()
    }

    /// The share of `concurrency` of each ready worker, by connection id.
    private func shares() -> [ConnectionID: Int] {
        let ready = workers.keys.filter { workers[$0]?.phase == .ready }.sorted()
        guard !ready.isEmpty else { return [:] }
        let slots = max(ready.count, configuration.expectedWorkers)
        let base = configuration.concurrency / slots
        let extra = configuration.concurrency % slots
        var out: [ConnectionID: Int] = [:]
        for (rank, id) in ready.enumerated() { out[id] = base + (rank < extra ? 1 : 0) }
        return out
    }

    /// Hands queued samples to ready workers with spare slots (fewest held first).
    private mutating func dispatch() -> [Action] {
        guard stopReason == nil, !finishedReported else { return [] }
        var actions: [Action] = []
        let shares = shareCache ?? shares()
        shareCache = shares
        let prefetch = configuration.prefetch
        let capacity = configuration.concurrency + prefetch * shares.count
        // No window at the tail, nor while what the run may hold could trip a stop rule.
        let windowClosed = prefetch > 0 && (atTail || limits.mayStop(within: capacity))
        let order = shares.keys.sorted { (workers[$0]!.inFlight.count, $0) < (workers[$1]!.inFlight.count, $1) }
        for id in order {
            let held = workers[id]!.inFlight.count
            // With the window closed a worker is handed no more than it plays at once.
            var spare = min(shares[id]! + (windowClosed ? 0 : prefetch) - held, capacity - inFlight)
            guard spare > 0 else { continue }
            // Every slot busy: top the queue up in batches, not one sample per returned record.
            if !windowClosed && prefetch > 1 && held >= shares[id]! && spare < (prefetch + 1) / 2 { continue }
            var batch: [SampleRef] = []
            while spare > 0, let ref = nextSample() {
                batch.append(ref)
                spare -= 1
            }
            guard !batch.isEmpty else { break }
            for ref in batch { workers[id]!.inFlight[ref.index] = ref }
            workers[id]!.queueReleaseAsked = false
            inFlight += batch.count
            actions.append(.assign(id, batch))
        }
        return actions + takeQueuesBack(shares, windowClosed: windowClosed)
    }

    /// Once the prefetch window is closed — a stop rule in reach of what the run may hold
    /// (`RunLimits.mayStop(within:)`), or the run's tail, reached here when nothing is left to hand
    /// out (the spool complete) while a worker has a free slot — asks each worker that queues
    /// samples beyond its share to hand them back (`release`, once until it is handed more); they come
    /// back through `handBack` and go out again, at most a share per worker, to whoever has room.
    private mutating func takeQueuesBack(_ shares: [ConnectionID: Int], windowClosed: Bool) -> [Action] {
        guard configuration.prefetch > 0 else { return [] }
        if !windowClosed {
            let tail = spoolComplete && retry.isEmpty && shardQueue.isEmpty
                && shares.contains { id, share in workers[id].map { $0.inFlight.count < share } ?? false }
            guard tail else { return [] }
            atTail = true
        }
        var actions: [Action] = []
        for (id, share) in shares.sorted(by: { $0.key < $1.key }) {
            guard let worker = workers[id], !worker.queueReleaseAsked, worker.inFlight.count > share else { continue }
            workers[id]?.queueReleaseAsked = true
            actions.append(.send(id, .release))
        }
        return actions
    }

    private mutating func nextSample() -> SampleRef? {
        while let ref = retry.popFirst() {
            if !isRecorded(ref.index) && !isHeld(ref.index) { return ref }
        }
        while let position = shardQueue.first {
            let shard = shards[position]
            var cursor = shard.cursor
            while cursor < shard.count {
                let index = shard.index(at: cursor)
                let id = shard.ids[cursor]
                cursor += 1
                if !isRecorded(index) {
                    shards[position].cursor = cursor
                    if cursor == shard.count { shardQueue.removeFirst() }
                    return SampleRef(shardId: shard.id, index: index, id: id)
                }
            }
            shards[position].cursor = cursor
            shardQueue.removeFirst()
        }
        return nil
    }

    private func isHeld(_ index: Int) -> Bool {
        workers.values.contains { $0.inFlight[index] != nil }
    }

    /// The clock advanced: send heartbeats, drop silent workers, end a stop whose grace ran out.
    public mutating func tick(now: Double) -> [Action] {
        self.now = max(self.now, now)
        var actions: [Action] = []
        for id in workers.keys.sorted() {
            guard let worker = workers[id] else { continue }
            if worker.phase == .awaitingHello, now - worker.connectedAt > configuration.helloTimeout {
                actions += violation(id, reason: "no hello within \(configuration.helloTimeout)s")
            } else if worker.phase != .awaitingHello, now - worker.lastSeen > configuration.heartbeatTimeout {
                actions += violation(id, reason: "no heartbeat for \(configuration.heartbeatTimeout)s")
            }
        }
        if let stopDeadline, let stopReason, now >= stopDeadline, !finishedReported {
            abandonedCount += inFlight
            actions.append(.report(.abandoned(samples: inFlight)))
            actions += finish(stopReason)
        }
        if now - lastHeartbeatSent >= configuration.heartbeatInterval {
            lastHeartbeatSent = now
            for id in workers.keys.sorted() where workers[id]?.phase == .ready {
                actions.append(.send(id, .heartbeat))
            }
        }
        return actions
    }

    private mutating func finish(_ reason: RunStopReason) -> [Action] {
        guard !finishedReported else { return [] }
        finishedReported = true
        var actions: [Action] = []
        for id in workers.keys.sorted() where workers[id]?.phase == .ready {
            actions.append(.send(id, .shutdown))
        }
        actions.append(.finished(reason))
        return actions
    }
}
