import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@Suite struct RunnerBenchmarkTests {
    @Test func measuresASmallRun() async throws {
        let m = try await RunnerBenchmark.measure(
            target: RunnerBenchmark.inProcessTarget(latencyMs: 0), samples: 300, latencyMs: 0, concurrency: 16)
        #expect(m.ok == 300 && m.failed == 0)
        #expect(m.ratioToIdeal == nil)
        #expect(m.addedLatencyP50Ms != nil)
        #expect(m.peakRSSBytes.map { $0 > 0 } ?? true)
    }

    @Test func syntheticSamplesAreLazyAndUnique() async {
        var ids = Set<String>()
        for await sample in SyntheticSamples(count: 1000) { ids.insert(sample.id) }
        #expect(ids.count == 1000)
    }

    /// Prints figures for the Runner alone (no HTTP). Run with `RUNNER_BENCH=1 swift test --filter RunnerBenchmarkTests`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RUNNER_BENCH"] != nil))
    func inProcessFigures() async throws {
        for (samples, latency, concurrency) in [(5000, 50.0, 64), (10_000, 0.0, 64), (1_000_000, 0.0, 64)] {
            let m = try await RunnerBenchmark.measure(
                target: RunnerBenchmark.inProcessTarget(latencyMs: latency), samples: samples, latencyMs: latency,
                concurrency: concurrency)
            print("in-process: " + RunnerBenchmark.describe(m))
        }
    }
}
