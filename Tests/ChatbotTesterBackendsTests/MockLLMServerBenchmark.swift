import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

/// Throughput of the mock server driven by the `openai` backend. Prints figures; asserts only counts.
/// Run with `CT_BENCH=1 swift test -c release --filter MockLLMServerBenchmark`.
@Suite("Mock LLM server benchmark", .enabled(if: ProcessInfo.processInfo.environment["CT_BENCH"] == "1"))
struct MockLLMServerBenchmark {
    static let levels: [Int] = (ProcessInfo.processInfo.environment["CT_BENCH_CONCURRENCY"] ?? "1,16,64")
        .split(separator: ",").compactMap { Int($0) }

    @Test("requests per second through the openai backend", arguments: levels)
    func throughput(concurrency: Int) async throws {
        let total = Int(ProcessInfo.processInfo.environment["CT_BENCH_REQUESTS"] ?? "") ?? 20_000
        try await withMockLLMServer(.init(recordCapacity: 256)) { server in
            let bot = try await makeChat("openai", ["baseURL": .string(server.openAIBaseURL), "model": "bench"])
            let request = ChatRequest(messages: [.system("You are a benchmark."), .user("How long do refunds take?")])
            _ = try await bot.send(request)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                let perWorker = total / concurrency
                for _ in 0..<concurrency {
                    group.addTask {
                        for _ in 0..<perWorker { _ = try await bot.send(request) }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let done = (total / concurrency) * concurrency
            print(
                "mock-server bench: \(done) requests, concurrency \(concurrency): \(Int(Double(done) / seconds)) req/s, "
                    + "max in flight \(server.stats.maxInFlight)")
            #expect(server.stats.requests == done + 1)
            #expect(server.stats.maxInFlight <= concurrency)
        }
    }
}
