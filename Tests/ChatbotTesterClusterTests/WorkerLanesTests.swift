import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The worker's per-sample path: the lane machine alone, then a worker driven over an in-memory
/// connection with a processor that counts what plays and can hold samples back.
@Suite struct WorkerLanesTests {
    static func items(_ range: Range<Int>) -> [IndexedSample] {
        range.map { IndexedSample(index: $0, sample: TestSample(id: "case-\($0)", input: "q\($0)")) }
    }

    static func record(_ id: String) -> WorkerEncodedRecord {
        WorkerEncodedRecord(sampleId: id, bytes: Data(id.utf8))
    }

    // MARK: The machine

    @Test func startsAtMostSlotsAndEachFinishTakesTheNext() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0.02)
        let starts = lanes.assigned(Self.items(0..<5), slots: 2)
        #expect(starts.map(\.index) == [0, 1])
        #expect(lanes.running == 2 && lanes.queue.count == 3)
        let finish = lanes.finished()
        #expect(finish.next?.index == 2)
        #expect(lanes.running == 2)
        // A later assign without `slots` keeps the bound; one with fewer slots lets lanes end.
        let unbounded = lanes.assigned(Self.items(5..<7), slots: nil)
        #expect(unbounded.isEmpty)
        let narrowed = lanes.assigned([], slots: 1)
        #expect(narrowed.isEmpty)
        let over = lanes.finished()
        #expect(over.next == nil)
        #expect(lanes.running == 1)
        let freed = lanes.finished()
        #expect(freed.next?.index == 3)
        #expect(lanes.running == 1)
    }

    @Test func releaseHandsBackOnlyTheUnstarted() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0.02)
        _ = lanes.assigned(Self.items(0..<6), slots: 2)
        _ = lanes.finished()
        let handedBack = lanes.release()
        #expect(handedBack == ["case-3", "case-4", "case-5"])
        let first = lanes.finished()
        #expect(first.next == nil)
        let second = lanes.finished()
        #expect(second.next == nil)
        #expect(lanes.running == 0)
    }

    /// A failed case's record does not wait for others to share its frame: the coordinator counts
    /// failures for the failure policy and closes its window once it sees one.
    @Test func aFailedCasesRecordGoesAtOnceEvenWithAQueue() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0.02)
        _ = lanes.assigned(Self.items(0..<10), slots: 1)
        _ = lanes.collect(Self.record("case-0"), now: 1_000)
        #expect(lanes.finished().frame == nil)
        _ = lanes.collect(WorkerEncodedRecord(sampleId: "case-1", bytes: Data("x".utf8), failed: true), now: 2_000)
        let sent = lanes.finished()
        #expect(sent.frame?.map(\.sampleId) == ["case-0", "case-1"])
        // Without a failure policy the queue goes on.
        #expect(sent.next?.index == 2 && sent.handBack == nil)
        // The next batch waits again.
        _ = lanes.collect(Self.record("case-2"), now: 3_000)
        #expect(lanes.finished().frame == nil && lanes.waitingRecords == 1)
    }

    /// With a failure policy, the worker's first failed case stops its queue: nothing more starts
    /// from it, and the queue is handed back right after the frame carrying that failure, so the
    /// coordinator counts it before those samples start anywhere. Once only.
    @Test func theFirstFailureStopsTheQueueAndHandsItBackAfterItsFrame() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0.02)
        lanes.handBackAtFirstFailure = true
        #expect(lanes.assigned(Self.items(0..<6), slots: 2).map(\.index) == [0, 1])
        _ = lanes.collect(WorkerEncodedRecord(sampleId: "case-0", bytes: Data("x".utf8), failed: true), now: 1_000)
        #expect(lanes.queueStopped)
        // An assignment crossing the failure is queued, not started.
        #expect(lanes.assigned(Self.items(6..<7), slots: 2).isEmpty)
        let failed = lanes.finished()
        #expect(failed.frame?.map(\.sampleId) == ["case-0"])
        #expect(failed.handBack == ["case-2", "case-3", "case-4", "case-5", "case-6"])
        #expect(failed.next == nil && lanes.queue.isEmpty && !lanes.queueStopped)
        // Handed back once: a later failure leaves at once but stops nothing.
        #expect(lanes.assigned(Self.items(7..<9), slots: 2).map(\.index) == [7])
        _ = lanes.collect(WorkerEncodedRecord(sampleId: "case-1", bytes: Data("x".utf8), failed: true), now: 2_000)
        let second = lanes.finished()
        #expect(second.frame?.map(\.sampleId) == ["case-1"] && second.handBack == nil)
        #expect(second.next?.index == 8)
    }

    /// The flusher can take the frame with the first failure (it waited `flushDelay`): it hands
    /// the queue back then, and the lane that finishes later starts nothing from it.
    @Test func theFlusherHandsTheQueueBackWhenItSendsTheFirstFailure() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0.02)
        lanes.handBackAtFirstFailure = true
        _ = lanes.assigned(Self.items(0..<4), slots: 1)
        _ = lanes.collect(WorkerEncodedRecord(sampleId: "case-0", bytes: Data("x".utf8), failed: true), now: 1_000)
        let due = lanes.flusherStep(now: 20_001_001)
        #expect(due == .send([WorkerEncodedRecord(sampleId: "case-0", bytes: Data("x".utf8), failed: true)], handBack: ["case-1", "case-2", "case-3"]))
        let finish = lanes.finished()
        #expect(finish.frame == nil && finish.next == nil && lanes.running == 0)
    }

    @Test func recordsGoAtOnceWhenFewerAreQueuedElseWaitForTheFlusher() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0.02)
        _ = lanes.assigned(Self.items(0..<4), slots: 1)
        // Three queued, one record: it waits (the next finishes may share its frame).
        let opened = lanes.collect(Self.record("case-0"), now: 1_000)
        #expect(opened)
        var finish = lanes.finished()
        #expect(finish.frame == nil && finish.next?.index == 1)
        let early = lanes.flusherStep(now: 2_000)
        #expect(early == .sleep(until: 1_000 + 20_000_000))
        // Two queued, two records: still waiting; the flusher sends them once the first is due.
        let reopened = lanes.collect(Self.record("case-1"), now: 3_000)
        #expect(!reopened)
        finish = lanes.finished()
        #expect(finish.frame == nil && finish.next?.index == 2)
        let due = lanes.flusherStep(now: 20_001_000)
        #expect(due == .send([Self.record("case-0"), Self.record("case-1")]))
        let idle = lanes.flusherStep(now: 20_002_000)
        #expect(idle == .park)
        // One queued, one record: waits; then none queued: both go with the finish.
        _ = lanes.collect(Self.record("case-2"), now: 20_003_000)
        finish = lanes.finished()
        #expect(finish.frame == nil && finish.next?.index == 3)
        _ = lanes.collect(Self.record("case-3"), now: 20_004_000)
        finish = lanes.finished()
        #expect(finish.frame == [Self.record("case-2"), Self.record("case-3")])
        #expect(finish.next == nil && !finish.full)
    }

    @Test func aFullBatchGoesAndAsksForBackPressure() {
        var lanes = WorkerLaneMachine(batchSize: 2, flushDelay: 10)
        _ = lanes.assigned(Self.items(0..<10), slots: 2)
        _ = lanes.collect(Self.record("case-0"), now: 0)
        let held = lanes.finished()
        #expect(held.frame == nil)
        _ = lanes.collect(Self.record("case-1"), now: 0)
        let finish = lanes.finished()
        #expect(finish.frame?.count == 2 && finish.full)
    }

    @Test func aStoppedMachineStartsNothing() {
        var lanes = WorkerLaneMachine(batchSize: 64, flushDelay: 0)
        _ = lanes.assigned(Self.items(0..<3), slots: 1)
        lanes.stop()
        _ = lanes.collect(Self.record("case-0"), now: 0)
        let finish = lanes.finished()
        #expect(finish.next == nil && finish.frame?.count == 1)
        let late = lanes.assigned(Self.items(3..<4), slots: 1)
        #expect(late.isEmpty)
        let flusher = lanes.flusherStep(now: 0)
        #expect(flusher == .stop)
    }

    // MARK: A worker over an in-memory connection

    @Test(.timeBound) func releaseDuringPlayHandsBackExactlyTheUnstartedSamples() async throws {
        let probe = LaneProbe(gated: true)
        let worker = try await LaneWorker.start(probe: probe)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<5), slots: 2)))
        try await probe.waitUntilStarted(2)
        worker.connection.deliver(.release)
        let released = try await worker.connection.nextMessage()
        #expect(released == .released(.init(sampleIds: ["case-2", "case-3", "case-4"])))
        probe.open()
        let ids = try await worker.connection.records(2)
        #expect(Set(ids) == ["case-0", "case-1"])
        #expect(Set(probe.startedIds) == ["case-0", "case-1"] && probe.startedIds.count == 2)
        let exit = try await worker.shutdown()
        #expect(exit.records == 2 && exit.failure == nil)
    }

    /// Over a connection: the frame with the first failure, then `released` with the queue, unasked.
    @Test(.timeBound) func aWorkerHandsItsQueueBackAfterItsFirstFailureWhenWelcomedSo() async throws {
        let probe = LaneProbe(gated: true, ungated: ["case-0"], failing: ["case-0"])
        let worker = try await LaneWorker.start(probe: probe, handBackQueueAtFirstFailure: true)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<6), slots: 2)))
        guard case .records(let records) = try await worker.connection.next() else { throw ChatbotTesterError(.proto, "expected records") }
        #expect(records.map(\.sampleId) == ["case-0"] && records.first?.failed == true)
        let released = try await worker.connection.nextMessage()
        #expect(released == .released(.init(sampleIds: ["case-2", "case-3", "case-4", "case-5"])))
        probe.open()
        #expect(try await worker.connection.records(1) == ["case-1"])
        #expect(Set(probe.startedIds) == ["case-0", "case-1"] && probe.startedIds.count == 2)
        let exit = try await worker.shutdown()
        #expect(exit.records == 2 && exit.failure == nil)
    }

    @Test(.timeBound) func playsAtMostSlotsAtOnceAsSlotsChange() async throws {
        let probe = LaneProbe(gated: false)
        let worker = try await LaneWorker.start(probe: probe)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<40), slots: 3)))
        var ids = try await worker.connection.records(40)
        #expect(probe.maxInFlight <= 3)
        probe.resetMax()
        worker.connection.deliver(.assign(.init(samples: Self.items(40..<80), slots: 2)))
        ids += try await worker.connection.records(40)
        #expect(probe.maxInFlight <= 2)
        #expect(Set(ids).count == 80 && ids.count == 80)
        _ = try await worker.shutdown()
    }

    @Test(.timeBound) func recordsGoWithoutWaitingWhenNothingElsePlays() async throws {
        // A flush delay far beyond the test's timeout: nothing may wait for it.
        let probe = LaneProbe(gated: false)
        let worker = try await LaneWorker.start(probe: probe, flushDelay: 60)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<3), slots: 1)))
        // One lane: case-0's record waits (two queued), case-1's joins it (one queued), case-2's goes alone.
        #expect(try await worker.connection.recordFrames(2) == [["case-0", "case-1"], ["case-2"]])
        _ = try await worker.shutdown()
    }

    @Test(.timeBound) func aWaitingRecordGoesAfterTheFlushDelay() async throws {
        let probe = LaneProbe(gated: true, ungated: ["case-0"])
        let worker = try await LaneWorker.start(probe: probe, flushDelay: 0.05)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<3), slots: 1)))
        // case-1 is held back while case-2 waits behind it: case-0's record goes after the delay.
        #expect(try await worker.connection.recordFrames(1) == [["case-0"]])
        probe.open()
        #expect(Set(try await worker.connection.records(2)) == ["case-1", "case-2"])
        _ = try await worker.shutdown()
    }

    /// `Options.taskExecutor`: the worker's lanes play on the executor it is given.
    @Test(.timeBound) func theLanesPlayOnTheExecutorTheWorkerIsGiven() async throws {
        let probe = LaneProbe(gated: false)
        let worker = try await LaneWorker.start(probe: probe)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<4), slots: 2)))
        #expect(Set(try await worker.connection.records(4)).count == 4)
        #expect(probe.threadNames == ["test-timed"])
        _ = try await worker.shutdown()
    }

    /// `Options.threads`: with no executor given, the lanes play on threads the worker makes.
    @Test(.timeBound) func theLanesPlayOnThreadsOfTheWorkersOwnWhenToldHowMany() async throws {
        for (threads, names) in [(1, Set(["worker"])), (2, Set(["worker-0", "worker-1"]))] {
            let probe = LaneProbe(gated: false)
            let worker = try await LaneWorker.start(probe: probe, threads: threads)
            worker.connection.deliver(.assign(.init(samples: Self.items(0..<8), slots: 4)))
            #expect(Set(try await worker.connection.records(8)).count == 8)
            #expect(!probe.threadNames.isEmpty && probe.threadNames.isSubset(of: names), "\(probe.threadNames)")
            _ = try await worker.shutdown()
        }
    }

    @Test(.timeBound) func drainSendsEveryRecordBeforeLeaving() async throws {
        let probe = LaneProbe(gated: true)
        let worker = try await LaneWorker.start(probe: probe)
        worker.connection.deliver(.assign(.init(samples: Self.items(0..<6), slots: 2)))
        try await probe.waitUntilStarted(2)
        worker.connection.deliver(.drain)
        probe.open()
        let ids = try await worker.connection.records(6)
        #expect(Set(ids).count == 6)
        let exit = try await withTimeout(10) { await worker.run.value }
        #expect(exit.records == 6 && exit.failure == nil)
    }
}

