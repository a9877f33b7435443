import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The coordinator's logic in memory: no sockets, no clock (time is a number we pass in).
@Suite struct CoordinatorStateMachineTests {
    typealias Machine = CoordinatorStateMachine

    /// `shards` shards of `per` samples: ids s0…, indices 0….
    static func machine(shards: Int, per: Int, journaled: Set<String> = []) -> Machine {
        let plan = (0..<shards).map { shard in
            (id: shard, members: (0..<per).map { (index: shard * per + $0, id: "s\(shard * per + $0)") })
        }
        let welcome = ClusterMessage.Welcome(runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), heartbeatSeconds: 1)
        return Machine(shards: plan, journaled: journaled, welcome: welcome, configuration: .init(heartbeatInterval: 1, heartbeatTimeout: 5, helloTimeout: 3))
    }

    static func record(_ index: Int) -> ClusterRecord {
        let sample = TestSample(id: "s\(index)", input: "q\(index)")
        return ClusterRecord(sampleId: sample.id, index: index, run: RunRecord(sample: sample, target: "bot"), evals: [])
    }

    static func assignments(_ actions: [Machine.Action]) -> [(Int, Int, [Int])] {
        actions.compactMap { if case .assign(let c, let shard, _, let indices) = $0 { (c, shard, indices) } else { nil } }
    }

    static func journaled(_ actions: [Machine.Action]) -> [String] {
        actions.flatMap { action -> [String] in if case .journal(let records) = action { records.map(\.sampleId) } else { [] } }
    }

    static func closes(_ actions: [Machine.Action]) -> [(Int, String?)] {
        actions.compactMap { if case .close(let c, let reason) = $0 { (c, reason) } else { nil } }
    }

    /// Joins a worker and returns the actions of its hello.
    static func join(_ machine: inout Machine, _ id: Int, now: Double = 0) -> [Machine.Action] {
        _ = machine.connected(id, now: now)
        return machine.received(.hello(.init(workerId: "w\(id)", pid: id)), from: id, now: now)
    }

    /// Sends records for `indices` then shardDone, as a well-behaved worker would.
    static func complete(_ machine: inout Machine, _ id: Int, shard: Int, indices: [Int], now: Double = 0) -> [Machine.Action] {
        var actions = machine.received(.records(indices.map(record)), from: id, now: now)
        actions += machine.received(.shardDone(.init(shardId: shard, count: indices.count, digest: ClusterDigest.of(sampleIds: indices.map { "s\($0)" }))), from: id, now: now)
        return actions
    }

    @Test func fastWorkersTakeMoreShardsAndTheRunFinishes() {
        var machine = Self.machine(shards: 6, per: 2)
        let first = Self.join(&machine, 1)
        #expect(first.first == .send(1, .welcome(.init(runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), heartbeatSeconds: 1))))
        #expect(Self.assignments(first).map(\.1) == [0])
        #expect(Self.assignments(Self.join(&machine, 2)).map(\.1) == [1])
        // Worker 1 is fast: it finishes shards 0, 2, 3, 4 while worker 2 sits on shard 1.
        var shard = 0
        var taken: [Int] = []
        for _ in 0..<4 {
            let next = Self.assignments(Self.complete(&machine, 1, shard: shard, indices: [shard * 2, shard * 2 + 1]))
            taken.append(shard)
            guard let assignment = next.first else { break }
            shard = assignment.1
        }
        #expect(taken == [0, 2, 3, 4])
        let last = Self.complete(&machine, 1, shard: 5, indices: [10, 11])
        #expect(!last.contains(.finished))
        let done = Self.complete(&machine, 2, shard: 1, indices: [2, 3])
        #expect(done.contains(.finished))
        #expect(done.contains(.send(1, .shutdown)) && done.contains(.send(2, .shutdown)))
        #expect(machine.completedCount == 12 && machine.isComplete)
    }

    @Test func lostWorkerShardIsRequeuedMinusJournaledSamples() {
        var machine = Self.machine(shards: 2, per: 4)
        _ = Self.join(&machine, 1)
        let journaled = Self.journaled(machine.received(.records([Self.record(0), Self.record(1)]), from: 1, now: 1))
        #expect(journaled == ["s0", "s1"])
        // EOF: the rest of shard 0 (s2, s3) goes back to the front of the queue.
        let lost = machine.disconnected(1, reason: nil)
        #expect(lost.contains(.report(.workerLost(workerId: "w1", reason: "connection closed", shardId: 0, requeuedSamples: 2))))
        #expect(machine.queuedShardIds == [0, 1])
        let next = Self.assignments(Self.join(&machine, 2))
        #expect(next.count == 1 && next[0].1 == 0 && next[0].2 == [2, 3])
    }

    @Test func duplicateRecordsAreJournaledOnce() {
        var machine = Self.machine(shards: 1, per: 3)
        _ = Self.join(&machine, 1)
        #expect(Self.journaled(machine.received(.records([Self.record(0)]), from: 1, now: 0)) == ["s0"])
        _ = machine.disconnected(1, reason: "killed")
        _ = Self.join(&machine, 2)
        // The second worker re-runs nothing journaled, but even if it sends s0 again it is dropped.
        let actions = Self.complete(&machine, 2, shard: 0, indices: [0, 1, 2])
        #expect(Self.journaled(actions) == ["s1", "s2"])
        #expect(actions.contains(.finished))
    }

    @Test func outOfOrderAndForeignFramesCloseOnlyThatConnection() {
        var machine = Self.machine(shards: 2, per: 2)
        _ = machine.connected(1, now: 0)
        // Records before hello.
        let early = machine.received(.records([Self.record(0)]), from: 1, now: 0)
        #expect(Self.closes(early).map(\.0) == [1])
        #expect(Self.journaled(early).isEmpty)
        // A worker sending a record of a shard it does not hold.
        _ = Self.join(&machine, 2)
        _ = Self.join(&machine, 3)
        let foreign = machine.received(.records([Self.record(2)]), from: 2, now: 0)
        #expect(Self.closes(foreign).map(\.0) == [2])
        // A wrong digest.
        let lying = machine.received(.shardDone(.init(shardId: 1, count: 5, digest: "x")), from: 3, now: 0)
        #expect(Self.closes(lying).map(\.0) == [3])
        #expect(machine.completedCount == 0)
        // A new worker picks the work up.
        #expect(Self.assignments(Self.join(&machine, 4)).count == 1)
    }

    @Test func recordsWhoseEnvelopeDisagreesWithTheRecordOrTheShardAreRefused() {
        var machine = Self.machine(shards: 1, per: 3)
        _ = Self.join(&machine, 1)
        // The envelope says s1, the result inside is s0's: refused, and the valid record sent in
        // the same frame before it is not journaled either.
        var forged = Self.record(0)
        forged.sampleId = "s1"
        forged.index = 1
        let refused = machine.received(.records([Self.record(2), forged]), from: 1, now: 0)
        #expect(Self.closes(refused).map(\.0) == [1])
        #expect(Self.closes(refused).first?.1?.contains("carries the result of sample 's0'") == true)
        #expect(Self.journaled(refused).isEmpty)
        #expect(machine.completedCount == 0)
        // The right id with the wrong index (it would land at another place in the merge).
        _ = Self.join(&machine, 2)
        var misplaced = Self.record(1)
        misplaced.index = 7
        let wrongIndex = machine.received(.records([misplaced]), from: 2, now: 0)
        #expect(Self.closes(wrongIndex).map(\.0) == [2])
        #expect(Self.closes(wrongIndex).first?.1?.contains("index 7") == true)
        #expect(Self.journaled(wrongIndex).isEmpty)
        // An honest worker then completes the shard with every id once.
        let assigned = Self.assignments(Self.join(&machine, 3))
        #expect(assigned.map(\.2) == [[0, 1, 2]])
        let actions = Self.complete(&machine, 3, shard: 0, indices: [0, 1, 2])
        #expect(Self.journaled(actions) == ["s0", "s1", "s2"])
        #expect(actions.contains(.finished))
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
        #expect(machine.queuedShardIds == [0])
    }

    @Test func resumedRunSkipsJournaledSamplesAndShards() {
        var machine = Self.machine(shards: 3, per: 2, journaled: ["s0", "s1", "s2"])
        #expect(machine.queuedShardIds == [1, 2])
        let first = Self.assignments(Self.join(&machine, 1))
        #expect(first.map(\.1) == [1] && first[0].2 == [3])
        var complete = Self.machine(shards: 1, per: 1, journaled: ["s0"])
        #expect(complete.start() == [.finished])
    }

    @Test func drainStopsAssigningAndShutsWorkersDown() {
        var machine = Self.machine(shards: 3, per: 1)
        _ = Self.join(&machine, 1)
        let drain = machine.drain()
        #expect(drain == [.send(1, .drain)])
        let after = Self.complete(&machine, 1, shard: 0, indices: [0])
        #expect(Self.assignments(after).isEmpty)
        #expect(after.contains(.send(1, .shutdown)))
    }
}
