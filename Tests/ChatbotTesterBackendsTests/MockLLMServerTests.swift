import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOCore
import Testing

@Suite("Mock LLM server")
struct MockLLMServerTests {
    func openAI(_ server: MockLLMServer, _ extra: [String: JSONValue] = [:]) async throws -> any ChatBackend {
        try await makeChat("openai", ["baseURL": .string(server.openAIBaseURL), "model": "m"].merging(extra) { $1 })
    }

    @Test("counts requests and the most in flight at once")
    func concurrency() async throws {
        // Long latency so all requests overlap however slow the machine: counted, not timed.
        try await withMockLLMServer(.init(latencyMs: 1500)) { server in
            let bot = try await openAI(server)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<6 {
                    group.addTask { _ = try await bot.send(ChatRequest(messages: [.user("q\(index)")])) }
                }
                try await group.waitForAll()
            }
            let stats = server.stats
            #expect(stats.requests == 6)
            #expect(stats.inFlight == 0)
            #expect(stats.maxInFlight == 6)
            #expect(stats.byPath["/v1/chat/completions"] == 6)
            #expect(stats.byStatus["200"] == 6)
        }
    }

    @Test("GET /stats and GET /requests answer JSON; /requests redacts credentials")
    func controlEndpoints() async throws {
        try await withMockLLMServer { server in
            let bot = try await openAI(server, ["apiKey": ["env": "TEST_API_KEY"]])
            _ = try await bot.send(ChatRequest(messages: [.user("hi")]))
            let client = BuiltinBackends.sharedHTTPClient
            let stats = try await client.send(HTTPRequest(url: server.baseURL + "/stats"), timeout: .seconds(10))
            let decoded = try JSONDecoder().decode(MockLLMServer.Stats.self, from: stats.body)
            #expect(decoded.requests == 1)
            let requests = try await client.send(HTTPRequest(url: server.baseURL + "/requests"), timeout: .seconds(10))
            let text = String(decoding: requests.body, as: UTF8.self)
            #expect(text.contains("[redacted]"))
            #expect(!text.contains(fakeKey))
            #expect(server.stats.requests == 1, "control endpoints are not counted")
            _ = try await client.send(HTTPRequest(.POST, url: server.baseURL + "/reset"), timeout: .seconds(10))
            #expect(server.stats.requests == 0)
            #expect(server.recordedRequests().isEmpty)
        }
    }

    @Test("the record ring keeps only the newest requests")
    func ring() async throws {
        try await withMockLLMServer(.init(recordCapacity: 3)) { server in
            let bot = try await openAI(server)
            for index in 1...5 { _ = try await bot.send(ChatRequest(messages: [.user("n\(index)")])) }
            #expect(server.recordedRequests().map(\.sequence) == [3, 4, 5])
        }
    }

    @Test("times=N fails only the first N identical requests")
    func faultTimes() async throws {
        try await withMockLLMServer { server in
            let bot = try await openAI(server)
            let request = ChatRequest(messages: [.user("MOCK_FAULT: 500 times=2")])
            for _ in 0..<2 {
                let error = await backendError { _ = try await bot.send(request) }
                #expect(error?.status == 500)
            }
            #expect(try await bot.send(request).content.hasPrefix("Echo:"))
            #expect(server.stats.faults == 2)
        }
    }

    @Test("random faults follow the seed")
    func seededErrors() async throws {
        func faults(seed: UInt64) async throws -> [Int] {
            try await withMockLLMServer(.init(errorRate: 0.5, seed: seed, injectedStatus: 429)) { server in
                let bot = try await openAI(server)
                var failed: [Int] = []
                for index in 0..<30 {
                    let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("q")])) }
                    if let error {
                        #expect(error.retry == .rateLimited(retryAfter: 1))
                        failed.append(index)
                    }
                }
                #expect(server.stats.faults == failed.count)
                return failed
            }
        }
        let first = try await faults(seed: 42)
        #expect(try await faults(seed: 42) == first)
        #expect(!first.isEmpty && first.count < 30)
    }

    @Test("max_tokens truncates the deterministic reply with finish_reason length")
    func truncation() async throws {
        try await withMockLLMServer { server in
            let bot = try await openAI(server)
            let response = try await bot.send(ChatRequest(messages: [.user("one two three four")], maxTokens: 2))
            #expect(response.content == "Echo: one")
            #expect(response.finishReason == "length")
        }
    }

    @Test("unknown routes are 404, final")
    func notFound() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat("openai", ["baseURL": .string(server.baseURL + "/nope"), "model": "m"])
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("x")])) }
            #expect(error?.status == 404)
            #expect(error?.retry == .no)
            #expect(server.stats.inFlight == 0)
        }
    }

    @Test("oversized request bodies are refused with 413, not buffered")
    func oversized() async throws {
        try await withMockLLMServer { server in
            let request = HTTPRequest(.POST, url: server.openAIBaseURL + "/chat/completions", body: Data(repeating: UInt8(ascii: "x"), count: (32 << 20) + 1))
            let response = try await BuiltinBackends.sharedHTTPClient.send(request, timeout: .seconds(60))
            #expect(response.status == 413)
            #expect(server.stats.requests == 0)
        }
    }

    @Test("DeterministicJSON fills required properties by type")
    func deterministicJSON() {
        let schema: JSONValue = [
            "type": "object", "required": ["name", "tags", "nested", "maybe", "level"],
            "properties": [
                "name": ["type": "string", "minLength": 10], "tags": ["type": "array", "items": ["type": "integer"]],
                "nested": ["properties": ["x": ["const": "fixed"]]], "maybe": ["type": ["null", "boolean"]],
                "level": ["anyOf": [["type": "integer", "maximum": 5], ["type": "string"]]], "ignored": ["type": "string"],
            ],
        ]
        #expect(
            DeterministicJSON.value(for: schema, text: "abc")
                == ["name": "abcxxxxxxx", "tags": [1], "nested": ["x": "fixed"], "maybe": true, "level": 5])
    }
}