/// A processor that counts what plays at once and can hold samples until opened.
final class LaneProbe: ShardProcessor, @unchecked Sendable {
    private struct State {
        var gated: Bool
        var waiters: [CheckedContinuation<Void, Never>] = []
        var inFlight = 0
        var maxInFlight = 0
        var started: [String] = []
        var threadNames: Set<String> = []
    }

    private let state: Locked<State>
    private let ungated: Set<String>
    private let failing: Set<String>

    init(gated: Bool, ungated: Set<String> = [], failing: Set<String> = []) {
        state = Locked(State(gated: gated))
        self.ungated = ungated
        self.failing = failing
    }

    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    var startedIds: [String] { state.withLock { $0.started } }
    /// The names of the threads samples played on (Linux: `/proc/thread-self/comm`).
    var threadNames: Set<String> { state.withLock { $0.threadNames } }
    func resetMax() { state.withLock { $0.maxInFlight = $0.inFlight } }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.gated = false
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilStarted(_ count: Int) async throws {
        try await withTimeout(10) {
            while self.state.withLock({ $0.started.count }) < count { try await Task.sleep(nanoseconds: 1_000_000) }
        }
    }

    func process(_ samples: [IndexedSample], emit: @escaping @Sendable (ClusterRecord) async -> Void) async throws {
        for item in samples {
            let thread = DedicatedThreadExecutor.currentThreadName
            let gated = state.withLock { s -> Bool in
                s.threadNames.insert(thread)
                s.inFlight += 1
                s.maxInFlight = max(s.maxInFlight, s.inFlight)
                s.started.append(item.sample.id)
                return s.gated && !ungated.contains(item.sample.id)
            }
            if gated {
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if !s.gated { return true }
                        s.waiters.append(waiter)
                        return false
                    }
                    if now { waiter.resume() }
                }
            } else {
                await Task.yield()
            }
            state.withLock { $0.inFlight -= 1 }
            let failed = failing.contains(item.sample.id)
            let run = RunRecord(
                sample: item.sample, target: "bot", status: failed ? .error : .ok, transcript: failed ? [] : [Message(role: .assistant, content: "ok")],
                error: failed ? ErrorInfo(code: "http_500", message: "failed") : nil)
            await emit(ClusterRecord(sampleId: item.sample.id, index: item.index, run: run, evals: []))
        }
    }
}

