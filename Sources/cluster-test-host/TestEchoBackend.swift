import ChatbotTester
import Foundation

/// A custom backend type registered only by this executable ("test-echo"): it proves that a
/// worker hosted by an SDK user's own executable builds types the CLI does not know.
struct TestEchoBackend: ChatBackend {
    var prefix: String
    var delayMs: Int
    /// Ends each reply with ` @` and the name of the thread that answered (which executor the
    /// worker's cases run on).
    var reportsThread = false

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        if delayMs > 0 { try await Task.sleep(nanoseconds: UInt64(delayMs) * 1_000_000) }
        let last = request.messages.last(where: { $0.role == .user })?.content ?? ""
        let words = last.split(separator: " ").count
        let thread = reportsThread ? " @" + ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines) : ""
        return ChatResponse(
            content: "\(prefix)\(last)\(thread)", finishReason: "stop", usage: Usage(promptTokens: words, completionTokens: words + 1))
    }

    static func register(in registry: inout BackendRegistry) {
        registry.register(
            "test-echo", summary: "Echoes the last user message (cluster tests).",
            options: [OptionSpec("prefix", .string, "text put before the echo"), OptionSpec("delayMs", .integer, "latency per call"),
                OptionSpec("reportsThread", .bool, "end each reply with ' @' and the answering thread's name"),
            ]
        ) { options, _ in
            TestEchoBackend(
                prefix: try options.string("prefix") ?? "echo: ", delayMs: try options.int("delayMs") ?? 0, reportsThread: try options.bool("reportsThread") ?? false)
        }
    }
}
