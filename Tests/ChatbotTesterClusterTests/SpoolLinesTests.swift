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

    /// A spool of cases as the dataset wrote them (`add(caseJSON:id:)`): each line holds the JSON
    /// byte for byte, the manifest says so, the reader without a JSON scan still finds every line
    /// (whitespace around the id's colon allowed) as the scan does, and `encodedSample(asWritten:)`
    /// gives the bytes the encoder writes for the decoded case.
    @Test func casesAsWrittenAreSpooledByteForByte() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(json: String, id: String)] = [
            (#"{"input": "refund", "id": "a1"}"#, "a1"),
            ("{\"id\"\t:\t\"a2\" ,\"input\":\"x\"}", "a2"),
            (#"{"id":"a\u0033","input":"x"}"#, "a3"),
            (#"{"id": "é4", "turns": ["hi"], "metadata": {"n": 6.666666266666667e+18, "id": "nested"}}"#, "é4"),
            (#"{"input": "\"id\": \"a5\"", "id": "a5"}"#, "a5"),
        ]
        let writer = try ClusterSpoolWriter(at: directory, setup: ClusterTestSupport.setup(), samplesPerShard: 2, samplesAsWritten: true)
        for entry in cases { try writer.add(caseJSON: Data(entry.json.utf8), id: entry.id) }
        #expect(throws: ChatbotTesterError.self) { try writer.add(TestSample(id: "encoded", input: "x")) }
        let spool = try writer.finish()
        #expect(spool.manifest.samplesAsWritten == true && spool.manifest.schemaVersion == 3)
        #expect(try ClusterSpool.open(at: directory).manifest.samplesAsWritten == true)
        var lines: [String] = []
        for shard in spool.manifest.shards {
            let url = directory.appendingPathComponent(shard.file)
            let data = try Data(contentsOf: url)
            lines += String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            let scanned = try ClusterSpool.scannedLines(data, shard: shard, url: url)
            let read = try spool.sampleLines(ofShard: shard.id)
            #expect(read.map(\.id) == scanned.map(\.id) && read.map(\.line) == scanned.map(\.line) && read.map(\.sample) == scanned.map(\.sample))
        }
        #expect(lines == cases.enumerated().map { #"{"index":\#($0.offset),"sample":\#($0.element.json)}"# })
        let decoded = try spool.manifest.shards.flatMap { try spool.samples(ofShard: $0.id) }
        #expect(decoded.map(\.sample.id) == cases.map(\.id))
        for (entry, item) in zip(cases, decoded) {
            let encoded = try ClusterSpool.encodedSample(asWritten: Data(entry.json.utf8))
            let reference = try FastRecordEncoding.bytes(item.sample).map { Data($0) } ?? JSONCoding.encoder().encode(item.sample)
            #expect(encoded == reference)
            #expect(String(decoding: encoded, as: UTF8.self) != entry.json)
        }
        #expect(throws: ChatbotTesterError.self) { try ClusterSpool.encodedSample(asWritten: Data(#"{"id":1}"#.utf8)) }
    }

    /// A spool written before cases were spooled as written (format 2, no `samplesAsWritten`) still
    /// opens, its samples encoded.
    @Test func aFormatTwoSpoolStillOpens() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try ClusterSpool.prepare(at: directory, samples: Self.samples(), setup: ClusterTestSupport.setup(), samplesPerShard: 4)
        let manifestURL = directory.appendingPathComponent(ClusterSpool.manifestFile)
        let old = try String(contentsOf: manifestURL, encoding: .utf8).replacingOccurrences(of: #""schemaVersion" : 3"#, with: #""schemaVersion" : 2"#)
        #expect(old.contains(#""schemaVersion" : 2"#) && !old.contains("samplesAsWritten"))
        try Data(old.utf8).write(to: manifestURL)
        try Data("\(SpoolDigest.sha256(Data(old.utf8)))  \(ClusterSpool.manifestFile)\n".utf8).write(to: directory.appendingPathComponent(ClusterSpool.manifestDigestFile))
        let reopened = try ClusterSpool.open(at: directory)
        #expect(reopened.manifest.schemaVersion == 2 && reopened.manifest.samplesAsWritten == nil)
        let future = old.replacingOccurrences(of: #""schemaVersion" : 2"#, with: #""schemaVersion" : 4"#)
        try Data(future.utf8).write(to: manifestURL)
        try Data("\(SpoolDigest.sha256(Data(future.utf8)))  \(ClusterSpool.manifestFile)\n".utf8).write(to: directory.appendingPathComponent(ClusterSpool.manifestDigestFile))
        #expect(throws: ChatbotTesterError.self) { try ClusterSpool.open(at: directory) }
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
