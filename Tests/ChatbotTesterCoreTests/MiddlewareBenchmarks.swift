import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// Prints throughput figures of the middleware and the event log; asserts only on counts, never on time.
@Suite struct MiddlewareBenchmarks {
    func report(_ label: String, count: Int, _ elapsed: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("[bench] \(label): \(count) in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / max(seconds, 1e-9)))/s")
    }

    @Test func fullStackOverhead() async throws {
        let count = 20_000
        let mock = MockChatBackend { request, _ in ChatResponse(content: "ok", usage: Usage(promptTokens: 3, completionTokens: 1), model: "gpt-4o-mini") }
        let bot = try await makeBot(
            ["retry": 3, "rateLimit": ["requestsPerMinute": 1e9, "tokensPerMinute": 1e12], "concurrency": 64,
             "adaptiveConcurrency": true, "timeoutSeconds": 60],
            mock: mock, environment: .system)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<64 {
                group.addTask {
                    for i in stride(from: worker, to: count, by: 64) { _ = try await bot.send(.user("question \(i)")) }
                }
            }
            try await group.waitForAll()
        }
        report("chat calls through retry+rate+pool+timeout+accounting", count: count, ContinuousClock.now - start)
        #expect(mock.callCount == count)
        #expect(mock.maxInFlight <= 64)
    }

    @Test func cacheHits() async throws {
        let dir = try makeTemporaryDirectory()
        let mock = MockChatBackend()
        let bot = try await makeBot(["cache": true], mock: mock, environment: .system, stateDirectory: dir)
        for i in 0..<200 { _ = try await bot.send(.user("q\(i)")) }
        let count = 5_000
        let start = ContinuousClock.now
        for i in 0..<count { _ = try await bot.send(.user("q\(i % 200)")) }
        report("cache hits", count: count, ContinuousClock.now - start)
        #expect(mock.callCount == 200)
    }

    @Test(.cpuBound) func eventLogThroughput() async throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("events.jsonl")
        let bus = EventBus()
        bus.subscribe(try JSONLEventLogSink(url: url))
        let count = 50_000
        let start = ContinuousClock.now
        for i in 0..<count {
            bus.emit(BackendConcurrencyEvent(backend: "bot", limit: i, reason: "recovered"))
        }
        await bus.shutdown()
        report("JSONL event log lines", count: count, ContinuousClock.now - start)
        var lines = 0
        for try await _ in JSONL.lines(of: url) { lines += 1 }
        #expect(lines == count)
    }
}
