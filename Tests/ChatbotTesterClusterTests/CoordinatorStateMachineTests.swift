import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The coordinator's logic in memory: no sockets, no clock (time is a number we pass in).
@Suite struct CoordinatorStateMachineTests {
    typealias Machine = CoordinatorStateMachine

    /// `shards` shards of `per` samples: ids s0…, indices 0….
    static func machine(
        shards: Int, per: Int, journaled: Set<String> = [], concurrency: Int = 2, expectedWorkers: Int = 0, limits: RunLimits = RunLimits()
    ) -> Machine {
        let plan = (0..<shards).map { shard in
            (id: shard, members: (0..<per).map { (index: shard * per + $0, id: "s\(shard * per + $0)") })
        }
        return Machine(
            shards: plan, journaled: journaled, welcome: welcome, limits: limits,
            configuration: .init(heartbeatInterval: 1, heartbeatTimeout: 5, helloTimeout: 3, concurrency: concurrency, expectedWorkers: expectedWorkers, stopGrace: 2))
    }

    static let welcome = ClusterMessage.Welcome(runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), heartbeatSeconds: 1)

    static func record(_ index: Int, status: RunRecord.Status = .ok, cost: Double? = nil) -> ClusterRecord {
        let sample = TestSample(id: "s\(index)", input: "q\(index)")
        var run = RunRecord(sample: sample, target: "bot")
        run.status = status
        run.costUSD = cost
        return ClusterRecord(sampleId: sample.id, index: index, run: run, evals: [])
    }

    /// connection → indices handed out by `actions`.
    static func assigned(_ actions: [Machine.Action]) -> [Int: [Int]] {
        var out: [Int: [Int]] = [:]
        for action in actions {
            if case .assign(let c, let refs) = action { out[c, default: []] += refs.map(\.index) }
        }
        return out
    }

    static func journaled(_ actions: [Machine.Action]) -> [String] {
        actions.flatMap { action -> [String] in if case .journal(let records) = action { records.map(\.sampleId) } else { [] } }
    }

    static func closes(_ actions: [Machine.Action]) -> [(Int, String?)] {
        actions.compactMap { if case .close(let c, let reason) = $0 { (c, reason) } else { nil } }
    }

    static func finished(_ actions: [Machine.Action]) -> RunStopReason? {
        actions.lazy.compactMap { if case .finished(let reason) = $0 { reason } else { nil } }.first
    }

    /// Joins a worker and returns the actions of its hello.
    static func join(_ machine: inout Machine, _ id: Int, now: Double = 0) -> [Machine.Action] {
        _ = machine.connected(id, now: now)
        return machine.received(.hello(.init(workerId: "w\(id)", pid: id)), from: id, now: now)
    }

    /// Returns records for `indices` from worker `id`, as the coordinator's shell reads them
    /// (envelopes over the worker's bytes).
    static func reply(_ machine: inout Machine, _ id: Int, _ indices: [Int], now: Double = 0) -> [Machine.Action] {
        machine.received(records: indices.map { envelope(record($0)) }, from: id, now: now)
    }

    static func envelope(_ record: ClusterRecord) -> ClusterRecordEnvelope {
        // A record built in the test always encodes.
        try! ClusterRecordEnvelope(encoding: record)
    }

    /// Shards whose members are not contiguous (a listed plan) and manifest shards (contiguous
    /// from `firstIndex`, their id lists shared with the manifest) hand out the same samples, in
    /// order, with their ids; journaled ones are skipped either way.
    @Test func listedAndManifestShardsHandOutTheirMembersInOrder() {
        let configuration = Machine.Configuration(heartbeatInterval: 1, heartbeatTimeout: 5, helloTimeout: 3, concurrency: 8, stopGrace: 2)
        var listed = Machine(
            shards: [(id: 0, members: [(5, "s5"), (2, "s2"), (9, "s9")]), (id: 1, members: [(3, "s3")])], journaled: ["s2"],
            welcome: Self.welcome, configuration: configuration)
        let hello = Self.join(&listed, 1)
        let refs = hello.flatMap { action -> [Machine.SampleRef] in if case .assign(_, let refs) = action { refs } else { [] } }
        #expect(refs.map(\.index) == [5, 9, 3] && refs.map(\.id) == ["s5", "s9", "s3"] && refs.map(\.shardId) == [0, 0, 1])
        #expect(listed.totalCount == 4 && listed.completedCount == 1)
        #expect(Self.finished(Self.reply(&listed, 1, [5, 9, 3])) == .completed)

        let manifest = ClusterManifest(
            runId: "r", sampleCount: 5, setupDigest: "", setupSHA256: "",
            shards: [
                ClusterManifest.Shard(id: 0, file: "a", count: 3, bytes: 1, sha256: "", firstIndex: 0, sampleIds: ["s0", "s1", "s2"]),
                ClusterManifest.Shard(id: 1, file: "b", count: 2, bytes: 1, sha256: "", firstIndex: 3, sampleIds: ["s3", "s4"]),
            ])
        var fromManifest = Machine(
            manifest: manifest, journaled: ["s1", "s3"], setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), configuration: configuration)
        let handed = Self.join(&fromManifest, 1).flatMap { action -> [Machine.SampleRef] in if case .assign(_, let refs) = action { refs } else { [] } }
        #expect(handed.map(\.index) == [0, 2, 4] && handed.map(\.id) == ["s0", "s2", "s4"])
        #expect(Self.finished(Self.reply(&fromManifest, 1, [0, 2, 4])) == .completed)

        // A spool being written: manifest shards arrive as they are committed.
        var streamed = Machine(shards: [], journaled: [], welcome: Self.welcome, configuration: configuration, spoolComplete: false)
        _ = Self.join(&streamed, 1)
        let first = streamed.spooled(manifestShards: [manifest.shards[1]], complete: true)
        #expect(Self.assigned(first) == [1: [3, 4]])
        #expect(Self.finished(Self.reply(&streamed, 1, [3, 4])) == .completed)
    }

    /// A spool still being written: workers are welcomed before any shard exists, each shard's
    /// samples go out as it is added, and the run completes only once the spool is complete.
    @Test func shardsOfASpoolBeingWrittenAreHandedOutAsTheyComeAndTheRunWaitsForTheLast() {
        var machine = Machine(
            shards: [], journaled: [], welcome: Self.welcome,
            configuration: .init(heartbeatInterval: 1, heartbeatTimeout: 5, helloTimeout: 3, concurrency: 4, stopGrace: 2), spoolComplete: false)
        #expect(machine.start().isEmpty && !machine.isComplete && !machine.isSpoolComplete)
        let hello = Self.join(&machine, 1)
        #expect(hello.first == .send(1, .welcome(Self.welcome)) && Self.assigned(hello).isEmpty)
        let first = machine.spooled([(id: 0, members: [(0, "s0"), (1, "s1")])], complete: false)
        #expect(Self.assigned(first) == [1: [0, 1]] && machine.totalCount == 2)
        // Every sample known so far is recorded, but the spool is not complete: the run goes on.
        let replied = Self.reply(&machine, 1, [0, 1])
        #expect(Self.journaled(replied) == ["s0", "s1"] && Self.finished(replied) == nil && !machine.isComplete)
        let second = machine.spooled([(id: 1, members: [(2, "s2")])], complete: false)
        #expect(Self.assigned(second) == [1: [2]] && machine.totalCount == 3)
        #expect(Self.finished(Self.reply(&machine, 1, [2])) == nil)
        // The last shard is empty-handed (the spool ends on a full shard): completing ends the run.
        let done = machine.spooled([], complete: true)
        #expect(Self.finished(done) == .completed && machine.isComplete && machine.completedCount == 3)
    }

    @Test func concurrencyIsTheWholeRunsBoundSplitAcrossWorkers() {
        var machine = Self.machine(shards: 3, per: 4, concurrency: 3, expectedWorkers: 2)
        let first = Self.join(&machine, 1)
        #expect(first.first == .send(1, .welcome(Self.welcome)))
        // Two workers expected: the first takes its share (2 of 3), not every slot.
        #expect(Self.assigned(first) == [1: [0, 1]])
        #expect(Self.assigned(Self.join(&machine, 2)) == [2: [2]])
        #expect(machine.inFlightCount == 3)
        // A third worker finds no free slot: the bound holds for the whole run.
        #expect(Self.assigned(Self.join(&machine, 3)).isEmpty)
        #expect(machine.inFlightCount == 3)
    }

    @Test func eachRecordReturnsASlotSoASlowCaseHoldsOnlyItsOwn() {
        var machine = Self.machine(shards: 2, per: 4, concurrency: 2)
        #expect(Self.assigned(Self.join(&machine, 1)) == [1: [0, 1]])
        // Sample 0 is slow; sample 1's record frees one slot, filled at once, and so on.
        var next = Self.assigned(Self.reply(&machine, 1, [1]))
        #expect(next == [1: [2]])
        next = Self.assigned(Self.reply(&machine, 1, [2]))
        #expect(next == [1: [3]])
        next = Self.assigned(Self.reply(&machine, 1, [3]))
        #expect(next == [1: [4]])
        #expect(machine.completedCount == 3 && machine.inFlightCount == 2)
        // What the run counted, by dataset index (the summary's merge checks the journal's lines
        // against it): 1–3, not the slow 0 nor 4 in flight.
        #expect(machine.recordedRanges == [1..<4])
        _ = Self.reply(&machine, 1, [4])
        #expect(machine.recordedRanges == [1..<5])
        _ = Self.reply(&machine, 1, [0])
        #expect(machine.recordedRanges == [0..<5])
    }

    /// Indexes recorded with gaps between them come out as one range per run of them, the last one
    /// included.
    @Test func theRecordedIndexesAreOneRangePerRunOfThem() {
        var machine = Self.machine(shards: 2, per: 4, concurrency: 8)
        #expect(machine.recordedRanges.isEmpty)
        _ = Self.join(&machine, 1)
        _ = Self.reply(&machine, 1, [0, 2, 3, 7])
        #expect(machine.recordedRanges == [0..<1, 2..<4, 7..<8])
    }

    @Test func theRunFinishesWhenEverySampleIsJournaled() {
        var machine = Self.machine(shards: 2, per: 2, concurrency: 4)
        #expect(Self.assigned(Self.join(&machine, 1)) == [1: [0, 1, 2, 3]])
        let done = Self.reply(&machine, 1, [3, 1, 0, 2])
        #expect(Self.journaled(done) == ["s3", "s1", "s0", "s2"])
        #expect(Self.finished(done) == .completed)
        #expect(done.contains(.send(1, .shutdown)))
        #expect(machine.isComplete)
    }

    @Test func lostWorkersSamplesGoBackToTheFrontOfTheQueue() {
        var machine = Self.machine(shards: 2, per: 4, concurrency: 3)
        #expect(Self.assigned(Self.join(&machine, 1)) == [1: [0, 1, 2]])
        #expect(Self.journaled(Self.reply(&machine, 1, [1])) == ["s1"])
        // EOF while holding s0, s2, s3.
        let lost = machine.disconnected(1, reason: nil)
        #expect(lost.contains(.report(.workerLost(workerId: "w1", reason: "connection closed", requeuedSamples: 3))))
        #expect(machine.inFlightCount == 0)
        #expect(Self.assigned(Self.join(&machine, 2)) == [2: [0, 2, 3]])
    }

    @Test func forgedOrMismatchedRecordsCloseOnlyThatConnection() {
        var machine = Self.machine(shards: 2, per: 2, concurrency: 2, expectedWorkers: 2)
        _ = machine.connected(1, now: 0)
        // Records before hello.
        let early = machine.received(.records([Self.record(0)]), from: 1, now: 0)
        #expect(Self.closes(early).map(\.0) == [1])
        #expect(Self.journaled(early).isEmpty)
        #expect(Self.assigned(Self.join(&machine, 2)) == [2: [0]])
        #expect(Self.assigned(Self.join(&machine, 3)) == [3: [1]])
        // Worker 2 sends a record of a sample it was not given.
        let foreign = Self.reply(&machine, 2, [1])
        #expect(Self.closes(foreign).map(\.0) == [2])
        #expect(Self.journaled(foreign).isEmpty)
        // Worker 3 sends its sample under the wrong index…
        var wrongIndex = Self.record(1)
        wrongIndex.index = 7
        #expect(Self.closes(machine.received(.records([wrongIndex]), from: 3, now: 0)).map(\.0) == [3])
        // …and a new worker sends an envelope whose id differs from its record's.
        // (The latest lost worker's samples are at the front of the queue.)
        #expect(Self.assigned(Self.join(&machine, 4)) == [4: [1]])
        var forged = Self.record(1)
        forged.run = Self.record(0).run
        let lying = machine.received(.records([forged]), from: 4, now: 0)
        #expect(Self.closes(lying).map(\.0) == [4])
        #expect(machine.completedCount == 0)
        // The samples go to whoever comes next.
        #expect(Self.assigned(Self.join(&machine, 5)) == [5: [1]])
    }

    @Test func aRecordReturnedTwiceIsJournaledOnce() {
        var machine = Self.machine(shards: 1, per: 3, concurrency: 1)
        _ = Self.join(&machine, 1)
        #expect(Self.journaled(Self.reply(&machine, 1, [0])) == ["s0"])
        // s0 is no longer held by worker 1: sending it again is a violation, not a second record.
        let again = Self.reply(&machine, 1, [0])
        #expect(Self.journaled(again).isEmpty)
        #expect(Self.closes(again).map(\.0) == [1])
        #expect(machine.completedCount == 1)
    }

    /// A frame whose middle record is set aside (its backend was down: the sample waits for a
    /// resume) journals the records before and after it, and only those.
    @Test func aRecordSetAsideMidFrameLeavesTheOthersJournaled() {
        var machine = Self.machine(shards: 1, per: 4, concurrency: 4)
        _ = Self.join(&machine, 1)
        var down = Self.record(1, status: .error)
        down.run.error = ErrorInfo(code: ChatbotTesterError.Code.targetDown.rawValue, message: "bot is down")
        let actions = machine.received(records: [Self.envelope(Self.record(0)), Self.envelope(down), Self.envelope(Self.record(2))], from: 1, now: 0)
        #expect(Self.journaled(actions) == ["s0", "s2"])
        #expect(machine.completedCount == 2)
        // A frame where nothing is set aside journals all of it.
        #expect(Self.journaled(Self.reply(&machine, 1, [3])) == ["s3"])
    }

    @Test func silentWorkersAreLostOnTicks() {
        var machine = Self.machine(shards: 1, per: 2)
        _ = Self.join(&machine, 1, now: 0)
        _ = machine.connected(2, now: 0)
        #expect(Self.closes(machine.tick(now: 2)).isEmpty)
        _ = machine.received(.heartbeat, from: 1, now: 4)
        let later = machine.tick(now: 4)
        #expect(Self.closes(later).map(\.0) == [2])  // no hello within 3 s
        #expect(later.contains(.send(1, .heartbeat)))
        let lost = machine.tick(now: 9.5)
        #expect(Self.closes(lost).map(\.0) == [1])  // silent for 5.5 s
        #expect(machine.inFlightCount == 0)
    }

    @Test func aResumedRunSkipsJournaledSamples() {
        var machine = Self.machine(shards: 3, per: 2, journaled: ["s0", "s1", "s2"], concurrency: 8)
        #expect(Self.assigned(Self.join(&machine, 1)) == [1: [3, 4, 5]])
        var complete = Self.machine(shards: 1, per: 1, journaled: ["s0"])
        #expect(complete.start() == [.finished(.completed)])
    }

    @Test func theBudgetStopsStartingSamplesAndLetsInFlightOnesFinish() {
        var machine = Self.machine(shards: 2, per: 4, concurrency: 2, limits: RunLimits(budgetUSD: 1.0))
        _ = Self.join(&machine, 1)
        let spent = machine.received(.records([Self.record(0, cost: 0.6), Self.record(1, cost: 0.5)]), from: 1, now: 0)
        // Both records are journaled; spending 1.1 stops the run, nothing more is handed out.
        #expect(Self.journaled(spent) == ["s0", "s1"])
        #expect(spent.contains(.report(.stopping(reason: "budgetExceeded", inFlight: 0))))
        #expect(Self.finished(spent) == .budgetExceeded)
        #expect(Self.assigned(spent).isEmpty)
        // A resume that already spent the budget starts nothing.
        var resumed = Self.machine(shards: 2, per: 4, journaled: ["s0", "s1"], limits: RunLimits(budgetUSD: 1.0, spentUSD: 1.1))
        #expect(Self.finished(resumed.start()) == .budgetExceeded)
    }

    @Test func theFailurePolicyCountsTheWholeRun() {
        var machine = Self.machine(shards: 2, per: 4, concurrency: 4, expectedWorkers: 2, limits: RunLimits(failurePolicy: FailurePolicy(maxFailures: 2)))
        #expect(Self.assigned(Self.join(&machine, 1)) == [1: [0, 1]])
        #expect(Self.assigned(Self.join(&machine, 2)) == [2: [2, 3]])
        // One failure on each worker: two in the run stop it; the other samples in flight finish.
        var actions = machine.received(.records([Self.record(0, status: .error)]), from: 1, now: 0)
        #expect(Self.finished(actions) == nil)
        #expect(Self.assigned(actions) == [1: [4]])
        actions = machine.received(.records([Self.record(2, status: .error)]), from: 2, now: 0)
        #expect(actions.contains(.report(.stopping(reason: "failurePolicy", inFlight: 3))))
        #expect(Self.assigned(actions).isEmpty && Self.finished(actions) == nil)
        _ = Self.reply(&machine, 1, [1, 4])
        let last = Self.reply(&machine, 2, [3])
        #expect(Self.finished(last) == .failurePolicy)
        #expect(machine.completedCount == 5)
    }

    @Test func anInterruptWaitsForSamplesInFlightThenAbandonsThemAfterTheGrace() {
        var machine = Self.machine(shards: 1, per: 4, concurrency: 2)
        _ = Self.join(&machine, 1, now: 0)
        let stop = machine.stop(.cancelled)
        #expect(stop == [.report(.stopping(reason: "cancelled", inFlight: 2))])
        let one = Self.reply(&machine, 1, [0], now: 1)
        #expect(Self.journaled(one) == ["s0"] && Self.assigned(one).isEmpty && Self.finished(one) == nil)
        _ = machine.received(.heartbeat, from: 1, now: 1.5)
        #expect(Self.finished(machine.tick(now: 1.5)) == nil)
        let late = machine.tick(now: 2.5)
        #expect(late.contains(.report(.abandoned(samples: 1))))
        #expect(Self.finished(late) == .cancelled)
        #expect(late.contains(.send(1, .shutdown)))
    }
}
