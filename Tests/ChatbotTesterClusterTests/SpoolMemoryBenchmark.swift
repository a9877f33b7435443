import ChatbotTesterCore
import ChatbotTesterPipeline
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Peak memory of spooling a large dataset. Prints figures; runs only with `CT_BENCH=1`:
///
/// ```
/// CT_BENCH=1 swift test --skip-build --filter SpoolMemoryBenchmark
/// ```
/// Each case resets the process's peak RSS (`/proc/self/clear_refs`) and reads `VmHWM` after
/// spooling, so run one case at a time for clean figures (`--filter` the case name).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CT_BENCH"] == "1"))
struct SpoolMemoryBenchmark {
    static var count: Int { Int(ProcessInfo.processInfo.environment["CT_BENCH_SAMPLES"] ?? "") ?? 200_000 }

    /// A generated case of a few hundred bytes, like a support-bot dataset line.
    static func sample(_ index: Int) -> TestSample {
        TestSample(
            id: "case-\(index)",
            input: "Customer \(index) asks: I ordered a jacket three weeks ago and it still has not arrived; "
                + String(repeating: "can you check the tracking and tell me when it will come? ", count: 1 + index % 5),
            expected: "apologise, check tracking, give an estimate", criteria: "polite and specific",
            tags: ["shipping", index % 2 == 0 ? "even" : "odd"], metadata: ["n": .int(index)])
    }

    /// A `/proc/self/status` figure in kB: `VmHWM` (peak resident memory since the last reset) or `VmRSS`.
    static func statusKB(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    /// Resets VmHWM to the current RSS (Linux ≥ 4.0).
    static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    static func measure(_ label: String, _ body: (URL) async throws -> ClusterSpool) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        resetPeak()
        let before = statusKB("VmRSS")
        let start = Date()
        let spool = try await body(directory.appendingPathComponent("spool"))
        let seconds = Date().timeIntervalSince(start)
        let peak = statusKB("VmHWM")
        let bytes = spool.manifest.shards.reduce(0) { $0 + $1.bytes }
        print(String(
            format: "[bench] spool %@: %d samples, %d shards, %.1f MB of shard files, %.1fs; RSS before %.1f MB, peak %.1f MB (+%.1f MB)",
            label, spool.manifest.sampleCount, spool.manifest.shards.count, Double(bytes) / 1e6, seconds,
            Double(before) / 1024, Double(peak) / 1024, Double(peak - before) / 1024))
        #expect(spool.manifest.sampleCount == count)
        // What the digests cost: opening (manifest and setup hashed, shard sizes checked) and
        // reading every shard as the coordinator does before assigning it (each one hashed).
        let openStart = Date()
        let reopened = try ClusterSpool.open(at: spool.directory)
        let openSeconds = Date().timeIntervalSince(openStart)
        let readStart = Date()
        var read = 0
        for shard in reopened.manifest.shards { read += try reopened.samples(ofShard: shard.id).count }
        print(String(
            format: "[bench] spool %@: open (digests checked) %.2fs; reading all %d shards (each hashed and decoded) %.2fs",
            label, openSeconds, reopened.manifest.shards.count, Date().timeIntervalSince(readStart)))
        #expect(read == count)
        let hashStart = Date()
        var hasher = SHA256Hasher()
        for shard in reopened.manifest.shards {
            let data = try Data(contentsOf: reopened.directory.appendingPathComponent(shard.file))
            data.withUnsafeBytes { hasher.update($0) }
        }
        _ = hasher.finalizeHex()
        print(String(format: "[bench] spool %@: of which SHA-256 of the shard files alone %.2fs", label, Date().timeIntervalSince(hashStart)))
    }

    /// The old coordinator path: every case collected into an array, then spooled.
    @Test func arrayOfSamples() async throws {
        try await Self.measure("array") { url in
            let samples = (0..<Self.count).map(Self.sample)
            return try ClusterSpool.prepare(at: url, samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 64, minShards: 4)
        }
    }

    /// The coordinator path now: cases pulled one at a time from a stream, never all in memory.
    @Test func streamOfSamples() async throws {
        try await Self.measure("stream") { url in
            try await ClusterSpool.prepare(
                at: url, samples: Generated(count: Self.count), setup: ClusterTestSupport.setup(), samplesPerShard: 64, minShards: 4)
        }
    }

    /// The coordinator's real source: a JSONL dataset file read by `DatasetReader` (written first,
    /// before the peak is reset).
    @Test func datasetFile() async throws {
        let root = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let dataset = root.appendingPathComponent("dataset.jsonl")
        let writer = try JSONLWriter(url: dataset)
        for index in 0..<Self.count { try writer.write(Self.sample(index)) }
        try writer.close()
        try await Self.measure("dataset file") { url in
            try await ClusterSpool.prepare(
                at: url, samples: DatasetReader(url: dataset).samples(), setup: ClusterTestSupport.setup(), samplesPerShard: 64, minShards: 4)
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
                return SpoolMemoryBenchmark.sample(index)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(count: count) }
    }
}
