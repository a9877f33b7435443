import ChatbotTesterCore

/// The benchmark's backend type ("bench-echo"): replies with the last user message after
/// `delayMs` (0: CPU only). Registered by this executable, which also hosts the workers.
struct BenchEchoBackend: ChatBackend {
    var delayMs: Int

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        if delayMs > 0 { try await Task.sleep(nanoseconds: UInt64(delayMs) * 1_000_000) }
        return ChatResponse(content: "echo: " + (request.messages.last?.content ?? ""), finishReason: "stop")
    }

    static var registry: BackendRegistry {
        var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
        registry.register("bench-echo", options: [OptionSpec("delayMs", .integer, "latency per call")]) { options, _ in
            BenchEchoBackend(delayMs: try options.int("delayMs") ?? 0)
        }
        return registry
    }
}
