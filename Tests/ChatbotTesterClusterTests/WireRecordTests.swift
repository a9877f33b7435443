import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Protocol 3's data path: records travel without their sample and get the spool's bytes back at
/// the coordinator, `assign` frames are spliced from shard lines, statistics are summed from what
/// each record says (no decode), and the record-key rule is one type.
@Suite struct WireRecordTests {
    typealias Machine = CoordinatorStateMachine

    @Test func aRecordSentWithoutItsSampleIsJournaledAsTheBytesOfAFullEncode() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        var lines: [String: ClusterSpool.SampleLine] = [:]
        for shard in spool.manifest.shards {
            for line in try spool.sampleLines(ofShard: shard.id) { lines[line.id] = line }
        }
        #expect(lines.count == records.count)
        for record in records {
            let full = try JSONCoding.encoder().encode(record)
            let wire = try record.wireBytes(omittingSample: true)
            #expect(wire.count < full.count)
            let envelope = try ClusterRecordEnvelope(scanning: wire)
            #expect(envelope.sampleOmitted)
            let spliced = envelope.splicingSample(try #require(lines[record.sampleId]).sample)
            // Byte for byte what a full encode gives, and its ranges still cut the same parts.
            #expect(spliced.bytes == full, "\(record.sampleId)")
            let reference = try ClusterRecordEnvelope(scanning: full)
            #expect(spliced.slice(spliced.runRange) == reference.slice(reference.runRange))
            #expect(spliced.evalRanges.map(spliced.slice) == reference.evalRanges.map(reference.slice))
            #expect(!spliced.sampleOmitted)
            // A record sent whole (its sample changed by masking) stays as it is.
            #expect(try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: false)).sampleOmitted == false)
        }
    }

    /// The lean data path's records plus a simulated conversation's (a scenario, a stop reason).
    static func recordsWithASimulatedOne(persona: String = "p") -> (records: [ClusterRecord], simulated: ClusterRecord) {
        var records = LeanDataPathTests.records()
        var simulated = records[2]
        simulated.run.sample.scenario = Scenario(persona: persona, goal: "g")
        simulated.run.stopReason = "goal_reached"
        records.append(simulated)
        return (records, simulated)
    }

    /// A worker writes its records with Core's byte writers: the bytes `JSONEncoder` writes, with
    /// and without the sample, for records of every shape (and records whose sample only the
    /// encoder can write still go the fast way when the sample is left out).
    @Test func theWorkersByteWriterWritesWhatTheEncoderWrites() throws {
        let made = Self.recordsWithASimulatedOne(persona: "p \"q\"")
        var records = made.records
        let simulated = made.simulated
        // The same records with evaluation details the byte writer can write (a details key
        // outside printable ASCII, as in the judge's `é`, is left to the encoder).
        records += records.map { record in
            var record = record
            record.evals = record.evals.map { eval in
                var eval = eval
                if eval.details != nil { eval.details = ["raw": .string("{\"score\": 1}"), "list": [1, 2.5, true, nil]] }
                return eval
            }
            return record
        }
        var fast = 0
        for record in records {
            let full = try JSONCoding.encoder().encode(record)
            let envelope = try ClusterRecordEnvelope(scanning: full)
            var omitted = Data(full[full.startIndex..<(full.startIndex + envelope.sampleRange.lowerBound)])
            omitted.append(contentsOf: Array("null".utf8))
            omitted.append(full[(full.startIndex + envelope.sampleRange.upperBound)...])
            if let bytes = record.fastWireBytes(omittingSample: true) {
                fast += 1
                #expect(Data(bytes) == omitted, "\(record.sampleId)")
            }
            if let bytes = record.fastWireBytes(omittingSample: false) { #expect(Data(bytes) == full, "\(record.sampleId)") }
            #expect(try record.wireBytes(omittingSample: true) == omitted)
            #expect(try record.wireBytes(omittingSample: false) == full)
        }
        // Every record whose evaluations the byte writer vouches for, the simulated one included,
        // went the fast way with its sample left out.
        #expect(fast == records.filter { $0.evals.allSatisfy { FastRecordEncoding.line($0) != nil } }.count)
        #expect(fast > records.count / 2)
        #expect(simulated.fastWireBytes(omittingSample: false) == nil)
    }

    @Test func anAssignSplicedFromShardLinesIsTheFrameTheEncoderWrites() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        let codec = ClusterMessageCodec()
        let lines = try spool.sampleLines(ofShard: spool.manifest.shards[1].id)
        let samples = try spool.samples(ofShard: spool.manifest.shards[1].id)
        for slots in [nil, 3] as [Int?] {
            let spliced = codec.encodeAssign(lines: lines.map(\.line), slots: slots)
            #expect(spliced == (try codec.encode(.assign(.init(samples: samples, slots: slots)))))
            #expect(try codec.decode(spliced, peer: "t") == .assign(.init(samples: samples, slots: slots)))
        }
        let wire = try records.prefix(3).map { try $0.wireBytes(omittingSample: false) }
        #expect(codec.encodeRecords(wire) == (try codec.encode(.records(Array(records.prefix(3))))))
    }

