import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Spooling from a stream (`ClusterSpoolWriter`, the `AsyncSequence` overload) against the array API.
@Suite struct StreamingSpoolTests {
    /// Samples of very different sizes, so size balancing moves the cuts.
    static func samples(_ count: Int) -> [TestSample] {
        (0..<count).map { index in
            TestSample(id: "case-\(index)", input: "q\(index) " + String(repeating: "long conversation ", count: index % 11 == 0 ? 40 : index % 4))
        }
    }

    static func stream(_ samples: [TestSample]) -> AsyncStream<TestSample> {
        AsyncStream { continuation in
            for sample in samples { continuation.yield(sample) }
            continuation.finish()
        }
    }

    static func shardFiles(_ spool: ClusterSpool) throws -> [Data] {
        try spool.manifest.shards.map { try Data(contentsOf: spool.directory.appendingPathComponent($0.file)) }
    }

    @Test func streamedSourceGivesTheSameManifestAndShardsAsTheArrayAPI() async throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let samples = Self.samples(150)
        let setup = ClusterTestSupport.setup()
        let fromArray = try ClusterSpool.prepare(
            at: root.appendingPathComponent("array"), samples: samples, setup: setup, samplesPerShard: 16, minShards: 3, runId: "run")
        let fromStream = try await ClusterSpool.prepare(
            at: root.appendingPathComponent("stream"), samples: Self.stream(samples), setup: setup, samplesPerShard: 16, minShards: 3,
            runId: "run")
        #expect(fromStream.manifest == fromArray.manifest)
        #expect(try Self.shardFiles(fromStream) == Self.shardFiles(fromArray))
        // The cuts are the planner's, from each line's encoded size.
        let encoder = JSONCoding.encoder()
        let sizes = try samples.enumerated().map { try encoder.encode(IndexedSample(index: $0.offset, sample: $0.element)).count }
        let ranges = ShardPlanner.plan(sizes: sizes, maxSamples: 16, minShards: 3)
        #expect(fromStream.manifest.shards.map { $0.firstIndex..<($0.firstIndex + $0.count) } == ranges)
        #expect(fromStream.manifest.shards.map(\.bytes) == ranges.map { range in range.reduce(0) { $0 + sizes[$1] + 1 } })
        #expect(try fromStream.manifest.shards.flatMap { try fromStream.samples(ofShard: $0.id) }.map(\.sample) == samples)
        // No scratch file is left behind.
        #expect(!FileManager.default.fileExists(atPath: fromStream.directory.appendingPathComponent("lines.tmp").path))
    }

    /// Shard file names are the ones `String(format: "shards/shard-%05d.jsonl", id)` wrote (spools
    /// written before session 25 are read by the same names).
    @Test func shardFileNamesAreTheFormattedOnes() {
        for id in [0, 1, 9, 10, 42, 999, 1_000, 9_999, 12_345, 99_999, 100_000, 1_234_567] {
            #expect(ClusterSpoolWriter.shardFile(id) == String(format: "shards/shard-%05d.jsonl", id), "\(id)")
        }
    }

    @Test func plannerGivesTheSameCutsForInt32Sizes() {
        let sizes = (0..<500).map { ($0 * 7919) % 300 + 1 }
        #expect(ShardPlanner.plan(sizes: sizes.map(Int32.init), maxSamples: 32, minShards: 5) == ShardPlanner.plan(sizes: sizes, maxSamples: 32, minShards: 5))
    }

    @Test func duplicateIdInAStreamIsAnErrorNamingTheLineAndLeavesNoSpool() async throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var samples = Self.samples(5)
        samples.append(TestSample(id: "case-2", input: "again"))
        let directory = root.appendingPathComponent("spool")
        await #expect {
            _ = try await ClusterSpool.prepare(at: directory, samples: Self.stream(samples), setup: ClusterTestSupport.setup())
        } throws: { error in
            guard let error = error as? ChatbotTesterError else { return false }
            return error.code == .invalidInput && error.location?.line == 6 && error.location?.field == "id" && error.message.contains("case-2")
        }
        #expect(!ClusterSpool.exists(at: directory))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("lines.tmp").path))
    }

    /// A spool cut as samples come: each committed shard takes its own ids (the writer keeps no
    /// second list of all of them), the manifest is streamed to its file with the digest its
    /// sidecar names (the spool opens: every digest checked), and it lists every id in dataset
    /// order. A writer told its caller refused duplicates already (`checksIds: false`) takes a
    /// repeated id without a check of its own; by default the same id is refused, naming its line.
    @Test func aStreamedSpoolsShardsHoldTheirIdsAndItsManifestIsDigested() throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let samples = Self.samples(700)
        let directory = root.appendingPathComponent("spool")
        let writer = try ClusterSpoolWriter(
            at: directory, setup: ClusterTestSupport.setup(), samplesPerShard: 64, minShards: 2, maxShardBytes: 1 << 20, streamingShards: 1 << 16,
            checksIds: false)
        for sample in samples { try writer.add(sample) }
        let spool = try writer.finish()
        #expect(spool.manifest.shards.count > 2)
        #expect(spool.manifest.shards.flatMap(\.sampleIds) == samples.map(\.id))
        #expect(spool.manifest.shards.allSatisfy { $0.sampleIds.count == $0.count })
        let reopened = try ClusterSpool.open(at: directory)
        #expect(reopened.manifest == spool.manifest)
        let sidecar = try String(contentsOf: directory.appendingPathComponent(ClusterSpool.manifestDigestFile), encoding: .utf8)
        #expect(sidecar == "\(SpoolDigest.sha256(try Data(contentsOf: directory.appendingPathComponent(ClusterSpool.manifestFile))))  \(ClusterSpool.manifestFile)\n")
        #expect(try Data(contentsOf: directory.appendingPathComponent(ClusterSpool.manifestFile)) == spool.manifest.prettyJSON())
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)

        let unchecked = try ClusterSpoolWriter(
            at: root.appendingPathComponent("unchecked"), setup: ClusterTestSupport.setup(), streamingShards: 1 << 16, checksIds: false)
        try unchecked.add(samples[0])
        try unchecked.add(samples[0])
        #expect(unchecked.count == 2)
        let checked = try ClusterSpoolWriter(at: root.appendingPathComponent("checked"), setup: ClusterTestSupport.setup(), streamingShards: 1 << 16)
        try checked.add(samples[0])
        #expect { try checked.add(samples[0]) } throws: { ($0 as? ChatbotTesterError)?.location?.line == 2 }
    }

    /// A spool that holds its shards writes them in the background, in order: the same shards,
    /// digests and manifest as one that writes each at once; a shard that cannot be written there
    /// fails the pass (at a later shard or at the release), naming the file, and leaves no spool.
    @Test func heldShardsWrittenInTheBackgroundAreTheSameAndTheirFailureStopsThePass() throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let samples = Self.samples(1_500)
        func spool(_ name: String, holds: Bool) throws -> ClusterSpool {
            let writer = try ClusterSpoolWriter(
                at: root.appendingPathComponent(name), setup: ClusterTestSupport.setup(), samplesPerShard: 64, minShards: 2,
                maxShardBytes: 1 << 20, runId: "run", streamingShards: 1 << 16, checksIds: false, holdsShards: holds)
            for sample in samples { try writer.add(sample) }
            try writer.releaseShards()
            return try writer.finish()
        }
        let background = try spool("held", holds: true), atOnce = try spool("direct", holds: false)
        #expect(background.manifest.shards.count > 10)
        #expect(background.manifest == atOnce.manifest)
        for shard in background.manifest.shards {
            let file = "held/" + shard.file, other = "direct/" + shard.file
            #expect(try Data(contentsOf: root.appendingPathComponent(file)) == Data(contentsOf: root.appendingPathComponent(other)))
        }

        let broken = root.appendingPathComponent("broken")
        let writer = try ClusterSpoolWriter(
            at: broken, setup: ClusterTestSupport.setup(), samplesPerShard: 64, streamingShards: 1 << 16, checksIds: false, holdsShards: true)
        // A file where the shards' directory was: no shard file can be made in it.
        try FileManager.default.removeItem(at: broken.appendingPathComponent("shards"))
        try Data("not a directory".utf8).write(to: broken.appendingPathComponent("shards"))
        var failure: (any Error)?
        do {
            for sample in samples { try writer.add(sample) }
            try writer.releaseShards()
        } catch {
            failure = error
        }
        #expect("\(failure.map { String(describing: $0) } ?? "no error")".contains("shard-00000.jsonl"), "\(String(describing: failure))")
        #expect((try? writer.finish()) == nil)
        #expect(!ClusterSpool.exists(at: broken))
    }

    @Test func reopeningFromAStreamChecksSetupAndSampleCount() async throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let samples = Self.samples(20)
        let directory = root.appendingPathComponent("spool")
        let first = try await ClusterSpool.prepare(at: directory, samples: Self.stream(samples), setup: ClusterTestSupport.setup(), samplesPerShard: 8)
        let reopened = try await ClusterSpool.prepare(at: directory, samples: Self.stream(samples), setup: ClusterTestSupport.setup(), samplesPerShard: 8)
        #expect(reopened.manifest == first.manifest)
        await #expect {
            _ = try await ClusterSpool.prepare(at: directory, samples: Self.stream(Array(samples.dropLast())), setup: ClusterTestSupport.setup())
        } throws: { error in
            (error as? ChatbotTesterError)?.code == .invalidConfig
        }
        await #expect {
            _ = try await ClusterSpool.prepare(at: directory, samples: Self.stream(samples), setup: ClusterTestSupport.setup(delayMs: 5))
        } throws: { error in
            (error as? ChatbotTesterError)?.code == .invalidConfig
        }
    }

    @Test func streamErrorsPropagateAndLeaveNoSpool() async throws {
        struct Broken: Error {}
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("spool")
        let source = AsyncThrowingStream<TestSample, any Error> { continuation in
            continuation.yield(TestSample(id: "a", input: "x"))
            continuation.finish(throwing: Broken())
        }
        await #expect(throws: Broken.self) {
            _ = try await ClusterSpool.prepare(at: directory, samples: source, setup: ClusterTestSupport.setup())
        }
        #expect(!ClusterSpool.exists(at: directory))
    }

    @Test func anInterruptedSpoolWithoutManifestIsRebuilt() async throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("spool")
        // What a coordinator killed while spooling leaves: a scratch file and some shards, no manifest.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("shards"), withIntermediateDirectories: true)
        try Data("{\"torn".utf8).write(to: directory.appendingPathComponent("lines.tmp"))
        try Data("garbage\n".utf8).write(to: directory.appendingPathComponent("shards/shard-00000.jsonl"))
        let samples = Self.samples(30)
        let spool = try await ClusterSpool.prepare(at: directory, samples: Self.stream(samples), setup: ClusterTestSupport.setup(), samplesPerShard: 8)
        #expect(spool.manifest.sampleCount == 30)
        #expect(try spool.manifest.shards.flatMap { try spool.samples(ofShard: $0.id) }.map(\.index) == Array(0..<30))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("lines.tmp").path))
    }

    @Test func manifestIsWrittenByteForByteAsTheWholeDocumentEncoderWritesIt() throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let encoder = JSONCoding.encoder(pretty: true)
        for (name, count, perShard) in [("many", 40, 7), ("one", 3, 64), ("escaped", 2, 1), ("awkward", 7, 3)] {
            var samples = Self.samples(count)
            if name == "escaped" { samples[1].id = "line\nbreak \"quoted\" / slash" }
            if name == "awkward" { samples = ["é", "💥\u{0}", "\\", "\u{7f}\u{2028}", "tab\t", "a b", "}"].map { TestSample(id: $0, input: "x") } }
            let spool = try ClusterSpool.prepare(at: root.appendingPathComponent(name), samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: perShard)
            let expected = try encoder.encode(spool.manifest)
            #expect(try spool.manifest.prettyJSON() == expected, "\(name)")
            #expect(try Data(contentsOf: spool.manifestURL) == expected, "\(name)")
        }
        let empty = ClusterManifest(runId: "r", sampleCount: 0, setupDigest: "d", setupSHA256: "s", shards: [])
        #expect(try empty.prettyJSON() == encoder.encode(empty))
    }
}
