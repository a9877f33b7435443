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

    static func machine(concurrency: Int, prefetch: Int, samples: Int) -> Machine {
        Machine(
            shards: [(id: 0, members: (0..<samples).map { (index: $0, id: "s\($0)") })], journaled: [],
            welcome: CoordinatorStateMachineTests.welcome,
            configuration: .init(heartbeatInterval: 1, heartbeatTimeout: 5, helloTimeout: 3, concurrency: concurrency, expectedWorkers: 1, stopGrace: 2, prefetch: prefetch))
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
