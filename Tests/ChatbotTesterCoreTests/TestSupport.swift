import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation

/// A fresh temporary directory per test.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ctcore-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A backend type a user might register: upper-cases the last user message, needs an API key.
struct ShoutingBackend: ChatBackend {
    let suffix: String
    let keyLength: Int
    let model: String?

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let text = request.messages.last(where: { $0.role == .user })?.content ?? ""
        return ChatResponse(
            content: text.uppercased() + suffix, finishReason: "stop", usage: Usage(promptTokens: 10, completionTokens: 5),
            model: request.model ?? model)
    }
}

/// A registry with the middleware keys shared and the user type `shouting` registered.
func makeRegistry(counter: Locked<Int>? = nil) -> BackendRegistry {
    var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
    registry.register(
        "shouting", summary: "upper-cases the prompt",
        options: [
            OptionSpec("suffix", .string, "appended to replies"),
            OptionSpec("model", .string, "model name"),
            OptionSpec("apiKey", .secret, required: true, "the key"),
        ]
    ) { options, _ in
        let key = try options.secret("apiKey") ?? ""
        counter?.withLock { $0 += 1 }
        return ShoutingBackend(suffix: try options.string("suffix") ?? "!", keyLength: key.count, model: try options.string("model"))
    }
    return registry
}

/// A registry whose `mock` type hands out a shared `MockChatBackend`.
func makeMockRegistry(_ mock: MockChatBackend) -> BackendRegistry {
    var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
    registry.register("mock", options: [OptionSpec("model", .string, "model name")]) { _, _ in mock }
    return registry
}

/// Builds the chat backend `bot` of a one-instance config through a `BackendSet` with the standard
/// middleware on an injected environment.
func makeBot(
    _ options: [String: JSONValue], mock: MockChatBackend, environment: MiddlewareEnvironment,
    events: EventBus = EventBus(), stateDirectory: URL? = nil
) async throws -> any ChatBackend {
    let config = RegistryConfig(["bot": ComponentSpec(type: "mock", options: options)])
    let set = BackendSet(
        config: config, registry: makeMockRegistry(mock), events: events, stateDirectory: stateDirectory,
        wrapper: BackendMiddleware.make(environment: environment))
    return try await set.chat("bot")
}

extension ChatRequest {
    static func user(_ text: String, maxTokens: Int? = nil) -> ChatRequest {
        ChatRequest(messages: [.user(text)], maxTokens: maxTokens)
    }
}
