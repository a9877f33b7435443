import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct EvaluatorStreamTests {
    static func backends(chat: MockChatBackend, embed: MockEmbeddingBackend = MockEmbeddingBackend()) -> BackendSet {
        var registry = BackendRegistry()
        registry.register("mock-chat") { _, _ in chat }
        registry.register("mock-embed") { _, _ in embed }
        return BackendSet(
            config: RegistryConfig(["judge": ComponentSpec(type: "mock-chat"), "embed": ComponentSpec(type: "mock-embed")]), registry: registry)
    }

    static func stream(_ runs: [RunRecord]) -> AsyncStream<RunRecord> {
        AsyncStream { continuation in
            for run in runs { continuation.yield(run) }
            continuation.finish()
        }
    }

    @Test func boundedConcurrencyAndInputOrder() async throws {
        let judge = MockChatBackend(gated: true) { _, index in
            ChatResponse(content: #"{"score": \#(index % 5 + 1), "reason": "vote \#(index)"}"#)
        }
        let bus = EventBus()
        let sink = RecordingEventSink()
        bus.subscribe(sink)
        let evaluator = try await Evaluator(
            specs: [ComponentSpec(type: "llm-judge", options: ["backend": "judge", "rubric": "r"]), ComponentSpec(type: "json-valid")],
            backends: Self.backends(chat: judge), events: bus, concurrency: 3)
        let runs = (0..<12).map { Fixtures.run("s\($0)", reply: "{}") }
        let seen = Locked<[String]>([])
        async let aggregate = evaluator.evaluate(Self.stream(runs)) { sample in
            seen.withLock { $0.append(sample.sampleId) }
        }
        await judge.waitForInFlight(3)
        #expect(judge.inFlight == 3)
        #expect(seen.current.isEmpty)
        judge.open()
        let result = try await aggregate
        #expect(judge.maxInFlight == 3)
        #expect(seen.current == runs.map(\.sampleId))  // input order, whatever order the judge finished in
        #expect(result.runs.samples == 12)
        #expect(result.metrics["llm-judge"]?.scored == 12)
        #expect(result.metrics["json-valid"]?.passed == 12)
        await bus.shutdown()
        #expect(sink.count(kind: EvalSampleCompleted.kind) == 12)
        #expect(sink.events(of: EvalSampleCompleted.self).map(\.sampleId) == runs.map(\.sampleId))
        #expect(sink.kinds.first == EvalStageChanged.kind)
        #expect(sink.kinds.last == EvalStageChanged.kind)
    }

    @Test func rejectedResultLinesAreEvents() async throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("results.jsonl")
        var data = try JSONL.encodeLine(Fixtures.run("ok"))
        data.append(Data("not json\n".utf8))
        data.append(try JSONL.encodeLine(Fixtures.run("ok2")))
        try data.write(to: results)
        let bus = EventBus()
        let sink = RecordingEventSink()
        bus.subscribe(sink)
        let evaluator = try await Evaluator(specs: [ComponentSpec(type: "length", options: ["max": 100])], events: bus)
        let outcome = try await evaluator.evaluateFile(results: results, outputDirectory: dir)
        await bus.shutdown()
        #expect(outcome.summary.aggregate.runs.samples == 2)
        let rejected = sink.events(of: EvalInputRejected.self)
        #expect(rejected.count == 1)
        #expect(rejected.first?.line == 2)
        #expect(rejected.first?.source == results.path)
        #expect(outcome.summary.passed)
    }

    @Test func mockEmbeddingsDriveSimilarity() async throws {
        let embed = MockEmbeddingBackend(dimensions: 16)
        let backends = Self.backends(chat: MockChatBackend(), embed: embed)
        let same = try await Fixtures.evaluate(
            ["type": "embedding-similarity", "backend": "embed", "threshold": 0.99], Fixtures.run("a", reply: "30 days", expected: "30 days"),
            backends: backends)
        #expect(abs((same.score ?? 0) - 1) < 1e-9)
        #expect(same.passed == true)
        #expect(embed.recordedCalls == [["30 days", "30 days"]])
    }

    @Test func judgeErrorsFromTheMockAreUnmeasured() async throws {
        let judge = MockChatBackend(script: [.serverError, .text("not json"), .text("still not json")])
        let backends = Self.backends(chat: judge)
        let evaluator = try await Evaluator(
            specs: [ComponentSpec(type: "tone", options: ["backend": "judge", "tone": "formal"])], backends: backends, concurrency: 1)
        let first = await evaluator.evaluate(Fixtures.run("a"))
        #expect(first.first?.status == .unmeasured)
        #expect(first.first?.reason?.contains("internal server error") == true)
        let second = await evaluator.evaluate(Fixtures.run("b"))
        #expect(second.first?.status == .unmeasured)
        #expect(second.first?.reason?.contains("still not json") == true)
        #expect(judge.callCount == 3)
    }

    /// Prints evaluation and report throughput (a benchmark, not a timed assertion).
    /// `CHATBOT_TESTER_BENCH_SAMPLES=200000 swift test --filter evaluatorThroughput` for a large run.
    @Test func evaluatorThroughput() async throws {
        let count = Int(ProcessInfo.processInfo.environment["CHATBOT_TESTER_BENCH_SAMPLES"] ?? "") ?? 2000
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("results.jsonl")
        let writer = try JSONLWriter(url: results)
        for i in 0..<count {
            try writer.write(
                Fixtures.run("s\(i)", reply: "Refunds are possible within 30 days of purchase, sample \(i).", expected: "within 30 days", tags: ["t\(i % 5)"],
                    latencyMs: Double(50 + i % 900), costUSD: 0.0001))
        }
        try writer.close()
        let specs = [
            ComponentSpec(type: "contains", options: ["value": "30 days"]), ComponentSpec(type: "regex", options: ["pattern": #"\d+ days"#]),
            ComponentSpec(type: "length", options: ["max": 200]), ComponentSpec(type: "rouge-l"), ComponentSpec(type: "bleu"),
            ComponentSpec(type: "latency", options: ["max": 800]),
        ]
        let evaluator = try await Evaluator(specs: specs, concurrency: 8)
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await evaluator.evaluateFile(results: results, outputDirectory: dir)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(outcome.summary.aggregate.runs.samples == count)
        let html = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("report.html").path)[.size] as? Int ?? 0
        print(
            "evaluator bench: \(count) samples × \(specs.count) metrics in \(String(format: "%.2f", seconds)) s = "
                + "\(String(format: "%.0f", Double(count) / seconds)) samples/s (evals + 5 reports); report.html \(html / 1024) KiB")
    }
}
