import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Protocol 6: `records` frames with a binary head per record, read by the coordinator without
/// walking the JSON; each record's bytes checked in one pass (`ClusterJSONLine`) and refused —
/// naming the peer and the record — when the head, the JSON or the part is not what it must be.
@Suite struct ProtocolSixTests {
    static let codec = ClusterMessageCodec()

    /// What a strict reader of a JSONL file accepts as one line holding an object: the checked
    /// scanner accepts it, the strict syntax check finds no trailing comma, byte-order mark or
    /// depth beyond its bound, it is an object, and no line break is in it. Nil when the only fault
    /// the strict check finds is a duplicate key (which `ClusterJSONLine` does not look for).
    static func strictLine(_ bytes: Data) -> Bool? {
        guard (try? JSONByteScanner.validate(bytes)) != nil else { return false }
        do {
            try StrictJSONSyntax.check(bytes)
        } catch let error as ChatbotTesterError {
            return error.message.contains("duplicate key") ? nil : false
        } catch {
            return false
        }
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 }), first == UInt8(ascii: "{") else { return false }
        return !bytes.contains(0x0A) && !bytes.contains(0x0D)
    }

    /// Whether the workers'-shape reader reads `bytes` (it must then also pass the line check).
    static func readsFast(_ bytes: Data) -> Bool {
        bytes.withUnsafeBytes { raw in
            var cursor = JSONLineCursor(bytes: raw.bindMemory(to: UInt8.self), at: 0, end: raw.count)
            return cursor.record() != nil
        }
    }

    /// Every one-byte change (each byte replaced by a few dozen others, or deleted) of a success, a
    /// failure and a record with escapes in its id (with and without their samples): the line check accepts exactly what the strict
    /// reader accepts, and the workers'-shape reader reads nothing the line check refuses.
    @Test(.cpuBound) func theLineCheckAcceptsWhatAStrictReaderAcceptsOnEveryOneByteChange() async throws {
        let records = LeanDataPathTests.records()
        let replacements: [UInt8] = Array(#"{}[]",:\0 1-.eu"#.utf8) + [0x0A, 0x00, 0x80, 0xED, 0xF4, 0xFF]
        var accepted = 0, refused = 0, fast = 0
        for (record, omitting) in [(records[0], true), (records[3], false), (records[5], true)] {
            do {
                let original = try record.wireBytes(omittingSample: omitting)
                #expect(ClusterJSONLine.isObject(original) && Self.readsFast(original))
                for variant in ByteMutations.oneByteChanges(of: Array(original), replacing: replacements).map({ Data($0) }) {
                    let line = ClusterJSONLine.isObject(variant)
                    if let expected = Self.strictLine(variant) {
                        #expect(line == expected, "\(String(decoding: variant, as: UTF8.self))")
                    }
                    if line { accepted += 1 } else { refused += 1 }
                    if Self.readsFast(variant) {
                        fast += 1
                        #expect(line, "\(String(decoding: variant, as: UTF8.self))")
                    }
                }
            }
        }
        #expect(accepted > 1000 && refused > 1000 && fast > 1000, "\(accepted) accepted, \(refused) refused, \(fast) read fast")
    }

    /// A protocol-6 frame reads into the envelopes the JSON path gives (the same bytes, fields and
    /// ranges), each with its part; the statistics read from them are those of a full scan, and a
    /// record sent without its sample is journaled as the bytes of a full encode.
    @Test func aProtocolSixFrameReadsAsTheJSONFrameDoes() throws {
        let records = try LeanDataPathTests.records().map { try ReportPartTests.withPart($0) }
        for omitting in [true, false] {
            let frame = Self.codec.encodeRecordsFrame(try records.map { try $0.recordsFrameUnit(omittingSample: omitting) })
            guard case .records(let read) = try Self.codec.decodeIncoming(frame, peer: "w") else {
                Issue.record("not read as records")
                return
            }
            #expect(read.count == records.count)
            for (record, lean) in zip(records, read) {
                let reference = try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: omitting))
                #expect(lean.bytes == reference.bytes)
                #expect(lean.sampleId == reference.sampleId && lean.runSampleId == reference.runSampleId && lean.index == reference.index)
                #expect(lean.status == reference.status && lean.errorCode == reference.errorCode)
                #expect(lean.costUSD?.bitPattern == reference.costUSD?.bitPattern)
                #expect(lean.sampleOmitted == omitting)
                #expect(lean.slice(lean.runRange) == reference.slice(reference.runRange))
                #expect(lean.slice(lean.evalsRange) == reference.slice(reference.evalsRange))
                #expect(lean.slice(lean.sampleRange) == reference.slice(reference.sampleRange))
                #expect(lean.reportPart == record.reportPart)
                // Facts from the part, and from a scan of the run when the part is gone.
                var bare = lean
                bare.reportPart = nil
                #expect(try ClusterRunFacts(scanning: lean) == ClusterRunFacts(scanning: reference))
                #expect(try ClusterRunFacts(scanning: bare) == ClusterRunFacts(scanning: reference))
                if omitting {
                    let sample = try JSONCoding.encoder().encode(record.run.sample)
                    #expect(lean.splicingSample(sample).bytes == (try JSONCoding.encoder().encode(ClusterRecord(
                        sampleId: record.sampleId, index: record.index, run: record.run, evals: record.evals))))
                }
            }
        }
    }

    /// The field a frame is refused for, and the message (nil: accepted); the error names the peer.
    static func refusal(_ frame: Data) -> (field: String, message: String)? {
        ReportPartTests.refusal(frame)
    }

    static func unit(index: UInt32, json: Data, part: Data = Data()) -> Data {
        var out = Data()
        for value in [index, UInt32(json.count), UInt32(part.count)] { ByteCoding.append(value, to: &out) }
        return out + json + part
    }

    /// Forged or malformed heads, records and parts are refused, naming the peer and the record;
    /// no cut of a good frame is read.
    @Test func forgedOrMalformedRecordsAreRefusedNamingThePeerAndTheRecord() throws {
        let records = try LeanDataPathTests.records().map { try ReportPartTests.withPart($0) }
        let good = try records[0].recordsFrameUnit(omittingSample: true)
        let json = try records[0].wireBytes(omittingSample: true)
        #expect(Self.refusal(Self.codec.encodeRecordsFrame([good])) == nil)
        // The head gives another index than the record's JSON.
        let moved = try #require(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 7, json: json)])))
        #expect(moved.field == "records[0].index" && moved.message.contains("7"), "\(moved)")
        // Lengths past the frame's end.
        var long = good
        long[4] = 0xFF
        long[7] = 0x7F
        #expect(Self.refusal(Self.codec.encodeRecordsFrame([long]))?.field == "records[0]")
        var longPart = good
        longPart[11] = 0x7F
        #expect(Self.refusal(Self.codec.encodeRecordsFrame([good, longPart]))?.field == "records[1]")
        // Another record's part.
        let otherPart = try #require(records[1].reportPart)
        let foreign = try #require(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 0, json: json, part: otherPart)])))
        #expect(foreign.field == "records[0].part" && foreign.message.contains("'case-1'"), "\(foreign)")
        // Not an object; not shaped like a record; a raw line break; a trailing comma; empty.
        #expect(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 0, json: Data("[1]".utf8))]))?.field.hasPrefix("records[0]") == true)
        let shape = try #require(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 0, json: Data(#"{"index":0}"#.utf8))])))
        #expect(shape.field.hasPrefix("records[0]."), "\(shape)")
        var broken = json
        broken.insert(0x0A, at: broken.startIndex + 1)
        let newline = try #require(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 0, json: broken)])))
        #expect(newline.field == "records[0]" && newline.message.contains("one line"), "\(newline)")
        let text = String(decoding: json, as: UTF8.self)
        let trailing = Data(text.replacingOccurrences(of: #"],"index""#, with: #",],"index""#).utf8)
        #expect(trailing != json)
        #expect(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 0, json: trailing)]))?.field.hasPrefix("records[0]") == true)
        #expect(Self.refusal(Self.codec.encodeRecordsFrame([Self.unit(index: 0, json: Data())])) != nil)
        // More or fewer records than the count; bytes after the last.
        var frame = Self.codec.encodeRecordsFrame([good, good])
        frame[2] = 3
        #expect(Self.refusal(frame) != nil)
        frame[2] = 1
        #expect(Self.refusal(frame)?.field == "records")
        frame[2] = 0xFF
        frame[5] = 0xFF
        #expect(Self.refusal(frame)?.field == "records")
        // Every cut of a good frame of two records.
        let whole = Self.codec.encodeRecordsFrame([good, try records[1].recordsFrameUnit(omittingSample: false)])
        #expect(Self.refusal(whole) == nil)
        for length in 0..<whole.count {
            #expect(Self.refusal(whole.prefix(length)) != nil, "cut at \(length)")
        }
    }

    /// A record of a sample the worker was not given, at another index than it was given, or
    /// whose run is another sample's, read from protocol-6 frames: only that connection closes.
    @Test func recordsNotAssignedOrAtAnotherIndexCloseOnlyThatConnection() throws {
        typealias Tests = CoordinatorStateMachineTests
        var machine = Tests.machine(shards: 2, per: 2, concurrency: 2, expectedWorkers: 2)
        #expect(Tests.assigned(Tests.join(&machine, 2)) == [2: [0]])
        #expect(Tests.assigned(Tests.join(&machine, 3)) == [3: [1]])
        func read(_ records: [ClusterRecord]) throws -> [ClusterRecordEnvelope] {
            guard case .records(let envelopes) = try Self.codec.decodeIncoming(
                Self.codec.encodeRecordsFrame(try records.map { try $0.recordsFrameUnit(omittingSample: true) }), peer: "w")
            else { return [] }
            return envelopes
        }
        // Worker 2 sends the record of sample 1, which worker 3 holds.
        let foreign = machine.received(records: try read([Tests.record(1)]), from: 2, now: 0)
        #expect(Tests.closes(foreign).map(\.0) == [2] && Tests.journaled(foreign).isEmpty)
        // Worker 3 sends its sample at another index.
        var moved = Tests.record(1)
        moved.index = 3
        let wrong = machine.received(records: try read([moved]), from: 3, now: 0)
        #expect(Tests.closes(wrong).map(\.0) == [3])
        #expect(Tests.closes(wrong).first?.1?.contains("says index 3, it was given as 1") == true, "\(Tests.closes(wrong))")
        // A new worker sends its sample's record holding another sample's run.
        #expect(Tests.assigned(Tests.join(&machine, 4)) == [4: [1]])
        var forged = Tests.record(1)
        forged.run = Tests.record(0).run
        let lying = machine.received(records: try read([forged]), from: 4, now: 0)
        #expect(Tests.closes(lying).map(\.0) == [4] && machine.completedCount == 0)
        // Its own record is journaled.
        #expect(Tests.assigned(Tests.join(&machine, 5)) == [5: [1]])
        #expect(Tests.journaled(machine.received(records: try read([Tests.record(1)]), from: 5, now: 0)) == ["s1"])
    }

    /// A worker and a coordinator on different protocol versions refuse each other with a clear
    /// error naming both versions.
    @Test func aPeerOnAnotherProtocolVersionIsRefused() {
        // 10: samples may be assigned by reference (`assignByReference`), and `released` may say
        // they could not be read.
        // 11: the workers write the run's results.jsonl and evals.jsonl lines at the end of the
        // run (`writeLines` / `linesWritten`).
        // 12: `welcome` may ask for the reports' pieces, `writeLines` name a pieces file and
        // `linesWritten` carry their summary.
        // 13: the coordinator may ask a worker to put the pieces together (`makeReports` /
        // `reportsMade`).
        #expect(clusterProtocolVersion == 13)
        var machine = CoordinatorStateMachineTests.machine(shards: 1, per: 2)
        _ = machine.connected(1, now: 0)
        let old = machine.received(.hello(.init(workerId: "w1", pid: 1, protocolVersion: 6)), from: 1, now: 0)
        #expect(CoordinatorStateMachineTests.closes(old).first?.1 == "protocol version 6 is not 13")
        var worker = WorkerStateMachine(hello: .init(workerId: "w", pid: 1))
        _ = worker.start()
        let welcome = ClusterMessage.Welcome(protocolVersion: 6, runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), heartbeatSeconds: 1)
        let actions = worker.received(.welcome(welcome))
        #expect(actions.contains(.exit(reason: "coordinator speaks protocol 6, this worker 13")), "\(actions)")
    }
}