/// A worker run over a `LaneConnection` with a `LaneProbe`, welcomed and ready for assigns. Its
/// tests are `.timeBound`.
struct LaneWorker {
    let connection: LaneConnection
    let run: Task<ClusterWorker.Exit, Never>

    /// With `threads`, the worker makes its own executor (`Options.threads`); else it runs on the
    /// time-bound tests' thread.
    static func start(probe: LaneProbe, flushDelay: Double = 0.02, handBackQueueAtFirstFailure: Bool? = nil, threads: Int? = nil) async throws -> LaneWorker {
        let connection = LaneConnection()
        // The worker's tasks, like the test's own steps (`.timeBound`), on the time-bound tests'
        // thread (or its own): the rest of the suite cannot hold them back past their 10-second bounds.
        var options = ClusterWorker.Options(workerId: "lanes", flushDelay: flushDelay)
        if let threads {
            options.threads = threads
        } else {
            options.taskExecutor = DedicatedThreadExecutor.timeBoundTests
        }
        let run = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) {
            await ClusterWorker.run(
                connection: connection, registry: BackendRegistry(), factory: { _, _, _ in probe }, options: options)
        }
        guard case .hello = try await connection.nextMessage() else { throw ChatbotTesterError(.proto, "expected hello") }
        connection.deliver(
            .welcome(
                .init(
                    runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), heartbeatSeconds: 600,
                    handBackQueueAtFirstFailure: handBackQueueAtFirstFailure)))
        return LaneWorker(connection: connection, run: run)
    }

    func shutdown() async throws -> ClusterWorker.Exit {
        connection.deliver(.shutdown)
        return try await withTimeout(10) { await run.value }
    }
}

