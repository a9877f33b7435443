import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster
@testable import ChatbotTesterClusterPipeline
@testable import ChatbotTesterEvaluator

/// Protocol 5: each scored record travels with its report part (`ClusterReportPart`, made by the
/// worker: what the reports read of it, as raw bytes after the frame's JSON); the coordinator checks
/// it against its record, keeps it in `journal.parts` and the merge feeds it to the reports
/// without decoding the record.
@Suite(.serialized) struct ReportPartTests {
    /// The records of `LeanDataPathTests` plus ones whose texts every report escapes.
    static func samples() -> [SampleEvaluation] {
        var samples = LeanDataPathTests.records().map { SampleEvaluation(run: $0.run, evals: $0.evals) }
        for index in 0..<4 {
            let id = ["=formula", "comma,id", "quote\"id", "<tag & 'x'>"][index]
            let sample = TestSample(id: id, input: "q", tags: index % 2 == 0 ? ["x,y", "z"] : ["one"])
            let run = RunRecord(
                sample: sample, target: "bot", status: index == 3 ? .error : .ok, usage: Usage(promptTokens: 7, completionTokens: index),
                costUSD: index == 1 ? 0.1 + 0.2 : nil, latencyMs: 0.1 * Double(index + 1),
                error: index == 3 ? ErrorInfo(code: "timeout", message: "took\r\ntoo long, \"really\"") : nil)
            let evals = [
                EvalRecord(
                    sampleId: id, metric: "exact", type: "exact-match", status: index == 2 ? .unmeasured : .scored, score: index == 2 ? nil : 0,
                    passed: index == 2 ? nil : false, threshold: 0.5, reason: "a,b \"c\"\r\nd <e> & f", tags: sample.tags),
                EvalRecord(
                    sampleId: id, metric: "judge", type: "llm-judge", score: 1, passed: true, reason: "-minus", straddlesThreshold: true,
                    usage: Usage(promptTokens: 3, completionTokens: 1), costUSD: 1e-7, tags: sample.tags),
            ]
            samples.append(SampleEvaluation(run: run, evals: evals))
        }
        return samples
    }

    static let descriptors = [
        MetricCommon(name: "exact", type: "exact-match", threshold: 0.5), MetricCommon(name: "judge", type: "llm-judge", threshold: nil),
    ]

