import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOCore
import Testing

@testable import ChatbotTesterBackends

@Suite("Backend errors: codes, retry dispositions, excerpts, peers")
struct BackendErrorTests {
    static let llmTypes = ["openai", "azure-openai", "anthropic", "http"]

    @Test("429 is rate-limited with the server's Retry-After", arguments: llmTypes)
    func rateLimited(type: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, try builtinOptions(type, server: server, directory: directory))
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: 429 retry-after=7")])) }
            #expect(error?.code == .http429)
            #expect(error?.status == 429)
            #expect(error?.retry == .rateLimited(retryAfter: 7))
            #expect(error?.bodyExcerpt?.contains("rate limited") == true)
            #expect(error?.location?.field == "backends.bot")
            #expect(error?.location?.source?.contains("127.0.0.1:\(server.port)") == true)
            let text = String(describing: error)
            #expect(!text.contains(fakeKey))
            #expect(!text.contains("MOCK_FAULT"), "the request must not appear in the error")
        }
    }

    @Test("Retry-After as an HTTP date, and 503 with Retry-After")
    func retryAfterDate() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat("openai", ["baseURL": .string(server.openAIBaseURL), "model": "m"])
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: 429 retry-after-date=30")])) }
            guard case .rateLimited(let seconds?) = error?.retry else {
                Issue.record("expected a rate limit with a delay, got \(String(describing: error))")
                return
            }
            #expect(seconds > 20 && seconds <= 31)
            let unavailable = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: 503 retry-after=2")])) }
            #expect(unavailable?.retry == .rateLimited(retryAfter: 2))
            let plain = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: 503")])) }
            #expect(plain?.retry == .transient)
        }
    }

    @Test("500 is transient; 4xx is final", arguments: llmTypes)
    func serverErrors(type: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, try builtinOptions(type, server: server, directory: directory))
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: 500")])) }
            #expect(error?.status == 500)
            #expect(error?.retry == .transient)
            #expect(error?.message.contains("injected failure 500") == true)
            let final = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: 401")])) }
            #expect(final?.status == 401)
            #expect(final?.retry == .no)
        }
    }

    @Test("the x-mock-fault header forces a fault too")
    func headerFault() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "openai", ["baseURL": .string(server.openAIBaseURL), "model": "m", "headers": ["x-mock-fault": "429 retry-after=3"]])
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("hi")])) }
            #expect(error?.retry == .rateLimited(retryAfter: 3))
            #expect(server.stats.faults == 1)
        }
    }

    @Test("a malformed body is a bad response naming the peer", arguments: llmTypes)
    func malformed(type: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, try builtinOptions(type, server: server, directory: directory))
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: malformed")])) }
            #expect(error?.code == .badResponse)
            #expect(error?.message.contains("127.0.0.1:\(server.port)") == true)
            #expect(error?.bodyExcerpt?.hasPrefix("{\"choices\"") == true)
            #expect(error?.retry == .transient)
        }
    }

    @Test("a reply without the expected fields is a final bad response")
    func wrongShape() async throws {
        try await withMockLLMServer { server in
            let http = try await makeChat("http", ["url": .string(server.baseURL + "/chatbot"), "replyPath": "$.data.missing"])
            let error = await backendError { _ = try await http.send(ChatRequest(messages: [.user("hi")])) }
            #expect(error?.code == .badResponse)
            #expect(error?.message.contains("$.data.missing") == true)
            #expect(error?.retry == .no)
        }
    }

    @Test("a hung server times out as a transient error")
    func hang() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "openai", ["baseURL": .string(server.openAIBaseURL), "model": "m", "requestTimeoutSeconds": 0.5])
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: hang")])) }
            #expect(error?.code == .timeout)
            #expect(error?.retry == .transient)
        }
    }

    @Test("cancelling the task waiting for a reply ends the request at once", arguments: ["openai", "http"])
    func cancelled(type: String) async throws {
        try await withMockLLMServer { server in
            var options: [String: JSONValue] = ["model": "m", "requestTimeoutSeconds": 60]
            if type == "http" {
                options["url"] = .string(server.openAIBaseURL + "/chat/completions")
                options["body"] = ["messages": [["role": "user", "content": "{{input}}"]]]
                options["replyPath"] = "$.choices[0].message.content"
            } else {
                options["baseURL"] = .string(server.openAIBaseURL)
            }
            let bot = try await makeChat(type, options)
            let started = ContinuousClock.now
            let request = Task { try await bot.send(ChatRequest(messages: [.user("MOCK_FAULT: hang")])) }
            try await Task.sleep(for: .milliseconds(200))
            request.cancel()
            let result = await request.result
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(ContinuousClock.now - started < .seconds(30), "cancelled, not timed out")
        }
    }

    @Test("a reply larger than the limit is a final bad response")
    func tooLarge() {
        let peer = BackendPeer(field: "backends.bot", url: "http://127.0.0.1:9/v1")
        let error = BackendHTTP.transportError(HTTPClientError(.tooLarge, "reply larger than 1 bytes"), peer: peer)
        #expect((error as? ChatbotTesterError)?.code == .badResponse)
        #expect((error as? ChatbotTesterError)?.retry == .no)
        // Every other kind is transient, named with its own code, and names the peer.
        let kinds: [(HTTPClientError.Kind, ChatbotTesterError.Code)] = [
            (.timeout, .timeout), (.connectTimeout, .timeout), (.connectionRefused, .connectionRefused), (.connectionClosed, .connectionClosed),
            (.dns, .dns), (.tls, .tls), (.invalidReply, .transport), (.transport, .transport),
        ]
        for (kind, code) in kinds {
            let mapped = BackendHTTP.transportError(HTTPClientError(kind, "phrase"), peer: peer) as? ChatbotTesterError
            #expect(mapped?.code == code, "\(kind)")
            #expect(mapped?.retry == .transient, "\(kind)")
            #expect(mapped?.message.hasPrefix("http://127.0.0.1:9/v1: ") == true, "\(kind)")
        }
    }

    @Test("a refused connection is a transient connection_refused error with one clean message")
    func refused() async throws {
        // Port 1 is privileged: nothing listens there in a test environment.
        let client = BuiltinBackends.makeHTTPClient()
        var registry = BackendRegistry()
        BuiltinBackends.register(into: &registry, httpClient: client)
        let set = makeBackends(RegistryConfig(["bot": ComponentSpec(type: "openai", options: ["baseURL": "http://127.0.0.1:1/v1", "model": "m"])]), registry: registry)
        let bot = try await set.chat("bot")
        let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("hi")])) }
        #expect(error?.code == .connectionRefused)
        #expect(error?.retry == .transient)
        #expect(error?.location?.source == "http://127.0.0.1:1/v1/chat/completions")
        #expect(error?.description == "backends.bot: http://127.0.0.1:1/v1/chat/completions: connection refused")
    }

    @Test("RetryAfter parses seconds and HTTP dates")
    func retryAfterParsing() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryAfter.seconds(from: "12") == 12)
        #expect(RetryAfter.seconds(from: " 1.5 ") == 1.5)
        #expect(RetryAfter.seconds(from: "-3") == 0)
        #expect(RetryAfter.seconds(from: RetryAfter.httpDate(now.addingTimeInterval(90)), now: now) == 90)
        #expect(RetryAfter.seconds(from: "Sunday, 06-Nov-94 08:49:37 GMT", now: Date(timeIntervalSince1970: 784_111_777 - 10)) == 10)
        #expect(RetryAfter.seconds(from: "soon") == nil)
    }
}