/// An in-memory connection to a worker: the test delivers the coordinator's messages and reads
/// what the worker sends.
final class LaneConnection: ClusterConnection, @unchecked Sendable {
    private struct State {
        var inbox: [Data] = []
        var inboxWaiter: CheckedContinuation<Data?, Never>?
        var outbox: [Data] = []
        var outboxWaiter: CheckedContinuation<Data?, Never>?
        var closed = false
    }

    private let state = Locked(State())
    private let codec = ClusterMessageCodec()
    let peerDescription = "test coordinator"
    var closeReason: String? { nil }

    func receive() async -> Data? {
        await withCheckedContinuation { (waiter: CheckedContinuation<Data?, Never>) in
            let ready = state.withLock { s -> Data?? in
                if !s.inbox.isEmpty { return .some(s.inbox.removeFirst()) }
                if s.closed { return .some(nil) }
                s.inboxWaiter = waiter
                return nil
            }
            if let ready { waiter.resume(returning: ready) }
        }
    }

    func enqueue(_ payloads: [Data]) {
        let handed = state.withLock { s -> (CheckedContinuation<Data?, Never>, Data)? in
            guard !s.closed else { return nil }
            s.outbox += payloads
            guard let waiter = s.outboxWaiter, !s.outbox.isEmpty else { return nil }
            s.outboxWaiter = nil
            return (waiter, s.outbox.removeFirst())
        }
        if let handed { handed.0.resume(returning: handed.1) }
    }