/// The coordinator's events write their own `events.jsonl` lines: the bytes `JSONEncoder` writes.
@Suite struct ClusterEventLineTests {
    @Test func everyClusterEventWritesTheLineTheEncoderWrites() {
        let events: [ClusterEvent] = [
            .runStarted(total: 10, resumed: 2), .runFinished(total: 10, journaled: 10, reason: "completed"),
            .runFinished(total: 10, journaled: 4, reason: "budgetExceeded"), .workerJoined(workerId: "host-1 \"é\"", pid: 42),
            .workerLost(workerId: "w", reason: "no heartbeat\nfor 15s", requeuedSamples: 3), .stopping(reason: "cancelled", inFlight: 7),
            .abandoned(samples: 2), .progress(workerId: "w1", added: 5, completed: 105, total: 20000, workerCompleted: 55),
            .connectionClosed(peer: "pid 1 uid 0", reason: "malformed frame"),
        ]
        for event in events {
            for rate in [nil, 0, 1234.5678, 1e-7] as [Double?] {
                let envelope = EventEnvelope(event: ClusterTesterEvent(event, workerSamplesPerSecond: rate), time: Date(timeIntervalSince1970: 1_700_000_000.123))
                var fields: [UInt8] = []
                #expect(ClusterTesterEvent(event, workerSamplesPerSecond: rate).appendJSONFields(to: &fields))
                #expect(JSONLEventLogSink.line(for: envelope) == JSONLEventLogSink.referenceLine(for: envelope), "\(event)")
                // The type is the case's name, as the encoding wrote it from the case's description.
                #expect(ClusterTesterEvent(event).typeName == String(String(describing: event).prefix(while: { $0 != "(" })))
            }
        }
    }
}
