import ChatbotTesterCore
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

    @Test func corruptJournalLineIsAnErrorNamingTheLine() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(2)
        let spool = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup())
        var journal = try JSONCoding.encoder().encode(Self.record(0, sample: samples[0], output: "ok"))
        journal.append(contentsOf: Array("\n{not json}\n".utf8))
        try journal.write(to: spool.journalURL)
        #expect {
            _ = try spool.journalIndex()
        } throws: { error in
            (error as? ChatbotTesterError)?.location?.line == 2
        }
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