    func waitUntilWritable() async {}

    func close(reason: String?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Data?, Never>] in
            s.closed = true
            defer { s.inboxWaiter = nil }
            return [s.inboxWaiter].compactMap { $0 }
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Hands the worker a message from the coordinator.
    func deliver(_ message: ClusterMessage) {
        guard let payload = try? codec.encode(message) else { return }
        let waiter = state.withLock { s -> CheckedContinuation<Data?, Never>? in
            if let waiter = s.inboxWaiter {
                s.inboxWaiter = nil
                return waiter
            }
            s.inbox.append(payload)
            return nil
        }
        waiter?.resume(returning: payload)
    }

    /// The next frame the worker sent (heartbeats skipped), as the coordinator reads it.
    func next() async throws -> ClusterIncoming {
        try await withTimeout(10) {
            while true {
                let payload = await withCheckedContinuation { (waiter: CheckedContinuation<Data?, Never>) in
                    let ready = self.state.withLock { s -> Data?? in
                        if !s.outbox.isEmpty { return .some(s.outbox.removeFirst()) }
                        s.outboxWaiter = waiter
                        return nil
                    }
                    if let ready { waiter.resume(returning: ready) }
                }
                guard let payload else { throw ChatbotTesterError(.proto, "connection closed") }
                let incoming = try self.codec.decodeIncoming(payload, peer: "worker")
                if incoming == .message(.heartbeat) { continue }
                return incoming
            }
        }
    }

    func nextMessage() async throws -> ClusterMessage {
        guard case .message(let message) = try await next() else { throw ChatbotTesterError(.proto, "expected a message, got records") }
        return message
    }

    /// The sample ids of the next `count` records frames.
    func recordFrames(_ count: Int) async throws -> [[String]] {
        var frames: [[String]] = []
        while frames.count < count {
            guard case .records(let records) = try await next() else { throw ChatbotTesterError(.proto, "expected records") }
            frames.append(records.map(\.sampleId))
        }
        return frames
    }

    /// The sample ids of the next `count` records, whatever frames they came in.
    func records(_ count: Int) async throws -> [String] {
        var ids: [String] = []
        while ids.count < count {
            guard case .records(let records) = try await next() else { throw ChatbotTesterError(.proto, "expected records") }
            ids += records.map(\.sampleId)
        }
        return ids
    }
}
