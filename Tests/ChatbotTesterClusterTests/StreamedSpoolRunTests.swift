import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// A spool written shard by shard while the run plays (`ClusterSpoolWriter` with
/// `streamingShards`, `ClusterRun.run(streaming:)`): shards are served as they are committed, the
/// run completes once the spool does, and a spool that was never completed is written again.
@Suite(.serialized) struct StreamedSpoolRunTests {
    /// Waits (up to `seconds`) until the journal holds a line.
    static func waitForARecord(in spool: URL, seconds: Double = 60) async throws -> Bool {
        let journal = spool.appendingPathComponent("journal.jsonl")
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let data = try? Data(contentsOf: journal), data.contains(0x0A) { return true }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return false
    }

    @Test func shardsAreCutAsSamplesComeFirstOnesSmallAndListedBeforeTheManifest() throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("spool")
        let samples = ClusterTestSupport.samples(1_000)
        let writer = try ClusterSpoolWriter(
            at: directory, setup: ClusterTestSupport.setup(), samplesPerShard: 300, minShards: 2, maxShardBytes: 1 << 20, streamingShards: 1 << 30)
        let partial = try #require(writer.partialSpool)
        #expect(partial.isPartial && !ClusterSpool.exists(at: directory))
        for sample in samples.prefix(64) { try writer.add(sample) }
        // The first shard (64 samples) is committed and readable at once; no manifest yet.
        #expect(try partial.samples(ofShard: 0).map(\.sample) == Array(samples.prefix(64)))
        #expect(!ClusterSpool.exists(at: directory))
        for sample in samples.dropFirst(64) { try writer.add(sample) }
        let spool = try writer.finish()
        #expect(!spool.isPartial && spool.manifest.sampleCount == 1_000)
        #expect(spool.manifest.shards.map(\.count) == [64, 128, 256, 300, 252])
        let reopened = try ClusterSpool.open(at: directory)
        #expect(reopened.manifest == spool.manifest)
        #expect(try reopened.manifest.shards.flatMap { try reopened.samples(ofShard: $0.id) }.map(\.sample) == samples)
        // The expected size's share bounds a shard too (about `minShards` of them at least).
        let cut = StreamingCut(expectedBytes: 10_000, maxSamples: 1_024, minShards: 4, maxBytes: 1 << 20)
        #expect(cut.maxBytes == 2_500 && cut.closes(samples: 10, bytes: 2_500, shard: 5) && !cut.closes(samples: 10, bytes: 2_499, shard: 5))
    }

    /// The coordinator hands out the first shard while the rest of the dataset is still unread:
    /// here the source waits for a journaled record before it gives the other samples.
    @Test func theFirstShardIsPlayedBeforeTheDatasetIsFullyRead() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(300)
        let setup = ClusterTestSupport.setup()
        let expected = try await ClusterTestSupport.singleProcess(samples, setup: setup)
        let spool = directory.appendingPathComponent("spool")
        let output = directory.appendingPathComponent("out")
        let sawRecordWhileSpooling = Locked(false)
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(
                streaming: { started in
                    let writer = try ClusterSpoolWriter(at: spool, setup: setup, samplesPerShard: 64, minShards: 2, streamingShards: 1 << 20)
                    started(try #require(writer.partialSpool))
                    for sample in samples.prefix(64) { try writer.add(sample) }
                    let played = try await Self.waitForARecord(in: spool)
                    sawRecordWhileSpooling.withLock { $0 = played && !ClusterSpool.exists(at: spool) }
                    for sample in samples.dropFirst(64) { try writer.add(sample) }
                    return try writer.finish()
                }, options: ClusterTestSupport.options(workers: 2, spool: spool, output: output))
        }
        #expect(sawRecordWhileSpooling.current)
        #expect(outcome.stats.stopReason == .completed && outcome.stats.total == 300 && outcome.mergedSamples == 300)
        #expect(try ClusterTestSupport.encoded(outcome.records()) == ClusterTestSupport.encoded(expected))
        #expect(try ClusterTestSupport.journalIds(spool).sorted() == samples.map(\.id).sorted())
    }

    /// A spool that fails between shards (a bad line found late, a crash) stops the run with that
    /// error; the next run finds no manifest, writes the spool again (planned at the end, as a
    /// journal is there) and resumes what the first journaled: every sample once.
    @Test func aSpoolThatFailsBetweenShardsStopsTheRunAndIsWrittenAgainNextTime() async throws {
        struct BadLine: Error {}
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(200)
        let setup = ClusterTestSupport.setup()
        let spool = directory.appendingPathComponent("spool")
        await #expect(throws: BadLine.self) {
            _ = try await withTimeout(120) {
                try await ClusterRun.run(
                    streaming: { started in
                        let writer = try ClusterSpoolWriter(at: spool, setup: setup, samplesPerShard: 64, streamingShards: 1 << 20)
                        started(try #require(writer.partialSpool))
                        do {
                            for sample in samples.prefix(100) { try writer.add(sample) }
                            _ = try await Self.waitForARecord(in: spool)
                            throw BadLine()
                        } catch {
                            writer.abandon(error)
                            throw error
                        }
                    }, options: ClusterTestSupport.options(workers: 2, spool: spool))
            }
        }
        #expect(!ClusterSpool.exists(at: spool))
        let kept = try ClusterTestSupport.journalIds(spool)
        #expect(!kept.isEmpty && kept.allSatisfy { id in samples.prefix(100).contains { $0.id == id } })
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(
                streaming: { started in
                    let writer = try ClusterSpoolWriter(at: spool, setup: setup, samplesPerShard: 64, streamingShards: 1 << 20)
                    #expect(writer.partialSpool == nil)  // a journal to resume: planned at the end
                    if let partial = writer.partialSpool { started(partial) }
                    for sample in samples { try writer.add(sample) }
                    return try writer.finish()
                }, options: ClusterTestSupport.options(workers: 2, spool: spool, output: directory.appendingPathComponent("out")))
        }
        #expect(outcome.stats.stopReason == .completed && outcome.stats.resumed == Set(kept).count && outcome.mergedSamples == 200)
        #expect(try ClusterTestSupport.journalIds(spool).count == 200)
        let reference = try await ClusterTestSupport.singleProcess(samples, setup: setup)
        #expect(try ClusterTestSupport.encoded(outcome.records()) == ClusterTestSupport.encoded(reference))
        // A third run resumes the complete spool: nothing is played again.
        let resumed = try await withTimeout(120) {
            try await ClusterRun.run(
                streaming: { started in
                    let writer = try ClusterSpoolWriter(at: spool, setup: setup, samplesPerShard: 64, streamingShards: 1 << 20)
                    #expect(writer.partialSpool == nil)
                    for sample in samples { try writer.add(sample) }
                    return try writer.finish()
                }, options: ClusterTestSupport.options(workers: 1, spool: spool))
        }
        #expect(resumed.stats.resumed == 200 && resumed.stats.journaled == 200)
    }
}
