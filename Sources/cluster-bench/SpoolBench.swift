import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterPipeline
import Foundation

/// Spooling a large dataset: time and peak memory of `ClusterSpool.prepare` fed from a JSONL
/// dataset file (`DatasetReader`, what `test --workers` does), a stream of cases made on demand, or
/// an array of every case (the SDK's array API), then what the digests cost on use: opening the
/// spool (manifest and setup hashed) and reading every shard as the coordinator does before it
/// assigns it (each hashed). Run one source per process for clean peaks.
enum SpoolBench {
    enum Source: String, CaseIterable {
        case file, stream, array
    }

    /// A generated case of a few hundred bytes, like a support-bot dataset line.
    static func sample(_ index: Int) -> TestSample {
        TestSample(
            id: "case-\(index)",
            input: "Customer \(index) asks: I ordered a jacket three weeks ago and it still has not arrived; "
                + String(repeating: "can you check the tracking and tell me when it will come? ", count: 1 + index % 5),
            expected: "apologise, check tracking, give an estimate", criteria: "polite and specific",
            tags: ["shipping", index % 2 == 0 ? "even" : "odd"], metadata: ["n": .int(index)])
    }

    static func run(samples count: Int, source: Source) async {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ctbench-spool-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let setup = ClusterJobSetup(registry: RegistryConfig(), job: nil)
            let url = root.appendingPathComponent("spool")
            let dataset = root.appendingPathComponent("dataset.jsonl")
            if source == .file {
                // Written before the peak is reset.
                let writer = try JSONLWriter(url: dataset)
                for index in 0..<count { try writer.write(sample(index)) }
                try writer.close()
            }
            Memory.resetPeak()
            let before = Memory.residentMB()
            let start = ContinuousClock.now
            let spool: ClusterSpool
            switch source {
            case .file:
                spool = try await ClusterSpool.prepare(
                    at: url, samples: DatasetReader(url: dataset).samples(), setup: setup, samplesPerShard: 64, minShards: 4)
            case .stream:
                spool = try await ClusterSpool.prepare(at: url, samples: Generated(count: count), setup: setup, samplesPerShard: 64, minShards: 4)
            case .array:
                let samples = (0..<count).map(sample)
                spool = try ClusterSpool.prepare(at: url, samples: samples, setup: setup, samplesPerShard: 64, minShards: 4)
            }
            let seconds = ClusterBench.seconds(since: start)
            let bytes = spool.manifest.shards.reduce(0) { $0 + $1.bytes }
            ClusterBench.print(String(
                format: "spool %@: %d samples, %d shards, %.1f MB of shard files, %.2f s; RSS before %.1f MB, peak %.1f MB (+%.1f MB)",
                source.rawValue, spool.manifest.sampleCount, spool.manifest.shards.count, Double(bytes) / 1e6, seconds, before,
                Memory.peakMB(), Memory.peakMB() - before))
            guard spool.manifest.sampleCount == count else {
                ClusterBench.print("spool bench failed: \(spool.manifest.sampleCount) samples spooled, \(count) expected")
                exit(1)
            }
            let openStart = ContinuousClock.now
            let reopened = try ClusterSpool.open(at: spool.directory)
            let openSeconds = ClusterBench.seconds(since: openStart)
            let readStart = ContinuousClock.now
            var read = 0
            for shard in reopened.manifest.shards { read += try reopened.samples(ofShard: shard.id).count }
            ClusterBench.print(String(
                format: "spool %@: open (digests checked) %.2f s; reading all %d shards (each hashed and decoded) %.2f s, %d samples",
                source.rawValue, openSeconds, reopened.manifest.shards.count, ClusterBench.seconds(since: readStart), read))
        } catch {
            ClusterBench.print("spool bench failed: \(error)")
            exit(1)
        }
    }

    /// `count` generated cases, made on demand.
    struct Generated: AsyncSequence, Sendable {
        typealias Element = TestSample
        let count: Int

        struct AsyncIterator: AsyncIteratorProtocol {
            let count: Int
            var index = 0

            mutating func next() async -> TestSample? {
                guard index < count else { return nil }
                defer { index += 1 }
                return SpoolBench.sample(index)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(count: count) }
    }
}
