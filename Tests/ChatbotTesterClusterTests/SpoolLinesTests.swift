import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The spool's shard lines: written straight to bytes (`FastRecordEncoding.appendIndexed`, the
/// encoder for what it leaves) as `JSONEncoder` writes `IndexedSample`, and read back for assigns
/// without a JSON scan (`ClusterSpool.writtenLines`) giving what the scan gives, or nothing.
@Suite struct SpoolLinesTests {
    /// Samples the byte writer writes and samples it leaves to the encoder, with awkward ids.
    static func samples() -> [TestSample] {
        let ids = ["plain", "quote \" and \\ back", "line\nbreak", "slash/ok", "é ü 💥", "tab\tnul\u{0}", "}]\"id\":\"x\"", "c1", "c10"]
        var out: [TestSample] = []
        for (position, id) in ids.enumerated() {
            out.append(TestSample(id: id, input: "q \(position) \"id\":\"\(id)\"", tags: position % 2 == 0 ? ["t"] : [], metadata: ["id": .string(id), "n": .double(1.5)]))
        }
        out.append(TestSample(id: "scenario", scenario: Scenario(persona: "p", goal: "g")))
        out.append(TestSample(id: "tools", input: "x", toolChoice: .auto))
        out.append(TestSample(id: "odd-key", input: "x", metadata: ["ключ": 1]))
        return out
    }

    @Test func shardLinesAreWhatJSONEncoderWritesForIndexedSamples() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = Self.samples()
        let spool = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 5)
        let encoder = JSONCoding.encoder()
        var expected = Data()
        for (index, sample) in samples.enumerated() {
            expected.append(try encoder.encode(IndexedSample(index: index, sample: sample)))
            expected.append(0x0A)
        }
        var written = Data()
        for shard in spool.manifest.shards { written.append(try Data(contentsOf: directory.appendingPathComponent(shard.file))) }
        #expect(written == expected)
        #expect(try spool.manifest.shards.flatMap { try spool.samples(ofShard: $0.id) } == samples.enumerated().map { IndexedSample(index: $0.offset, sample: $0.element) })
    }

    @Test func writtenLinesGiveWhatTheScanGives() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try ClusterSpool.prepare(at: directory, samples: Self.samples(), setup: ClusterTestSupport.setup(), samplesPerShard: 4)
        #expect(spool.manifest.shards.count == 3)
        for shard in spool.manifest.shards {
            let url = directory.appendingPathComponent(shard.file)
            let data = try Data(contentsOf: url)
            let fast = try #require(ClusterSpool.writtenLines(data, shard: shard))
            let scanned = try ClusterSpool.scannedLines(data, shard: shard, url: url)
            #expect(fast.map(\.index) == scanned.map(\.index))
            #expect(fast.map(\.id) == scanned.map(\.id))
            #expect(fast.map { Data($0.line) } == scanned.map { Data($0.line) })
            #expect(fast.map { Data($0.sample) } == scanned.map { Data($0.sample) })
            #expect(try spool.sampleLines(ofShard: shard.id).map(\.line) == fast.map(\.line))
        }
    }

    /// Bytes that are not as the writer wrote them (the digest would refuse them first; this is
    /// the reader's own guard) are left to the scan, which names what is wrong.
    @Test func linesNotAsWrittenAreLeftToTheScan() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try ClusterSpool.prepare(at: directory, samples: ClusterTestSupport.samples(6), setup: ClusterTestSupport.setup(), samplesPerShard: 3)
        let shard = spool.manifest.shards[1]
        let url = directory.appendingPathComponent(shard.file)
        let data = try Data(contentsOf: url)
        #expect(ClusterSpool.writtenLines(data, shard: shard) != nil)
        func replaced(_ old: String, _ new: String) -> Data {
            var copy = data
            copy.replaceSubrange(copy.range(of: Data(old.utf8))!, with: Data(new.utf8))
            return copy
        }
        let variants: [(Data, String)] = [
            (replaced(#"{"index":4,"#, #"{"index":5,"#), "an index out of order"),
            (replaced(#""id":"case-4""#, #""id":"case-X""#), "another id"),
            (replaced(#"{"index":3,"sample":"#, #"{ "index":3,"sample":"#), "spacing"),
            (data.dropLast(), "no last newline"),
            (data + Data("\n".utf8), "an extra line"),
            (Data(data.prefix(through: data.firstIndex(of: 0x0A)!)), "a line missing"),
        ]
        for (bytes, what) in variants {
            #expect(ClusterSpool.writtenLines(bytes, shard: shard) == nil, "\(what)")
        }
        #expect(throws: ChatbotTesterError.self) { try ClusterSpool.scannedLines(replaced(#""id":"case-4""#, #""id":"case-X""#), shard: shard, url: url) }
        // A slice of a larger buffer reads the same.
        let padded = Data("xx".utf8) + data
        let slice = padded[padded.index(padded.startIndex, offsetBy: 2)...]
        #expect(ClusterSpool.writtenLines(slice, shard: shard)?.map(\.line) == ClusterSpool.writtenLines(data, shard: shard)?.map(\.line))
    }
}
