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

    @Test func measuresASmallAgentRun() async throws {
        let m = try await RunnerBenchmark.measure(
            target: RunnerBenchmark.inProcessAgentTarget(latencyMs: 0), samples: 200, latencyMs: 0, concurrency: 16,
            tools: RunnerBenchmark.agentTools)
        #expect(m.ok == 200 && m.failed == 0)
        let record = await Runner(
            target: RunnerBenchmark.inProcessAgentTarget(latencyMs: 0), targetName: "bench",
            options: RunnerOptions(tools: RunnerBenchmark.agentTools)
        ).play(TestSample(id: "one", input: "go"))
        #expect(record.turns.count == 3 && record.toolCalls.map(\.name) == ["search", "book"])
        #expect(record.toolResults.map(\.content) == [#"{"flights":["BA303"]}"#, "booked"] && record.output == "Booked.")
    }

    /// Cases/s of a 3-step tool conversation (search → book → text) at latency 0, the Runner alone.
    /// Run with `CT_BENCH=1 swift test -c release --filter RunnerBenchmarkTests/agentFigures`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CT_BENCH"] == "1"))
    func agentFigures() async throws {
        for (samples, concurrency) in [(20_000, 64), (100_000, 64)] {
            for tools in [nil, RunnerBenchmark.agentTools] {
                let target = tools == nil ? RunnerBenchmark.inProcessTarget(latencyMs: 0) : RunnerBenchmark.inProcessAgentTarget(latencyMs: 0)
                let m = try await RunnerBenchmark.measure(target: target, samples: samples, latencyMs: 0, concurrency: concurrency, tools: tools)
                print((tools == nil ? "plain 1-call: " : "agent 3-step: ") + RunnerBenchmark.describe(m))
            }
        }
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