    /// Every report written from report parts is the one written from the decoded samples, byte
    /// for byte; only the samples report.md / report.html keep are asked for whole.
    @Test(arguments: [1000, 1]) func reportsFedFromPartsAreThoseOfDecodedSamples(htmlSampleCap: Int) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = ReportOptions(htmlSampleCap: htmlSampleCap)
        func output(_ name: String) async throws -> EvaluationOutput {
            try await EvaluationOutput(
                directory: directory.appendingPathComponent(name), descriptors: Self.descriptors, maxErrorRate: 0.5, options: options, writesEvals: false)
        }
        let decoded = try await output("decoded"), fromParts = try await output("parts")
        var asked = 0
        for sample in Self.samples() {
            try decoded.add(sample, prepared: EvaluationOutput.prepare(sample, for: decoded.preparing))
            let part = try #require(EvaluationOutput.reportPart(for: sample))
            // A part for another number of evaluations is not used.
            #expect(try !fromParts.add(reportPart: Data(part), evalCount: sample.evals.count + 1) { sample })
            #expect(try fromParts.add(reportPart: Data(part), evalCount: sample.evals.count) {
                asked += 1
                return sample
            })
        }
        #expect(fromParts.aggregate == decoded.aggregate)
        #expect(try decoded.finish().summary == fromParts.finish().summary)
        for name in ["summary.json", "results.csv", "junit.xml", "report.md", "report.html"] {
            let expected = try PipelineClusterTests.report(directory.appendingPathComponent("decoded/\(name)"))
            let actual = try PipelineClusterTests.report(directory.appendingPathComponent("parts/\(name)"))
            #expect(!expected.isEmpty && expected == actual, "\(name) differs")
        }
        #expect(htmlSampleCap > 1 || asked < Self.samples().count, "\(asked)")
    }

    /// A part cut short, with a byte changed in its framing, or with bytes after it is not used.
    @Test func aDamagedPartIsNotUsed() async throws {
        let sample = Self.samples()[1]
        let part = try #require(EvaluationOutput.reportPart(for: sample))
        #expect(EvaluationOutput.ReportPart(Data(part)) != nil)
        for cut in [0, 1, 20, part.count / 2, part.count - 1] { #expect(EvaluationOutput.ReportPart(Data(part.prefix(cut))) == nil) }
        #expect(EvaluationOutput.ReportPart(Data(part + [0])) == nil)
        var version = part
        version[0] = 9
        #expect(EvaluationOutput.ReportPart(Data(version)) == nil)
        // An output that writes evals.jsonl itself reads whole records: it takes no part.
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writing = try await EvaluationOutput(directory: directory, descriptors: Self.descriptors)
        #expect(try !writing.add(reportPart: Data(part), evalCount: sample.evals.count) { sample })
        writing.abandon()
    }

    /// Journals `records` in `spool` with their parts in the side file, as a coordinator does.
    static func journal(_ records: [ClusterRecord], in spool: ClusterSpool) throws {
        let journal = try FileJournal(url: spool.journalURL)
        let log = ClusterReportPartsLog()
        log.open(spool: spool.directory, journal: spool.journalURL)
        for record in records {
            var envelope = try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: false))
            envelope.reportPart = record.reportPart
            try journal.appendNow(envelope.bytes)
            log.appended(envelope)
        }
        try journal.closeNow()
        log.close()
    }

    static func withPart(_ record: ClusterRecord, index: Int? = nil, id: String? = nil) throws -> ClusterRecord {
        var record = record
        let body = try #require(EvaluationOutput.reportPart(for: SampleEvaluation(run: record.run, evals: record.evals)))
        record.reportPart = ClusterReportPart.make(sampleId: id ?? record.sampleId, index: index ?? record.index, run: record.run, body: body)
        return record
    }

    /// Parts travel after the frame's JSON, each attached to its record's envelope; the JSON and
    /// the envelopes are those of the same records without parts.
    @Test func partsTravelWithTheirRecords() throws {
        let codec = ClusterMessageCodec()
        let plain = LeanDataPathTests.records()
        // Every other record with a part.
        let records = try plain.enumerated().map { $0.offset % 2 == 0 ? try Self.withPart($0.element) : $0.element }
        for omitting in [false, true] {
            let frame = codec.encodeRecords(try records.map { try $0.wireUnit(omittingSample: omitting) })
            #expect(frame.starts(with: ClusterMessageCodec.partsMagic))
            guard case .records(let read) = try codec.decodeIncoming(frame, peer: "w"),
                case .records(let without) = try codec.decodeIncoming(codec.encodeRecords(try plain.map { try $0.wireBytes(omittingSample: omitting) }), peer: "w")
            else {
                Issue.record("not a records frame")
                continue
            }
            #expect(read.map(\.reportPart) == records.map(\.reportPart))
            #expect(read.map { var copy = $0; copy.reportPart = nil; return copy } == without)
        }
        // Records without parts: the JSON frame of protocol 4's shape.
        let units = try plain.map { try $0.wireUnit(omittingSample: false) }
        #expect(codec.encodeRecords(units) == (try codec.encode(.records(plain))))
    }

    /// The statistics facts a part carries are those scanned from its record; a part whose facts
    /// disagree with the record's status, error code or cost is not used for them.
    @Test func factsFromThePartAreThoseScannedFromTheRecord() throws {
        let records = LeanDataPathTests.records()
        for plain in records {
            let record = try Self.withPart(plain)
            let part = try #require(record.reportPart)
            var envelope = try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: false))
            let scanned = try ClusterRunFacts(scanning: envelope)
            envelope.reportPart = part
            #expect(ClusterReportPart.facts(part) == scanned, "\(record.sampleId)")
            #expect(try ClusterRunFacts(scanning: envelope) == scanned)
            #expect(ClusterReportPart.facts(part.dropLast(1)) == nil || ClusterReportPart.head(part) != nil)
            // The coordinator's totals read the part's facts in place (no array of turns): the
            // same statistics as the scanned record's.
            var lean = ClusterRunTotals(), reference = ClusterRunTotals()
            let added = lean.add(reportedBy: envelope)
            #expect(added)
            reference.add(scanned)
            #expect(lean == reference, "\(record.sampleId)")
            #expect(Array(try #require(ClusterReportPart.leanFacts(part)).turnLatencies) == scanned.turnLatencies)
            // The body found by index alone is the one the head gives; another index finds none.
            #expect(ClusterReportPart.body(of: part, index: record.index) == ClusterReportPart.head(part)?.body)
            #expect(ClusterReportPart.body(of: part, index: record.index + 1) == nil)
        }
        // Record 0 succeeded, record 3 failed: facts of the failure on the success are not used.
        var envelope = try ClusterRecordEnvelope(scanning: records[0].wireBytes(omittingSample: false))
        let scanned = try ClusterRunFacts(scanning: envelope)
        envelope.reportPart = ClusterReportPart.make(sampleId: records[0].sampleId, index: 0, run: records[3].run, body: [])
        #expect(ClusterReportPart.facts(try #require(envelope.reportPart))?.status == .error)
        #expect(try ClusterRunFacts(scanning: envelope) == scanned)
        var totals = ClusterRunTotals()
        let added = totals.add(reportedBy: envelope)
        #expect(!added)
        #expect(totals == ClusterRunTotals())
    }

    /// The field a records frame is refused for, and the message (nil: accepted).
    static func refusal(_ frame: Data) -> (field: String, message: String)? {
        do {
            _ = try ClusterMessageCodec().decodeIncoming(frame, peer: "worker w1")
            return nil
        } catch let error as ChatbotTesterError {
            #expect(error.code == .proto && error.location?.source == "worker w1")
            return (error.location?.field ?? "", error.message)
        } catch {
            return ("?", "\(error)")
        }
    }

    /// A part naming another sample or index, larger than its bound, or parts that do not add up
    /// to the frame's records are refused, naming the peer and the part.
    @Test func forgedOrMismatchedPartsAreRefused() throws {
        let codec = ClusterMessageCodec()
        let records = LeanDataPathTests.records()
        func frame(_ record: ClusterRecord) throws -> Data { codec.encodeRecords([try record.wireUnit(omittingSample: false)]) }
        #expect(Self.refusal(try frame(Self.withPart(records[0]))) == nil)
        // Another sample's part on this record.
        var forged = records[0]
        forged.reportPart = try Self.withPart(records[1]).reportPart
        let other = try #require(Self.refusal(try frame(forged)))
        #expect(other.field == "parts[0]" && other.message.contains("'case-1'") && other.message.contains("'case-0'"), "\(other)")
        // This sample's id at another index.
        #expect(Self.refusal(try frame(Self.withPart(records[0], index: 7)))?.field == "parts[0]")
        // Larger than 8x the record + 64 KiB.
        var large = records[0]
        large.reportPart = ClusterReportPart.make(sampleId: "case-0", index: 0, run: records[0].run, body: [UInt8](repeating: 1, count: 1 << 20))
        let tooLarge = try #require(Self.refusal(try frame(large)))
        #expect(tooLarge.field == "parts[0]" && tooLarge.message.contains("larger"), "\(tooLarge)")
        // Not a part.
        var garbage = records[0]
        garbage.reportPart = Data([7, 7, 7])
        #expect(Self.refusal(try frame(garbage))?.field == "parts[0]")
        // Cut short, a part too many, a nested frame, a frame with parts that is not a records frame.
        let good = try frame(Self.withPart(records[0]))
        #expect(Self.refusal(good.dropLast(3))?.field == "parts[0]")
        #expect(Self.refusal(good + Data([0, 0, 0, 0]))?.field == "parts")
        var nested = Data(ClusterMessageCodec.partsMagic)
        ClusterMessageCodec.appendBigEndian(UInt32(good.count), to: &nested)
        nested.append(good)
        #expect(Self.refusal(nested) != nil)
        var heartbeat = Data(ClusterMessageCodec.partsMagic)
        let json = try codec.encode(.heartbeat)
        ClusterMessageCodec.appendBigEndian(UInt32(json.count), to: &heartbeat)
        heartbeat.append(json)
        #expect(Self.refusal(heartbeat) != nil)
    }

    /// The side file: parts are found by their line's journal offset and length, sample and index;
    /// a torn tail loses only its entry; a coordinator reopening it keeps only the entries of lines
    /// the journal still holds.
    @Test func theSideFileKeepsPartsByJournalLine() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let journal = directory.appendingPathComponent("journal.jsonl")
        try Data().write(to: journal)
        let records = try LeanDataPathTests.records().map { try Self.withPart($0) }
        let envelopes = try records.map { record in
            var envelope = try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: false))
            envelope.reportPart = record.reportPart
            return envelope
        }
        let log = ClusterReportPartsLog()
        log.open(spool: directory, journal: journal)
        var lines: [Range<Int>] = []
        var offset = 0
        for envelope in envelopes {
            lines.append(offset..<(offset + envelope.bytes.count))
            offset += envelope.bytes.count + 1
            log.appended(envelope)
        }
        log.close()
        let parts = ClusterReportParts(spool: directory)
        #expect(parts.count == records.count)
        for (position, record) in records.enumerated() {
            let part = try #require(record.reportPart)
            let head = try #require(ClusterReportPart.head(part))
            let body = try #require(parts.body(line: lines[position], sampleId: record.sampleId, index: record.index))
            #expect(body == part.dropFirst(head.body.lowerBound))
            #expect(parts.body(line: lines[position].lowerBound..<(lines[position].upperBound + 1), sampleId: record.sampleId, index: record.index) == nil)
            #expect(parts.body(line: lines[position], sampleId: "other", index: record.index) == nil)
            #expect(parts.body(line: lines[position], sampleId: record.sampleId, index: record.index + 1) == nil)
        }
        // A torn tail: the last entry is lost, the others stay.
        let side = directory.appendingPathComponent(ClusterReportPartsLog.fileName)
        let whole = try Data(contentsOf: side)
        try whole.dropLast(5).write(to: side)
        #expect(ClusterReportParts(spool: directory).count == records.count - 1)
        // A coordinator reopening after a crash that cut the journal after 5 lines keeps 5 entries.
        try Data(repeating: 0x20, count: lines[5].lowerBound).write(to: journal)
        log.open(spool: directory, journal: journal)
        log.close()
        #expect(ClusterReportParts(spool: directory).count == 5)
        // Not a side file: no parts (the merge decodes).
        try Data("garbage".utf8).write(to: side)
        #expect(ClusterReportParts(spool: directory).count == 0)
    }

    /// The merge's table of parts matched with the lines a journal index keeps, by dataset index:
    /// a sample journaled twice (an error, then the success that replaces it) gets the success's
    /// part, never the error's; each kept line's part is the one the keyed table finds for it; a
    /// line the index keeps with no part has none.
    @Test func thePartsOfTheKeptLinesAreFoundByDatasetIndex() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = try LeanDataPathTests.records().map { try Self.withPart($0) }
        let spool = try LeanDataPathTests.spool(directory, records)
        var failed = records[4]
        failed.run.status = .error
        failed.run.error = ErrorInfo(code: "timeout", message: "slow")
        failed = try Self.withPart(failed)
        var noPart = records[9]
        noPart.reportPart = nil
        // Journal order: the error first, then everything; record 9 without a part.
        let order = [failed] + records.enumerated().map { $0.offset == 9 ? noPart : $0.element }.reversed()
        try Self.journal(order, in: spool)
        let index = try ClusterSpool.open(at: spool.directory).journalIndex()
        let keyed = ClusterReportParts(spool: spool.directory)
        let matched = ClusterReportParts(spool: spool.directory, keeping: index)
        #expect(keyed.count == 12 && matched.count == 11)
        for entry in index.entries {
            let body = matched.body(line: entry.range, sampleId: entry.sampleId, index: entry.index)
            #expect(body == keyed.body(line: entry.range, sampleId: entry.sampleId, index: entry.index), "\(entry.index)")
            #expect((body == nil) == (entry.index == 9), "\(entry.index)")
            // Another line's range, or another sample, finds nothing.
            #expect(matched.body(line: entry.range.lowerBound..<(entry.range.upperBound + 1), sampleId: entry.sampleId, index: entry.index) == nil)
            #expect(matched.body(line: entry.range, sampleId: "other", index: entry.index) == nil)
        }
        let kept = try #require(index.entries.first { $0.index == 4 })
        #expect(kept.succeeded && kept.line > 1)
        let errorPart = try #require(failed.reportPart)
        let errorBody = errorPart.dropFirst(try #require(ClusterReportPart.head(errorPart)).body.lowerBound)
        #expect(matched.body(line: kept.range, sampleId: kept.sampleId, index: 4) != Data(errorBody))
        // A resume's totals, counted from the kept lines' parts, are those scanned from the runs
        // when there is no side file (an older journal); its ids and dollars too.
        let fromParts = try ClusterSpool.open(at: spool.directory).resumeState(spending: true)
        try FileManager.default.removeItem(at: spool.directory.appendingPathComponent(ClusterReportPartsLog.fileName))
        let scanned = try ClusterSpool.open(at: spool.directory).resumeState(spending: true)
        #expect(fromParts.totals == scanned.totals)
        #expect(fromParts.totals.statistics.ok + fromParts.totals.statistics.error == 12)
        #expect(fromParts.journaled == scanned.journaled && fromParts.spentUSD == scanned.spentUSD && fromParts.errors == scanned.errors)
    }

    /// A resume reads the journal once: what the indexing scan sums (each admitted line's run) is
    /// what summing each kept record gives — errors, a success journaled twice (the second
    /// dropped), a line without a part, with and without `retryErrors` — and a journal where a
    /// success replaced an error (summed by the scan already) is summed again from the kept lines,
    /// giving what the kept records alone give.
    @Test func aResumeSumsTheKeptRecordsInTheScanThatIndexesTheJournal() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var records = try LeanDataPathTests.records().map { try Self.withPart($0) }
        for position in [2, 7] {
            records[position].run.status = .error
            records[position].run.error = ErrorInfo(code: "timeout", message: "slow \(position)")
            records[position].run.costUSD = nil
            records[position] = try Self.withPart(records[position])
        }
        records[5].reportPart = nil
        let spool = try LeanDataPathTests.spool(directory, records)
        // The journal and its side file of parts (record 5 has none), as a coordinator writes them.
        func journal(_ lines: [ClusterRecord]) throws {
            try? FileManager.default.removeItem(at: spool.journalURL)
            try? FileManager.default.removeItem(at: spool.directory.appendingPathComponent(ClusterReportPartsLog.fileName))
            try Self.journal(lines, in: spool)
        }
        func expected(_ kept: [ClusterRecord], retryErrors: Bool) throws -> (ClusterRunTotals, Double) {
            var totals = ClusterRunTotals(), spent = 0.0
            for record in kept where record.run.status == .ok || !retryErrors {
                totals.add(try ClusterRunFacts(scanning: ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: false))))
                spent += record.run.costUSD ?? 0
            }
            return (totals, spent)
        }
        // Reversed journal order, record 3 journaled twice.
        try journal(records.reversed() + [records[3]])
        for retryErrors in [false, true] {
            let resume = try ClusterSpool.open(at: spool.directory).resumeState(spending: true, retryErrors: retryErrors)
            let (totals, spent) = try expected(records.reversed(), retryErrors: retryErrors)
            #expect(resume.totals == totals && abs(resume.spentUSD - spent) < 1e-12, "retryErrors \(retryErrors)")
            // Records 3 and 11 fail in the shared set, 2 and 7 here.
            #expect(resume.errors == 4 && resume.keptErrors == (retryErrors ? 0 : 4))
            #expect(resume.journaled.count == (retryErrors ? records.count - 4 : records.count))
            #expect(resume.totals.errorExamples["timeout"] == (retryErrors ? nil : "slow 7"), "the first error in journal order")
        }
        // The side file read forward beside the journal finds each line's part (not record 5's,
        // which has none), and nothing for a line it has passed or a sample it does not hold.
        let cursor = try #require(ClusterReportPartsCursor(spool: spool.directory))
        let index = try ClusterSpool.open(at: spool.directory).journalIndex()
        var found = 0
        for entry in index.entries.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            let part = cursor.part(journalOffset: entry.range.lowerBound, lineLength: entry.range.count, sampleId: entry.sampleId, index: entry.index)
            #expect((part == nil) == (entry.index == 5), "\(entry.index)")
            #expect(part == nil || part == records[entry.index].reportPart)
            if part != nil { found += 1 }
        }
        #expect(found == records.count - 1)
        let first = try #require(index.entries.min { $0.range.lowerBound < $1.range.lowerBound })
        #expect(cursor.part(journalOffset: first.range.lowerBound, lineLength: first.range.count, sampleId: first.sampleId, index: first.index) == nil)
        let again = try #require(ClusterReportPartsCursor(spool: spool.directory))
        #expect(again.part(journalOffset: first.range.lowerBound, lineLength: first.range.count, sampleId: "other", index: first.index) == nil)
        // Without the side file every run is read: the same totals.
        try FileManager.default.removeItem(at: spool.directory.appendingPathComponent(ClusterReportPartsLog.fileName))
        let unparted = try ClusterSpool.open(at: spool.directory).resumeState(spending: true)
        #expect(unparted.totals == (try expected(records.reversed(), retryErrors: false)).0)
        // Record 2's error replaced by a later success: the kept success is summed, not the error.
        var success = try Self.withPart(LeanDataPathTests.records()[2])
        success.run.costUSD = 0.5
        success = try Self.withPart(success)
        try journal(records + [success])
        let replaced = try ClusterSpool.open(at: spool.directory).resumeState(spending: true)
        let kept = records.enumerated().map { $0.offset == 2 ? success : $0.element }
        let (totals, spent) = try expected(kept, retryErrors: false)
        #expect(replaced.totals.statistics == totals.statistics && abs(replaced.spentUSD - spent) < 1e-12)
        #expect(replaced.errors == 3 && replaced.journaled.count == records.count)
    }

    /// A side file larger than the reader's 1 MiB chunk (entries and parts cross its edges) is
    /// read whole, each part found by its line; entries written out of journal order (never by a
    /// coordinator, which only appends) are still found, the last one for an offset winning.
    @Test func aLargeOrShuffledSideFileIsReadByItsLines() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func part(_ index: Int, body: String) -> Data {
            ClusterReportPart.make(
                sampleId: "s\(index)", index: index, run: RunRecord(sample: TestSample(id: "s\(index)", input: "q"), target: "bot"),
                body: Array(body.utf8))
        }
        func write(_ entries: [(offset: Int, line: Int, part: Data)]) throws {
            var file = Data(ClusterReportPartsLog.magic)
            for entry in entries {
                var head: [UInt8] = []
                ByteCoding.append(UInt32(entry.part.count), to: &head)
                ByteCoding.append(UInt64(entry.offset), to: &head)
                ByteCoding.append(UInt32(entry.line), to: &head)
                file.append(contentsOf: head)
                file.append(entry.part)
            }
            try file.write(to: directory.appendingPathComponent(ClusterReportPartsLog.fileName))
        }
        // 400 parts of ~9 KB: 3.6 MB.
        let large = (0..<400).map { (offset: $0 * 1000, line: 999, part: part($0, body: String(repeating: "\($0 % 10)", count: 9000 + $0))) }
        try write(large)
        let parts = ClusterReportParts(spool: directory)
        #expect(parts.count == 400)
        for index in [0, 1, 116, 117, 233, 399] {
            let body = try #require(parts.body(line: (index * 1000)..<(index * 1000 + 999), sampleId: "s\(index)", index: index))
            #expect(body == Data(String(repeating: "\(index % 10)", count: 9000 + index).utf8))
        }
        #expect(parts.body(line: 500..<1499, sampleId: "s0", index: 0) == nil)
        // Out of order, and offset 2000 twice (the later entry wins).
        try write([
            (2000, 10, part(2, body: "old")), (0, 10, part(0, body: "zero")), (4000, 10, part(4, body: "four")),
            (2000, 10, part(2, body: "new")),
        ])
        let shuffled = ClusterReportParts(spool: directory)
        #expect(shuffled.count == 3)
        #expect(shuffled.body(line: 0..<10, sampleId: "s0", index: 0) == Data("zero".utf8))
        #expect(shuffled.body(line: 2000..<2010, sampleId: "s2", index: 2) == Data("new".utf8))
        #expect(shuffled.body(line: 4000..<4010, sampleId: "s4", index: 4) == Data("four".utf8))
        #expect(shuffled.body(line: 3000..<3010, sampleId: "s4", index: 4) == nil)
    }

    /// End to end with real workers. A fresh `test` writes its outputs as the run plays, from the
    /// records' parts: the side file gets none (`keepsReportParts` off). Then a crash mid-run (the
    /// journal cut after 3 of its 8 lines, plus a torn line) and `--resume`, whose merge takes the
    /// parts of the 5 lines it journaled and decodes the 3 the first session left: its reports
    /// are byte for byte those the same journal gives without a side file (an older journal),
    /// where every record is decoded.
    @Test func resumeAfterACrashAndAJournalWithoutSideFileGiveTheSameReports() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CT_KEEP"] == nil { try? FileManager.default.removeItem(at: directory) } }
        let config = try JobConfig.load(contentsOf: PipelineClusterTests.quickstart)
        let out = directory.appendingPathComponent("cluster")
        let stage = ShardedRunStage(workers: 2, workerCommand: .init(executable: ClusterTestSupport.hostPath, arguments: ["worker"]), samplesPerShard: 2)
        let first = try await TestJob.prepare(config: config, components: .builtin(), settings: JobSettings(outputDirectory: out.path))
        let firstOutcome = try await withTimeout(180) { try await first.test(stage: stage) }
        let spoolURL = first.output("spool")
        let journalURL = spoolURL.appendingPathComponent("journal.jsonl")
        #expect(ClusterReportParts(spool: spoolURL).count == 0)
        #expect(FileManager.default.fileExists(atPath: first.output("results.csv").path))
        // The crash: 3 lines kept and a torn fourth.
        let lines = try Data(contentsOf: journalURL).split(separator: 0x0A)
        #expect(lines.count == 8)
        var cut = Data()
        for line in lines.prefix(3) { cut.append(line); cut.append(0x0A) }
        cut.append(lines[3].prefix(10))
        try cut.write(to: journalURL)
        var settings = JobSettings(outputDirectory: out.path)
        settings.resume = true
        let resumed = try await TestJob.prepare(config: config, components: .builtin(), settings: settings)
        let outcome = try await withTimeout(180) { try await resumed.test(stage: stage) }
        #expect(outcome.run?.resumed == 3 && outcome.exitStatus == firstOutcome.exitStatus)
        // The resumed session merges at its end: it keeps the parts of the 5 lines it journaled.
        #expect(ClusterReportParts(spool: spoolURL).count == 5)
        let names = ["summary.json", "results.csv", "junit.xml", "report.md", "report.html"]
        func reports() throws -> [Data] { try names.map { try Data(contentsOf: resumed.output($0)) } }
        let spool = try ClusterSpool.open(at: spoolURL)
        let fromParts = try await MergePass.run(spool, job: resumed, scoring: true, reports: true, tallies: false)
        #expect(fromParts.partsUsed == 5 && fromParts.merged == 8)
        let partsReports = try reports()
        try FileManager.default.removeItem(at: spoolURL.appendingPathComponent(ClusterReportPartsLog.fileName))
        let decoded = try await MergePass.run(try ClusterSpool.open(at: spoolURL), job: resumed, scoring: true, reports: true, tallies: false)
        #expect(decoded.partsUsed == 0 && decoded.merged == 8 && decoded.evaluation == fromParts.evaluation)
        for (position, bytes) in try reports().enumerated() {
            if names[position] == "report.html" {
                // Its generation time differs.
                let one = try PipelineClusterTests.report(resumed.output(names[position]))
                try partsReports[position].write(to: directory.appendingPathComponent("parts.html"))
                #expect(one == (try PipelineClusterTests.report(directory.appendingPathComponent("parts.html"))))
            } else {
                #expect(!bytes.isEmpty && bytes == partsReports[position], "\(names[position]) differs")
            }
        }
    }
}