    @Test func statisticsSummedFromScannedRecordsEqualThoseOfDecodedRecords() throws {
        let records = Self.recordsWithASimulatedOne().records
        var decoded = RunStatistics()
        var scanned = ClusterRunTotals()
        for record in records {
            decoded.add(record.run)
            scanned.add(try ClusterRunFacts(scanning: ClusterRecordEnvelope(encoding: record)))
        }
        #expect(scanned.statistics == decoded)
        #expect(scanned.statistics.stopReasons == ["goal_reached": 1])
        #expect(scanned.errorExamples == ["http": "HTTP 500: \"oops\" ✗", "target_down": "HTTP 500: \"oops\" ✗"])
    }

    /// A sample is scanned for its `scenario` only when its bytes may name one: the name written
    /// with an escape still counts, the word in a text does not.
    @Test func aScenarioIsFoundHoweverItsNameIsWritten() throws {
        var record = LeanDataPathTests.records()[0]
        record.run.sample.scenario = Scenario(persona: "p", goal: "g")
        record.run.stopReason = "goal_reached"
        let line = try String(decoding: JSONCoding.encoder().encode(record), as: UTF8.self)
        let escaped = line.replacingOccurrences(of: #""scenario":"#, with: #""scen\u0061rio":"#)
        #expect(escaped != line)
        for text in [line, escaped] {
            let facts = try ClusterRunFacts(scanning: ClusterRecordEnvelope(scanning: Data(text.utf8)))
            #expect(facts.simulated && facts.stopReason == "goal_reached")
        }
        var plain = LeanDataPathTests.records()[0]
        plain.run.sample.input = "scenario \"scenario\": none"
        plain.run.sample.scenario = nil
        #expect(try !ClusterRunFacts(scanning: ClusterRecordEnvelope(encoding: plain)).simulated)
        #expect(ClusterRunFacts.mayContain(Data(#"{"a":"scenario"}"#.utf8), 0..<16, Array(#""scenario""#.utf8)))
        #expect(!ClusterRunFacts.mayContain(Data(#"{"a":"scenari"}"#.utf8), 0..<15, Array(#""scenario""#.utf8)))
    }

    @Test func theRecordKeyRuleKeepsTheFirstSuccessAndLetsASuccessReplaceAnError() {
        var keys = ClusterRecordKeys()
        #expect(keys.admit("a", succeeded: false) == .first)
        #expect(keys.admit("a", succeeded: false) == .duplicate)
        #expect(keys.admit("a", succeeded: true) == .replacesError)
        #expect(keys.admit("a", succeeded: true) == .duplicate)
        #expect(keys.admit("a", succeeded: false) == .duplicate)
        #expect(keys.succeeded("a") == true)
        #expect(keys.admit("b", succeeded: true) == .first)
        #expect(keys.admit("b", succeeded: false) == .duplicate)
        #expect(keys.count == 2)
    }

    @Test func theCoordinatorDedupJournalsASuccessOverAnErrorAndCountsDuplicates() throws {
        // A sample journaled as an error by this session is handed out again only by a resume with
        // --retry-errors; the in-memory rule is the journal index's: shown through a spool whose
        // journal holds error, success, error for one sample.
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        var failed = records[0]
        failed.run.status = .error
        failed.run.error = ErrorInfo(code: "http", message: "boom")
        var lines = Data()
        for record in [failed, records[0], failed] { lines.append(try JSONCoding.encoder().encode(record)); lines.append(0x0A) }
        try lines.write(to: spool.journalURL)
        let index = try spool.journalIndex()
        #expect(index.entries.map(\.succeeded) == [true])
        #expect(index.entries.first?.line == 2)
        let resume = try spool.resumeState(spending: false)
        #expect(resume.totals.statistics.ok == 1 && resume.totals.statistics.error == 0 && resume.keptErrors == 0)
    }

    static func machine(concurrency: Int, prefetch: Int, samples: Int, workers: Int = 1, limits: RunLimits = RunLimits()) -> Machine {
        Machine(
            shards: [(id: 0, members: (0..<samples).map { (index: $0, id: "s\($0)") })], journaled: [],
            welcome: CoordinatorStateMachineTests.welcome, limits: limits,
            configuration: .init(
                heartbeatInterval: 1, heartbeatTimeout: 5, helloTimeout: 3, concurrency: concurrency, expectedWorkers: workers, stopGrace: 2,
                prefetch: prefetch))
    }

    static func releases(_ actions: [Machine.Action]) -> [Int] {
        actions.compactMap { if case .send(let id, .release) = $0 { id } else { nil } }
    }

    /// The tail: once nothing is left to hand out, a worker with a free slot takes what another
    /// queued and has not started (asked back with `release`), handed out at most a share at a
    /// time; before the tail, and once asked, no release goes out.
    @Test func atTheTailAFreeSlotTakesWhatAnotherWorkerQueued() {
        var machine = Self.machine(concurrency: 4, prefetch: 4, samples: 14, workers: 2)
        typealias T = CoordinatorStateMachineTests
        #expect(T.assigned(T.join(&machine, 1)) == [1: Array(0..<6)])
        #expect(T.assigned(T.join(&machine, 2)) == [2: Array(6..<12)])
        // Worker 2 empties while samples are left to hand out: it is topped up, nobody is asked.
        let midRun = T.reply(&machine, 2, [6, 7, 8, 9])
        #expect(T.assigned(midRun) == [2: [12, 13]] && Self.releases(midRun).isEmpty)
        // Now the queue is empty; worker 2 finishes all it holds while worker 1 still queues four.
        let tail = T.reply(&machine, 2, [10, 11, 12, 13])
        #expect(Self.releases(tail) == [1] && T.assigned(tail).isEmpty)
        // Asked once: a record of worker 1 meanwhile asks nothing more.
        #expect(Self.releases(T.reply(&machine, 1, [0])).isEmpty)
        // Worker 1 hands back what it had not started; each worker gets at most its share again,
        // the one holding fewest first, and the rest waits for a free slot.
        let back = machine.received(.released(.init(sampleIds: ["s2", "s3", "s4", "s5"])), from: 1, now: 0)
        #expect(T.assigned(back) == [2: [2, 3], 1: [4]])
        #expect(Self.releases(back).isEmpty)
        #expect(T.assigned(T.reply(&machine, 2, [2])) == [2: [5]])
        _ = T.reply(&machine, 1, [1, 4])
        let done = T.reply(&machine, 2, [3, 5])
        #expect(T.finished(done) == .completed)
        #expect(machine.completedCount == 14 && machine.duplicateCount == 0)
    }

    /// Once what the run may hold could spend the rest of the budget, queues are handed back and no
    /// window is held: a stop then finds only the samples playing, as in one process.
    @Test func aBudgetInReachClosesTheWindowAndTakesQueuesBack() {
        typealias T = CoordinatorStateMachineTests
        var machine = Self.machine(concurrency: 4, prefetch: 4, samples: 40, limits: RunLimits(budgetUSD: 3))
        #expect(T.assigned(T.join(&machine, 1)) == [1: Array(0..<8)])
        // Cheap records: 0.2 spent, 8 × 0.1 more cannot reach 3; half the window is topped up.
        let cheap = machine.received(records: [0, 1].map { T.envelope(T.record($0, cost: 0.1)) }, from: 1, now: 0)
        #expect(T.assigned(cheap) == [1: [8, 9]] && Self.releases(cheap).isEmpty)
        // A costly one: 1.1 spent, 8 × 0.9 more could pass 3. The queue is asked back, nothing is added.
        let costly = machine.received(records: [T.envelope(T.record(2, cost: 0.9))], from: 1, now: 0)
        #expect(Self.releases(costly) == [1] && T.assigned(costly).isEmpty)
        #expect(machine.inFlightCount == 7)
        // What comes back goes out again only as slots free, at most the share (4) held.
        let back = machine.received(.released(.init(sampleIds: ["s8", "s9"])), from: 1, now: 0)
        #expect(T.assigned(back).isEmpty && Self.releases(back).isEmpty && machine.inFlightCount == 5)
        let next = machine.received(records: [3, 4].map { T.envelope(T.record($0, cost: 0.1)) }, from: 1, now: 0)
        #expect(T.assigned(next) == [1: [8]])
        // A failure policy: the window stays open until a failure is seen, then closes.
        var policed = Self.machine(concurrency: 4, prefetch: 4, samples: 40, limits: RunLimits(failurePolicy: FailurePolicy(maxFailures: 5)))
        _ = T.join(&policed, 1)
        let fine = policed.received(records: [0, 1].map { T.envelope(T.record($0)) }, from: 1, now: 0)
        #expect(T.assigned(fine) == [1: [8, 9]] && Self.releases(fine).isEmpty)
        let failed = policed.received(records: [T.envelope(T.record(2, status: .error))], from: 1, now: 0)
        #expect(Self.releases(failed) == [1] && T.assigned(failed).isEmpty)
        // Without limits the same records keep the window open.
        var free = Self.machine(concurrency: 4, prefetch: 4, samples: 40)
        _ = T.join(&free, 1)
        _ = free.received(records: [0, 1].map { T.envelope(T.record($0, cost: 0.1)) }, from: 1, now: 0)
        #expect(Self.releases(free.received(records: [T.envelope(T.record(2, cost: 0.9))], from: 1, now: 0)).isEmpty)
    }

    /// With a failure policy and a window, `welcome` asks workers to hand their queue back at their
    /// first failure; the unasked `released` after the failed record's frame is taken like an asked
    /// one, and what comes back goes out only within the share (the window closed on the failure).
    @Test func aFailurePolicyAsksWorkersToHandTheirQueueBackAtTheirFirstFailure() {
        typealias T = CoordinatorStateMachineTests
        func welcome(_ actions: [Machine.Action]) -> ClusterMessage.Welcome? {
            actions.lazy.compactMap { if case .send(_, .welcome(let welcome)) = $0 { welcome } else { nil } }.first
        }
        var policed = Self.machine(concurrency: 4, prefetch: 4, samples: 40, limits: RunLimits(failurePolicy: FailurePolicy(maxFailures: 5)))
        let joined = T.join(&policed, 1)
        #expect(welcome(joined)?.handBackQueueAtFirstFailure == true)
        #expect(T.assigned(joined) == [1: Array(0..<8)])
        // The worker's first failure, then its queue (4...7) handed back unasked.
        let failed = policed.received(records: [T.envelope(T.record(0, status: .error))], from: 1, now: 0)
        #expect(T.assigned(failed).isEmpty)
        let back = policed.received(.released(.init(sampleIds: ["s4", "s5", "s6", "s7"])), from: 1, now: 0)
        // One slot is free (three play): one sample, the first handed back, and no window on top.
        #expect(T.assigned(back) == [1: [4]])
        #expect(policed.inFlightCount == 4)
        // No policy, or no window: nothing to ask.
        var free = Self.machine(concurrency: 4, prefetch: 4, samples: 40)
        #expect(welcome(T.join(&free, 1))?.handBackQueueAtFirstFailure == nil)
        var windowless = Self.machine(concurrency: 4, prefetch: 0, samples: 40, limits: RunLimits(failurePolicy: FailurePolicy(maxFailures: 5)))
        #expect(welcome(T.join(&windowless, 1))?.handBackQueueAtFirstFailure == nil)
    }

    /// One circuit breaker per backend instance for the whole run: connection failures reported by
    /// two workers count together, the report that reaches the threshold is answered "down" and
    /// the other worker is told; an answered attempt starts the count over; a worker joining later
    /// learns that the backend is down.
    @Test func oneCircuitBreakerCountsEveryWorkersAttempts() {
        typealias T = CoordinatorStateMachineTests
        var machine = Self.machine(concurrency: 4, prefetch: 0, samples: 40, workers: 2)
        _ = T.join(&machine, 1)
        _ = T.join(&machine, 2)
        func failure(_ requestId: Int) -> ClusterMessage {
            .breakerReport(.init(requestId: requestId, backend: "bot", consecutiveFailures: 3, failure: .init(code: "connection_refused", message: "connection refused", peer: "http://127.0.0.1:9/v1")))
        }
        func states(_ actions: [Machine.Action]) -> [(Int, ClusterMessage.BreakerState)] {
            actions.compactMap { if case .send(let id, .breakerState(let state)) = $0 { (id, state) } else { nil } }
        }
        let first = states(machine.received(failure(1), from: 1, now: 0))
        #expect(first.count == 1 && first[0].0 == 1 && first[0].1.requestId == 1 && first[0].1.down == nil)
        // An answered attempt (no answer is sent) starts the count over.
        #expect(states(machine.received(.breakerReport(.init(requestId: nil, backend: "bot", consecutiveFailures: 3, failure: nil)), from: 2, now: 0)).isEmpty)
        _ = machine.received(failure(2), from: 1, now: 0)
        _ = machine.received(failure(1), from: 2, now: 0)
        let opening = states(machine.received(failure(3), from: 1, now: 0))
        let down = ClusterMessage.BreakerState.Down(failures: 3, last: .init(code: "connection_refused", message: "connection refused", peer: "http://127.0.0.1:9/v1"))
        #expect(opening.map(\.0) == [1, 2])
        #expect(opening.first?.1 == .init(requestId: 3, backend: "bot", down: down, opened: true))
        #expect(opening.last?.1 == .init(requestId: nil, backend: "bot", down: down))
        // Open for good: a later failure is answered "down", and opens nothing again.
        let later = states(machine.received(failure(2), from: 2, now: 0))
        #expect(later.count == 1 && later[0].1 == .init(requestId: 2, backend: "bot", down: down))
        // A late worker hears of it with its welcome.
        let late = states(T.join(&machine, 3))
        #expect(late.count == 1 && late[0].0 == 3 && late[0].1.down == down)
        // Another backend has a breaker of its own; names beyond the bound are refused.
        #expect(states(machine.received(.breakerReport(.init(requestId: 9, backend: "judge", consecutiveFailures: 3, failure: .init(code: "dns", message: "no such host"))), from: 1, now: 0)).first?.1.down == nil)
        var flooded = Self.machine(concurrency: 4, prefetch: 0, samples: 40)
        _ = T.join(&flooded, 1)
        for index in 0..<CoordinatorStateMachine.maxBreakers {
            _ = flooded.received(.breakerReport(.init(requestId: nil, backend: "b\(index)", consecutiveFailures: 3, failure: nil)), from: 1, now: 0)
        }
        let refused = flooded.received(.breakerReport(.init(requestId: nil, backend: "one-more", consecutiveFailures: 3, failure: nil)), from: 1, now: 0)
        #expect(T.closes(refused).first?.1?.contains("more than 256 backends") == true)
    }

    @Test func aPrefetchWindowHandsOutBatchesAndTheWorkersShareAsSlots() {
        var machine = Self.machine(concurrency: 4, prefetch: 4, samples: 40)
        let joined = CoordinatorStateMachineTests.join(&machine, 1)
        // Its share (4) and the window (4) at once; it plays 4 at a time.
        #expect(CoordinatorStateMachineTests.assigned(joined) == [1: Array(0..<8)])
        #expect(machine.slots(for: 1) == 4)
        // One record back frees one place: not worth a frame while every slot is busy.
        #expect(CoordinatorStateMachineTests.assigned(CoordinatorStateMachineTests.reply(&machine, 1, [0])).isEmpty)
        // Two back: half the window is free, one frame of two.
        #expect(CoordinatorStateMachineTests.assigned(CoordinatorStateMachineTests.reply(&machine, 1, [1])) == [1: [8, 9]])
        #expect(machine.inFlightCount == 8)
    }

    @Test func aStopAsksWorkersToHandBackWhatTheyHaveNotStarted() {
        var machine = Self.machine(concurrency: 4, prefetch: 4, samples: 40)
        _ = CoordinatorStateMachineTests.join(&machine, 1)
        let stopping = machine.stop(.budgetExceeded)
        #expect(stopping.contains(.send(1, .release)))
        #expect(CoordinatorStateMachineTests.finished(stopping) == nil)
        // The four it had not started come back; the four playing finish; then the run ends.
        let handedBack = machine.received(.released(.init(sampleIds: ["s4", "s5", "s6", "s7"])), from: 1, now: 0)
        #expect(machine.inFlightCount == 4 && CoordinatorStateMachineTests.assigned(handedBack).isEmpty)
        let done = CoordinatorStateMachineTests.reply(&machine, 1, [0, 1, 2, 3])
        #expect(CoordinatorStateMachineTests.finished(done) == .budgetExceeded)
        #expect(machine.completedCount == 4)
        // Handing back a sample it does not hold is a violation.
        var other = Self.machine(concurrency: 4, prefetch: 4, samples: 40)
        _ = CoordinatorStateMachineTests.join(&other, 1)
        #expect(!CoordinatorStateMachineTests.closes(other.received(.released(.init(sampleIds: ["s30"])), from: 1, now: 0)).isEmpty)
    }

    @Test func samplesAbandonedAfterTheGraceAndRecordsRefusedByADownBackendAreCounted() throws {
        var machine = Self.machine(concurrency: 2, prefetch: 0, samples: 10)
        _ = CoordinatorStateMachineTests.join(&machine, 1)
        var down = CoordinatorStateMachineTests.record(0, status: .error)
        down.run.error = ErrorInfo(code: ChatbotTesterError.Code.targetDown.rawValue, message: "down")
        _ = machine.received(records: [try ClusterRecordEnvelope(encoding: down)], from: 1, now: 0)
        #expect(machine.abandonedCount == 1)
        var cancelled = Self.machine(concurrency: 2, prefetch: 0, samples: 10)
        _ = CoordinatorStateMachineTests.join(&cancelled, 1)
        _ = cancelled.stop(.cancelled)
        let late = cancelled.tick(now: 3)
        #expect(CoordinatorStateMachineTests.finished(late) == .cancelled)
        #expect(cancelled.abandonedCount == 2)
    }

    @Test func aWorkerPlaysItsSlotsAndHandsBackItsQueueOnRelease() {
        var machine = WorkerStateMachine(hello: .init(workerId: "w", pid: 1))
        _ = machine.start()
        let welcome = CoordinatorStateMachineTests.welcome
        _ = machine.received(.welcome(welcome))
        let samples = (0..<3).map { IndexedSample(index: $0, sample: TestSample(id: "s\($0)", input: "q")) }
        #expect(machine.received(.assign(.init(samples: samples, slots: 1))) == [.process(.init(samples: samples, slots: 1))])
        #expect(machine.received(.release) == [.release])
        #expect(machine.released(["s1", "s2"]) == [.send(.released(.init(sampleIds: ["s1", "s2"])))])
        #expect(machine.heldCount == 1)
        #expect(machine.produced(sampleIds: ["s0"], records: [Data("{}".utf8)]) == [.sendRecords([Data("{}".utf8)])])
        #expect(machine.heldCount == 0)
    }
}

/// A journal line decoded by the byte parser (`ClusterRecord.decode(journalLine:)`, what a resume
/// the other way and the spool's merged records read) is the record `JSONDecoder` decodes, and
/// a line the reference refuses is refused with the reference's error.
@Suite struct JournalLineDecodingTests {
    @Test func theByteParserDecodesWhatTheReferenceDecodes() throws {
        var lines = try LeanDataPathTests.records().map { try JSONCoding.encoder().encode($0) }
        // Another key order, spaces, and escapes the writers never produce: still the same record.
        lines.append(Data(#"{ "sampleId" : "s\u0031", "index" : 7, "evals" : [], "run" : "#.utf8) + (try lines[0].sliceOfMember("run")) + Data("}".utf8))
        for line in lines {
            let reference = try JSONCoding.decoder().decode(ClusterRecord.self, from: line)
            #expect(try ClusterRecord.decode(journalLine: line) == reference)
            // A slice of a larger buffer (a line read from a window) decodes the same.
            let padded = Data("xx".utf8) + line + Data("yy".utf8)
            #expect(try ClusterRecord.decode(journalLine: padded[2..<(2 + line.count)]) == reference)
        }
    }

    /// Lines off the writers' shape: the byte parser gives them to the reference, so each ends as
    /// the reference ends it — the same record, or the same error.
    @Test func linesOffTheWritersShapeEndAsTheReferenceEndsThem() throws {
        let line = try JSONCoding.encoder().encode(LeanDataPathTests.records()[0])
        let text = String(decoding: line, as: UTF8.self)
        let variants = [
            text.replacingOccurrences(of: #""index":"#, with: #""extra":1,"index":"#),  // an unknown member
            text.replacingOccurrences(of: #""sampleId":"#, with: #""sampleId":"a","sampleId":"#),  // a repeated one
            text.replacingOccurrences(of: #""index":0,"#, with: ""),  // a missing one
            String(text.dropLast()),  // torn
            text.replacingOccurrences(of: #""index":0"#, with: #""index":"0""#),  // a string for a number
            text.replacingOccurrences(of: #""status":"ok""#, with: #""status":"fine""#),  // a value out of its set
        ]
        var refused = 0
        for variant in variants {
            #expect(variant != text)
            let data = Data(variant.utf8)
            let reference = Result { try JSONCoding.decoder().decode(ClusterRecord.self, from: data) }
            let fast = Result { try ClusterRecord.decode(journalLine: data) }
            switch (reference, fast) {
            case (.success(let expected), .success(let got)): #expect(got == expected, "\(variant)")
            case (.failure(let expected), .failure(let got)): #expect("\(got)" == "\(expected)", "\(variant)")
            default: Issue.record("\(variant): the reference gave \(reference), the byte parser \(fast)")
            }
            if case .failure = reference { refused += 1 }
        }
        #expect(refused >= 4)
    }
}

extension Data {
    /// The bytes of the top-level member `name`'s value.
    fileprivate func sliceOfMember(_ name: String) throws -> Data {
        let range = try #require(try JSONByteScanner.members(ofObject: self).first(where: { $0.name == name })?.value)
        return self[(startIndex + range.lowerBound)..<(startIndex + range.upperBound)]
    }
}
