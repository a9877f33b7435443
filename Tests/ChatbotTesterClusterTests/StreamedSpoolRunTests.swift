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
    /// 300 samples, their records played by one process, and where a run of them keeps its spool and output.
    struct Run {
        let directory: URL
        let samples = ClusterTestSupport.samples(300)
        let setup = ClusterTestSupport.setup()
        let expected: [ClusterRecord]
        var spool: URL { directory.appendingPathComponent("spool") }
        var output: URL { directory.appendingPathComponent("out") }

        init() async throws {
            directory = try ClusterTestSupport.temporaryDirectory()
            expected = try await ClusterTestSupport.singleProcess(samples, setup: setup)
        }
    }

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
        let run = try await Run()
        defer { try? FileManager.default.removeItem(at: run.directory) }
        let (samples, setup, expected, spool, output) = (run.samples, run.setup, run.expected, run.spool, run.output)
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

    /// A spool that holds its shards (`holdsShards`, what `test --workers` writes): the workers
    /// are welcomed while the dataset is read — they join, and nothing is played nor announced —
    /// and the shards are handed out the moment the writer releases them, before `finish()` makes
    /// them durable and writes the manifest.
    @Test func heldShardsWaitForTheirReleaseWhileTheWorkersJoinAndPlayBeforeTheManifest() async throws {
        let run = try await Run()
        defer { try? FileManager.default.removeItem(at: run.directory) }
        let (samples, setup, expected, spool, output) = (run.samples, run.setup, run.expected, run.spool, run.output)
        let sink = RecordingClusterSink()
        let events = EventBus()
        events.subscribe(sink)
        let joined: @Sendable () -> Int = { sink.events.current.filter { if case .workerJoined = $0 { return true } else { return false } }.count }
        let announced: @Sendable () -> [Int] = { sink.events.current.compactMap { event -> Int? in if case .runStarted(let total, _) = event { return total } else { return nil } } }
        // What the source saw: workers joined before the release, no record or announcement
        // before it, a record before the manifest.
        let beforeRelease = Locked<(joined: Int, recorded: Bool, announced: [Int])>((0, true, [1]))
        let playedBeforeManifest = Locked(false)
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(
                streaming: { started in
                    let writer = try ClusterSpoolWriter(
                        at: spool, setup: setup, samplesPerShard: 64, minShards: 2, streamingShards: 1 << 20, holdsShards: true)
                    started(try #require(writer.partialSpool))
                    for sample in samples { try writer.add(sample) }
                    let deadline = Date().addingTimeInterval(60)
                    while joined() < 2 && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
                    // A moment for an assignment that should not come.
                    try await Task.sleep(nanoseconds: 200_000_000)
                    let journal = spool.appendingPathComponent("journal.jsonl")
                    beforeRelease.withLock {
                        $0 = (joined(), (try? Data(contentsOf: journal))?.contains(0x0A) ?? false, announced())
                    }
                    try writer.releaseShards()
                    #expect(throws: ChatbotTesterError.self) { try writer.add(samples[0]) }
                    let played = try await Self.waitForARecord(in: spool)
                    playedBeforeManifest.withLock { $0 = played && !ClusterSpool.exists(at: spool) }
                    return try writer.finish()
                }, options: ClusterTestSupport.options(workers: 2, spool: spool, output: output), events: events)
        }
        let seen = beforeRelease.current
        #expect(seen.joined == 2 && !seen.recorded && seen.announced.isEmpty, "\(seen)")
        #expect(playedBeforeManifest.current)
        #expect(announced() == [300])
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
