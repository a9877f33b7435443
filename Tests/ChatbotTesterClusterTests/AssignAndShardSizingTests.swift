import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The worker's read of `assign` frames (the spool's lines, split and read by Core's byte reader)
/// and the byte-sized shards of `test --workers`.
@Suite struct AssignAndShardSizingTests {
    /// The assign frames a coordinator sends for `samples`, as it sends them: the spool's lines spliced.
    static func assignFrames(_ samples: [TestSample], directory: URL, slots: Int?) throws -> [Data] {
        let spool = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 4)
        let codec = ClusterMessageCodec()
        return try spool.manifest.shards.map { shard in
            codec.encodeAssign(lines: try spool.sampleLines(ofShard: shard.id).map(\.line), slots: slots)
        }
    }

    @Test func assignFramesReadAtTheWorkerAreWhatTheDecoderReads() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let codec = ClusterMessageCodec()
        let samples = SpoolLinesTests.samples() + ClusterTestSupport.samples(7)
        for slots in [nil, 0, 7, 123_456_789] as [Int?] {
            let spoolDirectory = directory.appendingPathComponent("s\(slots ?? -1)")
            for frame in try Self.assignFrames(samples, directory: spoolDirectory, slots: slots) {
                let reference = try codec.decode(frame, peer: "test")
                // The byte path takes every frame the coordinator writes (none falls back).
                let fast = try #require(ClusterMessageCodec.assignment(inCoordinatorShape: frame))
                #expect(ClusterMessage.assign(fast) == reference)
                #expect(try codec.decodeAtWorker(frame, peer: "test") == reference)
            }
        }
        let empty = codec.encodeAssign(lines: [], slots: 3)
        #expect(try codec.decodeAtWorker(empty, peer: "test") == codec.decode(empty, peer: "test"))
    }

    /// Other messages and other shapes go to the decoder, which reads them or names the fault.
    @Test func otherShapesAreLeftToTheDecoder() throws {
        let codec = ClusterMessageCodec()
        let sample = IndexedSample(index: 2, sample: TestSample(id: "a", input: "x"))
        let encoded = try codec.encode(.assign(.init(samples: [sample], slots: 4)))
        #expect(ClusterMessageCodec.assignment(inCoordinatorShape: encoded) != nil)
        #expect(try codec.decodeAtWorker(encoded, peer: "p") == .assign(.init(samples: [sample], slots: 4)))
        let variants: [String] = [
            #"{"body":{"samples":[{"index":02,"sample":{"id":"a","input":"x"}}],"slots":4},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":-2,"sample":{"id":"a","input":"x"}}],"slots":4},"type":"assign"}"#,
            #"{"body":{"samples":[{"sample":{"id":"a","input":"x"},"index":2}],"slots":4},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":2,"sample":{"id":"a","input":"x","id":"b"}}],"slots":4},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":2,"sample":{"id":"a","input":"x"}}],"slots":04},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":2,"sample":{"id":"a","input":"x"}}],"slots":null},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":2,"sample":{"id":"a","input":"x"}}],"slots":4,"x":1},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":2,"sample":"a"}],"slots":4},"type":"assign"}"#,
            #"{"body":{"samples":[{"index":2,"sample":{"id":"a","input":"x"}}]"#,
        ]
        // A trailing comma in the list: the decoder takes it too (the two agree on it).
        let agreed = #"{"body":{"samples":[{"index":2,"sample":{"id":"a","input":"x"}},],"slots":4},"type":"assign"}"#
        for text in variants + [agreed] {
            let payload = Data(text.utf8)
            if text != agreed { #expect(ClusterMessageCodec.assignment(inCoordinatorShape: payload) == nil, "\(text)") }
            let reference = Result { try codec.decode(payload, peer: "p") }
            let atWorker = Result { try codec.decodeAtWorker(payload, peer: "p") }
            switch (reference, atWorker) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(text)")
            case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)", "\(text)")
            default: Issue.record("\(text): \(reference) vs \(atWorker)")
            }
        }
        for message in [ClusterMessage.heartbeat, .shutdown, .release, .released(.init(sampleIds: ["a"]))] {
            #expect(try codec.decodeAtWorker(try codec.encode(message), peer: "p") == message)
        }
    }

    @Test func shardsAreSizedByBytesWhenAskedAndBySamplesOtherwise() {
        // 1,000 samples of 100 bytes: 100,000 bytes.
        let small = Array(repeating: Int32(100), count: 1000)
        #expect(ShardPlanner.plan(sizes: small, maxSamples: 1024, minShards: 2, maxBytes: 1 << 20).count == 2)
        #expect(ShardPlanner.plan(sizes: small, maxSamples: 1024, minShards: 1, maxBytes: 10_000).count == 10)
        #expect(ShardPlanner.plan(sizes: small, maxSamples: 64, minShards: 1, maxBytes: 1 << 20).count == 16)
        // Without a byte limit the count depends on the sample count alone (the indexed split rule).
        #expect(ShardPlanner.plan(sizes: small, maxSamples: 1024, minShards: 3) == ShardPlanner.plan(sizes: small, maxSamples: 1024, minShards: 3, maxBytes: nil))
        #expect(ShardPlanner.plan(sizes: small, maxSamples: 1024, minShards: 3).count == 3)
        // Long conversations among short cases: no shard goes over the limit by more than one sample.
        var mixed: [Int32] = []
        for index in 0..<5000 { mixed.append(index % 50 == 0 ? 40_000 : 120) }
        let limit = 64 << 10
        let ranges = ShardPlanner.plan(sizes: mixed, maxSamples: 1024, minShards: 2, maxBytes: limit)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == mixed.count)
        for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        for range in ranges {
            #expect(range.count <= 1024)
            #expect(mixed[range].reduce(0) { $0 + Int($1) } <= limit + 40_000)
        }
    }

    @Test func aWriterWithAByteLimitWritesFewerLargerShards() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(3000)
        let byBytes = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("a"), samples: samples, setup: ClusterTestSupport.setup(),
            samplesPerShard: ClusterSpoolWriter.defaultSamplesPerShard, minShards: 2, maxShardBytes: ClusterSpoolWriter.defaultMaxShardBytes)
        let bySamples = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("b"), samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 64, minShards: 2)
        #expect(byBytes.manifest.shards.count == 3)
        #expect(bySamples.manifest.shards.count == 47)
        // The same lines, cut elsewhere.
        let all = try byBytes.manifest.shards.flatMap { try byBytes.samples(ofShard: $0.id) }
        #expect(all == (try bySamples.manifest.shards.flatMap { try bySamples.samples(ofShard: $0.id) }))
        #expect(all.map(\.sample) == samples)
    }
}
