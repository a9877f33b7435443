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

    @Test func syntheticSamplesAreLazyAndUnique() async {
        var ids = Set<String>()
        for await sample in SyntheticSamples(count: 1000) { ids.insert(sample.id) }
        #expect(ids.count == 1000)
    }
}
