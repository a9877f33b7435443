import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// A dead peer ends an attempt at once; the retry policy alone decides how many attempts a call
/// makes, and the circuit breaker stops calling after its threshold. Counted at a listener that
/// accepts and closes every connection.
@Suite("Fail fast: attempts per call and the circuit breaker, counted at the peer")
struct FailFastTests {
    /// An `openai` backend named `bot` at `url`, wrapped in the standard middleware.
    private func bot(_ url: String, retry: JSONValue, breaker: JSONValue) async throws -> any ChatBackend {
        var registry = BuiltinBackends.registry()
        registry.sharedOptions = BackendMiddleware.optionSpecs
        let config = RegistryConfig([
            "bot": ComponentSpec(
                type: "openai", options: ["baseURL": .string(url + "/v1"), "model": "m", "retry": retry, "circuitBreaker": breaker])
        ])
        return try await BackendSet(config: config, registry: registry, wrapper: BackendMiddleware.standard).chat("bot")
    }

    private let fastRetry: JSONValue = ["attempts": 3, "baseDelaySeconds": 0, "maxDelaySeconds": 0]

    @Test("each call makes exactly the attempts the retry policy allows")
    func attemptsPerCall() async throws {
        let listener = try ClosingListener()
        defer { listener.stop() }
        let backend = try await bot(listener.url, retry: fastRetry, breaker: false)
        for n in 1...4 {
            let error = await backendError { _ = try await backend.send(ChatRequest(messages: [.user("hi")])) }
            #expect(error?.code == .connectionClosed, "\(String(describing: error))")
            #expect(listener.accepted == 3 * n)
        }
    }

    @Test("the breaker opens after its threshold of consecutive connection failures; no call reaches the peer after")
    func breakerOpens() async throws {
        let listener = try ClosingListener()
        defer { listener.stop() }
        let backend = try await bot(listener.url, retry: fastRetry, breaker: ["consecutiveFailures": 7])
        var codes: [ChatbotTesterError.Code?] = []
        for _ in 1...5 { codes.append(await backendError { _ = try await backend.send(ChatRequest(messages: [.user("hi")])) }?.code) }
        // Calls 1 and 2 use 3 attempts each; call 3's first attempt is the 7th failure.
        #expect(codes == [.connectionClosed, .connectionClosed, .targetDown, .targetDown, .targetDown])
        #expect(listener.accepted == 7)
        let down = await backendError { _ = try await backend.send(ChatRequest(messages: [.user("hi")])) }
        #expect(down?.retry == RetryDisposition.no)
        // The peer's close reads as "closed" or "reset" depending on timing: both are connection_closed.
        #expect(
            down?.message.hasPrefix("backend 'bot' at \(listener.url) is down: 7 consecutive connection failures (connection ") == true,
            "\(String(describing: down))")
    }

    @Test("a reply (even an HTTP error) resets the breaker's count")
    func replyResets() async throws {
        try await withMockLLMServer { server in
            let backend = try await bot(server.baseURL, retry: false, breaker: 2)
            for _ in 1...5 {
                let error = await backendError { _ = try await backend.send(ChatRequest(messages: [.user("MOCK_FAULT: 500")])) }
                #expect(error?.code == .http5xx)
            }
        }
    }

    @Test("a closed port: connection_refused at once, then target_down")
    func closedPort() async throws {
        let backend = try await bot("http://127.0.0.1:1", retry: fastRetry, breaker: 4)
        let first = await backendError { _ = try await backend.send(ChatRequest(messages: [.user("hi")])) }
        #expect(first?.code == .connectionRefused)
        #expect(first.map { !String(describing: $0).contains("errno") } == true)
        let second = await backendError { _ = try await backend.send(ChatRequest(messages: [.user("hi")])) }
        #expect(second?.code == .targetDown)
        #expect(second?.message.contains("4 consecutive connection failures (connection refused)") == true)
    }

    @Test("DNS failures are dns")
    func dns() async throws {
        let backend = try await bot("http://no-such-host.invalid", retry: false, breaker: false)
        let error = await backendError { _ = try await backend.send(ChatRequest(messages: [.user("hi")])) }
        #expect(error?.code == .dns, "\(String(describing: error))")
    }
}
