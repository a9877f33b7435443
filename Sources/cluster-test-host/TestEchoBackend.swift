import ChatbotTester
import Foundation

/// A custom backend type registered only by this executable ("test-echo"): it proves that a
/// worker hosted by an SDK user's own executable builds types the CLI does not know.
struct TestEchoBackend: ChatBackend {
    var prefix: String
    var delayMs: Int

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        if delayMs > 0 { try await Task.sleep(nanoseconds: UInt64(delayMs) * 1_000_000) }
        let last = request.messages.last(where: { $0.role == .user })?.content ?? ""
        let words = last.split(separator: " ").count
        return ChatResponse(
            content: "\(prefix)\(last)", finishReason: "stop", usage: Usage(promptTokens: words, completionTokens: words + 1))
    }

    static func register(in registry: inout BackendRegistry) {
        registry.register(
            "test-echo", summary: "Echoes the last user message (cluster tests).",
            options: [OptionSpec("prefix", .string, "text put before the echo"), OptionSpec("delayMs", .integer, "latency per call")]
        ) { options, _ in
            TestEchoBackend(prefix: try options.string("prefix") ?? "echo: ", delayMs: try options.int("delayMs") ?? 0)
        }
    }
}
