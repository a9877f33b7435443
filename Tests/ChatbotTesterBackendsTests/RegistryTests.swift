import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import Testing

/// A user's own backend type: shouts the last message back, with a configurable prefix.
struct ShoutingBackend: ChatBackend {
    var prefix: String
    func send(_ request: ChatRequest) async throws -> ChatResponse {
        ChatResponse(content: prefix + (request.messages.last?.content.uppercased() ?? ""))
    }
}

@Suite("Registry: custom types beside the built-ins, strict options")
struct RegistryTests {
    @Test("a custom backend builds from a serialized RegistryConfig through BackendSet, next to built-ins")
    func customBackend() async throws {
        var registry = BuiltinBackends.registry()
        registry.register(
            "shouting", summary: "shouts back", options: [OptionSpec("prefix", .string, default: "", "text before the reply")]
        ) { options, _ in
            ShoutingBackend(prefix: try options.string("prefix") ?? "")
        }
        try await withMockLLMServer { server in
            let config = RegistryConfig([
                "mine": ComponentSpec(type: "shouting", options: ["prefix": "> "]),
                "llm": ComponentSpec(
                    type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "m", "apiKey": ["env": "TEST_API_KEY"]]),
            ])
            // Serialize as a worker would receive it, and rebuild.
            let wire = try JSONEncoder().encode(config)
            let text = String(decoding: wire, as: UTF8.self)
            #expect(!text.contains(fakeKey))
            #expect(text.contains("TEST_API_KEY"))
            let received = try JSONDecoder().decode(RegistryConfig.self, from: wire)
            #expect(received == config)
            let set = makeBackends(received, registry: registry)
            try await set.validate()
            #expect(try await set.chat("mine").send(ChatRequest(messages: [.user("hello")])).content == "> HELLO")
            #expect(try await set.chat("llm").send(ChatRequest(messages: [.user("hello")])).content == "Echo: hello")
        }
    }

    @Test("every built-in type is registered with documented options")
    func documented() {
        let registry = BuiltinBackends.registry()
        #expect(registry.typeNames == BuiltinBackends.typeNames)
        for type in registry.allTypes {
            #expect(!type.summary.isEmpty)
            #expect(!type.options.isEmpty)
            #expect(Set(type.options.map(\.name)).count == type.options.count, "duplicate option in \(type.name)")
            #expect(type.options.allSatisfy { !$0.summary.isEmpty })
        }
    }

    @Test("option errors name backends.<name>.<field>")
    func optionErrors() async throws {
        let cases: [(String, [String: JSONValue], String)] = [
            ("openai", ["model": "m", "temprature": 1], "backends.bot.temprature"),
            ("openai", ["baseURL": "http://127.0.0.1:1"], "backends.bot.model"),
            ("openai", ["model": "m", "temperature": "hot"], "backends.bot.temperature"),
            ("openai", ["model": "m", "apiKey": "sk-literal"], "backends.bot.apiKey"),
            ("openai", ["model": "m", "apiKey": ["env": "NOT_SET_ANYWHERE"]], "backends.bot.apiKey"),
            ("openai", ["model": "m", "headers": ["X-A": 3]], "backends.bot.headers.X-A"),
            ("openai", ["model": "m", "requestTimeoutSeconds": 0], "backends.bot.requestTimeoutSeconds"),
            ("azure-openai", ["endpoint": "http://x", "deployment": "d"], "backends.bot.apiKey"),
            ("anthropic", ["model": "m", "maxTokens": 1.5], "backends.bot.maxTokens"),
            ("http", ["url": "http://x"], "backends.bot.replyPath"),
            ("exec", ["command": []], "backends.bot.command"),
            ("exec", ["command": ["x"], "processTimeoutSeconds": -1], "backends.bot.processTimeoutSeconds"),
            ("scripted", ["rules": [["match": "a"]]], "backends.bot.rules[0].reply"),
            ("scripted", ["rules": [["match": "regex:(", "reply": "x"]]], "backends.bot.rules[0].match"),
            ("scripted", ["rules": [["match": "a", "reply": "b", "extra": 1]]], "backends.bot.rules[0].extra"),
            ("nope", [:], "backends.bot.type"),
        ]
        for (type, options, field) in cases {
            let error = await backendError { _ = try await makeChat(type, options) }
            #expect(error?.location?.field == field, "\(type) \(options) → \(String(describing: error))")
            #expect(!String(describing: error).contains("sk-literal"))
        }
    }

    @Test("a user-supplied HTTP client is used")
    func ownClient() async throws {
        // Through URLSession (libcurl names itself in user-agent); the shared client's own path sends none.
        let client = HTTPClient(connectionsPerHost: 4, route: .foundation)
        try await withMockLLMServer { server in
            var registry = BackendRegistry()
            BuiltinBackends.register(into: &registry, httpClient: client)
            let set = makeBackends(RegistryConfig(["bot": ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "m"])]), registry: registry)
            let reply = try await set.chat("bot").send(ChatRequest(messages: [.user("x")]))
            #expect(reply.content == "Echo: x")
            #expect(server.recordedRequests().last?.headers["user-agent"]?.contains("curl/") == true)
            let shared = makeBackends(RegistryConfig(["bot": ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "m"])]))
            _ = try await shared.chat("bot").send(ChatRequest(messages: [.user("y")]))
            #expect(server.recordedRequests().last?.headers["user-agent"] == nil)
        }
    }
}
