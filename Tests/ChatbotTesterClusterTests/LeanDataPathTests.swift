import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The coordinator's lean data path: `records` frames scanned into envelopes that keep the
/// worker's bytes, journaled verbatim, and merged by byte ranges into exactly what the
/// decode/re-encode merge wrote.
@Suite struct LeanDataPathTests {
    /// Records of every shape: multi-turn, failed, unicode and escapes, costs, evals with details.
    static func records() -> [ClusterRecord] {
        (0..<12).map { index in
            let sample = TestSample(
                id: index == 5 ? "ключ-\"5\"\\/\u{1F600}" : "case-\(index)", input: "q \(index) \u{2028} tab\t\u{0001} é",
                expected: index % 2 == 0 ? "refund" : nil, criteria: index % 3 == 0 ? "polite" : nil,
                tags: index % 4 == 0 ? ["a", "日本"] : [], metadata: index % 2 == 0 ? ["n": .int(index), "x": .double(0.1 * Double(index)), "o": ["k": [1, "v", nil]]] : [:])
            let failed = index % 4 == 3
            var run = RunRecord(
                sample: sample, target: "bot", status: failed ? .error : .ok,
                transcript: failed ? [] : [
                    Message(role: .user, content: "hi \(index)"), Message(role: .assistant, content: "hello \"there\" 👋"),
                    Message(role: .user, content: "and?"), Message(role: .assistant, content: "line1\nline2"),
                ],
                turns: failed ? [] : [TurnRecord(index: 0, latencyMs: 12.5, usage: Usage(promptTokens: 3, completionTokens: 4), costUSD: 0.0001), TurnRecord(index: 1, latencyMs: 1e-3, finishReason: "stop")],
                usage: Usage(promptTokens: index, completionTokens: 2 * index), costUSD: index % 2 == 0 ? 0.001 * Double(index) : nil,
                latencyMs: 1234.5678, attempts: 1 + index % 3, stopReason: failed ? nil : "completed",
                error: failed ? ErrorInfo(code: index == 7 ? ChatbotTesterError.Code.targetDown.rawValue : "http", message: "HTTP 500: \"oops\" ✗", status: 500) : nil,
                startedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)), finishedAt: Date(timeIntervalSince1970: 1_700_000_001 + Double(index)))
            if index == 9 { run.simulatorUsage = Usage(promptTokens: 1, completionTokens: 1) }
            let evals = failed ? [] : [
                EvalRecord(sampleId: sample.id, metric: "exact", type: "exact-match", score: 1, passed: true, threshold: 0.5, tags: ["t"]),
                EvalRecord(
                    sampleId: sample.id, metric: "judge", type: "llm-judge", status: index % 5 == 0 ? .unmeasured : .scored, score: 0.25 * Double(index % 4),
                    passed: index % 2 == 0, reason: "because \"x\" → y", votes: [0.5, 0.75], spread: 0.25, straddlesThreshold: false,
                    usage: Usage(promptTokens: 10, completionTokens: 5), costUSD: 1e-6,
                    details: ["raw": .string("{\"score\": 1}"), "list": [1, 2.5, true, nil], "nested": ["é": ["deep": "ok"]]]),
            ]
            return ClusterRecord(sampleId: sample.id, index: index, run: run, evals: evals)
        }
    }

    static func spool(_ directory: URL, _ records: [ClusterRecord]) throws -> ClusterSpool {
        try ClusterSpool.prepare(
            at: directory.appendingPathComponent("spool"), samples: records.map(\.run.sample),
            setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), samplesPerShard: 4)
    }

    /// What the previous merge wrote: each record decoded and its parts re-encoded.
    static func referenceMerge(_ spool: ClusterSpool, into output: URL) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let results = try JSONLWriter(url: output.appendingPathComponent("results.jsonl"))
        let evals = try JSONLWriter(url: output.appendingPathComponent("evals.jsonl"))
        for record in try spool.mergedRecords() {
            try results.write(record.run)
            for eval in record.evals { try evals.write(eval) }
        }
        try results.close()
        try evals.close()
    }

    @Test func theByteMergeWritesExactlyWhatTheDecodingMergeWrote() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = Self.records()
        let spool = try Self.spool(directory, records)
        let journal = try FileJournal(url: spool.journalURL)
        let encoder = JSONCoding.encoder()
        // Out of order, a failure later replaced by a success, a success not replaced, a damaged line.
        var failedFirst = records[2]
        failedFirst.run.status = .error
        failedFirst.run.error = ErrorInfo(code: "timeout", message: "slow")
        var laterFailure = records[4]
        laterFailure.run.status = .error
        for record in [records[11], failedFirst] + records.reversed().dropFirst() + [laterFailure] {
            try journal.appendNow(try ClusterRecordEnvelope(encoding: record).bytes)
        }
        try journal.appendNow(Data(#"{"sampleId":"case-3","index":3,"run":{"sampleId":"case-3","status":"ok"}}"#.utf8))
        try journal.closeNow()
        let index = try spool.journalIndex()
        #expect(index.entries.map(\.index) == Array(0..<12))
        #expect(index.damagedLines == [15])
        let fast = directory.appendingPathComponent("fast"), reference = directory.appendingPathComponent("reference")
        #expect(try spool.merge(into: fast) == 12)
        try Self.referenceMerge(spool, into: reference)
        for file in ["results.jsonl", "evals.jsonl"] {
            let mine = try Data(contentsOf: fast.appendingPathComponent(file))
            let theirs = try Data(contentsOf: reference.appendingPathComponent(file))
            #expect(!mine.isEmpty)
            #expect(mine == theirs, "\(file) differs:\n\(String(decoding: mine, as: UTF8.self))\n---\n\(String(decoding: theirs, as: UTF8.self))")
        }
        // And the lines are the records' own parts, in dataset order.
        let results = try String(contentsOf: fast.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(try results.map(String.init) == records.map { String(decoding: try encoder.encode($0.run), as: UTF8.self) })
    }

    @Test func aRecordsFrameIsScannedIntoEnvelopesThatKeepTheWorkersBytes() throws {
        let codec = ClusterMessageCodec()
        let records = Self.records()
        let payload = try codec.encode(.records(records))
        guard case .records(let envelopes) = try codec.decodeIncoming(payload, peer: "w") else {
            Issue.record("not read as records")
            return
        }
        let encoder = JSONCoding.encoder()
        #expect(envelopes.map(\.bytes) == (try records.map { try encoder.encode($0) }))
        for (envelope, record) in zip(envelopes, records) {
            #expect(envelope.sampleId == record.sampleId && envelope.runSampleId == record.run.sampleId && envelope.index == record.index)
            #expect(envelope.status == record.run.status && envelope.costUSD == record.run.costUSD && envelope.errorCode == record.run.error?.code)
            #expect(envelope.evalRanges.count == record.evals.count)
            let decoded = try JSONCoding.decoder().decode(ClusterRecord.self, from: envelope.bytes)
            #expect(try encoder.encode(decoded) == envelope.bytes)
        }
        #expect(envelopes[7].stopReason == .targetDown && envelopes[3].stopReason == nil)
        // Every member a full record has is one the envelope accepts (Core's field lists, from the coding keys).
        var full = records[9]
        full.run.output = "o"
        full.run.costUSD = 1
        full.run.error = ErrorInfo(code: "x", message: "m")
        full.evals[1].threshold = 0.5
        let names = { (value: JSONValue) -> Set<String> in if case .object(let members) = value { Set(members.keys) } else { [] } }
        #expect(names(try JSONValue(encoding: full.run)) == RunRecord.fieldNames)
        #expect(names(try JSONValue(encoding: full.evals[1])) == EvalRecord.fieldNames)
        // Other messages are decoded as before.
        #expect(try codec.decodeIncoming(try codec.encode(.heartbeat), peer: "w") == .message(.heartbeat))
    }

    @Test func malformedRecordsFramesAreRefusedNamingTheField() throws {
        let codec = ClusterMessageCodec()
        let good = String(decoding: try JSONCoding.encoder().encode(Self.records()[0]), as: UTF8.self)
        let cases: [(String, String?)] = [
            (#"{"body":[\#(good),{"sampleId":"x"}],"type":"records"}"#, "body[1].index"),
            (#"{"body":[{"sampleId":"x","index":"1","run":{},"evals":[]}],"type":"records"}"#, "body[0].index"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"maybe","target":"b","sample":{}},"evals":[]}],"type":"records"}"#, "body[0].run.status"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"ok","target":"b","sample":{}},"evals":[1]}],"type":"records"}"#, "body[0].evals[0]"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"ok"},"evals":[],"extra":1}],"type":"records"}"#, "body[0].extra"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"error","target":"b","sample":{},"error":{"message":"m"}},"evals":[]}],"type":"records"}"#, "body[0].run.error.code"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"ok","target":"b","sample":{},"colour":1},"evals":[]}],"type":"records"}"#, "body[0].run.colour"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"ok","sample":{}},"evals":[]}],"type":"records"}"#, "body[0].run.target"),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"ok","target":"b","sample":{}},"evals":[{"sampleId":"x","metric":"m","status":"scored"}]}],"type":"records"}"#, "body[0].evals[0].type"),
            (#"{"body":{},"type":"records"}"#, "body"),
            (#"{"body":[],"type":"records","x":1}"#, "x"),
            (#"{"body":[\#(good)],"type":"records""#, nil),
            (#"{"body":[{"sampleId":"x","index":1,"run":{"sampleId":"x","status":"ok"},"evals":[]}],"type":"records"} x"#, nil),
        ]
        for (text, field) in cases {
            do {
                _ = try codec.decodeIncoming(Data(text.utf8), peer: "worker w1")
                Issue.record("accepted \(text)")
            } catch let error as ChatbotTesterError {
                #expect(error.code == .proto)
                #expect(error.location?.source == "worker w1")
                #expect(error.location?.field == field, "\(text): \(error)")
            }
        }
    }

    @Test func theJournalHoldsTheReceivedBytesVerbatim() throws {
        var machine = CoordinatorStateMachineTests.machine(shards: 1, per: 2, concurrency: 2)
        _ = CoordinatorStateMachineTests.join(&machine, 1)
        // A worker's own spelling (member order, spacing, escapes) is kept as is.
        let odd = Data(#"{ "index":0, "sampleId":"s0","evals":[ ],"run":{"status":"ok","sampleId":"s\u0030","costUSD":0.5,"target":"bot","sample":{"id":"s0","input":"q0"}}}"#.utf8)
        let envelope = try ClusterRecordEnvelope(scanning: odd)
        let actions = machine.received(records: [envelope], from: 1, now: 0)
        #expect(actions.contains(.journal([envelope])))
        #expect(envelope.bytes == odd)
        #expect(machine.runLimits.spentUSD == 0.5)
    }
}

/// The journal's fsync off the cooperative pool keeps every append, in order.
@Suite struct OffPoolJournalTests {
    @Test func syncsOnTheJournalsQueueKeepAppendsInOrder() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("journal.jsonl")
        // A small flush threshold, so appends also write while syncs run on the queue.
        let journal = try FileJournal(url: url, flushThreshold: 512)
        let syncing = Task {
            while !Task.isCancelled { try await journal.sync() }
        }
        for line in 0..<20_000 {
            try journal.appendNow(Data("{\"n\":\(line)}".utf8))
            if line % 1000 == 0 { await Task.yield() }
        }
        syncing.cancel()
        _ = await syncing.result
        try await journal.close()
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        #expect(lines == (0..<20_000).map { "{\"n\":\($0)}"[...] })
        #expect(throws: ChatbotTesterError.self) { try journal.appendNow(Data("late".utf8)) }
    }
}
