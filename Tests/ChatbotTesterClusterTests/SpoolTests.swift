import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

@Suite struct SpoolTests {
    static func record(_ index: Int, sample: TestSample, output: String) -> ClusterRecord {
        ClusterRecord(
            sampleId: sample.id, index: index,
            run: RunRecord(sample: sample, target: "bot", transcript: [Message(role: .assistant, content: output)]), evals: [])
    }

    @Test func journalKeepsFirstRecordPerSampleIgnoresTornTailAndMergesInDatasetOrder() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(4)
        let spool = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 2)
        #expect(spool.manifest.shards.map(\.count) == [2, 2])
        #expect(try spool.samples(ofShard: 1).map(\.index) == [2, 3])
        let encoder = JSONCoding.encoder()
        var journal = Data()
        for (index, output) in [(2, "first"), (0, "zero"), (2, "duplicate")] {
            journal.append(try encoder.encode(Self.record(index, sample: samples[index], output: output)))
            journal.append(0x0A)
        }
        journal.append(try encoder.encode(Self.record(1, sample: samples[1], output: "torn")).prefix(40))
        try journal.write(to: spool.journalURL)
        #expect(try spool.journaledIds() == ["case-0", "case-2"])
        let merged = try spool.mergedRecords()
        #expect(merged.map(\.index) == [0, 2])
        #expect(merged.map(\.run.output) == ["zero", "first"])
        let out = directory.appendingPathComponent("out")
        #expect(try spool.merge(into: out) == 2)
        let results = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(results.count == 2 && results[0].contains(#""sampleId":"case-0""#))
        // Reopened (a restarted coordinator), the spool is the same run.
        let reopened = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup())
        #expect(reopened.manifest == spool.manifest)
    }

    @Test func damagedJournalLineIsSkippedReportedAndItsSampleRunsAgain() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(3)
        let spool = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup())
        let encoder = JSONCoding.encoder()
        var journal = try encoder.encode(Self.record(0, sample: samples[0], output: "ok"))
        journal.append(contentsOf: Array("\n{not json}\n".utf8))
        // A record whose envelope names another sample than its result is damage too.
        var forged = Self.record(2, sample: samples[2], output: "forged")
        forged.run.sampleId = "case-0"
        journal.append(try encoder.encode(forged))
        journal.append(0x0A)
        journal.append(try encoder.encode(Self.record(1, sample: samples[1], output: "one")))
        journal.append(0x0A)
        try journal.write(to: spool.journalURL)
        let bus = EventBus()
        let sink = RecordingEventSink()
        bus.subscribe(sink)
        let index = try spool.journalIndex(events: bus)
        await bus.shutdown()
        #expect(index.entries.map(\.sampleId) == ["case-0", "case-1"])
        #expect(index.damagedLines == [2, 3])
        let warnings = sink.events(of: LogEvent.self).filter { $0.level == .warning }
        #expect(warnings.compactMap(\.source) == ["\(spool.journalURL.path):2", "\(spool.journalURL.path):3"])
        // Not journaled, so a resumed coordinator hands case-2 out again.
        let machine = CoordinatorStateMachine(manifest: spool.manifest, journaled: try spool.journaledIds(), setup: spool.setup)
        #expect(machine.completedCount == 2 && machine.totalCount == 3)
        #expect(try spool.merge(into: directory.appendingPathComponent("out")) == 2)
    }

    @Test func recordKeyRuleFirstSuccessWinsAndASuccessReplacesAnError() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(2)
        let spool = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup())
        func failed(_ index: Int) -> ClusterRecord {
            var record = Self.record(index, sample: samples[index], output: "failed")
            record.run.status = .error
            return record
        }
        let lines = [
            failed(0), Self.record(0, sample: samples[0], output: "replay"), Self.record(0, sample: samples[0], output: "later"),
            Self.record(1, sample: samples[1], output: "first"), failed(1),
        ]
        let encoder = JSONCoding.encoder()
        var journal = Data()
        for line in lines {
            journal.append(try encoder.encode(line))
            journal.append(0x0A)
        }
        try journal.write(to: spool.journalURL)
        let merged = try spool.mergedRecords()
        #expect(merged.map(\.run.output) == ["replay", "first"])
        #expect(merged.map(\.run.status) == [.ok, .ok])
    }

    @Test func duplicateSampleIdsAreRefusedWhenSpooling() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sample = TestSample(id: "same", input: "x")
        #expect {
            _ = try ClusterSpool.prepare(at: directory, samples: [sample, sample], setup: ClusterTestSupport.setup())
        } throws: { error in
            (error as? ChatbotTesterError)?.location?.line == 2
        }
    }
}
