import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct CacheTests {
    func backendSet(_ mock: MockChatBackend, dir: URL, options: [String: JSONValue] = [:], apiKey: String = "k1") -> BackendSet {
        var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
        registry.register(
            "mock", options: [OptionSpec("model", .string, ""), OptionSpec("apiKey", .secret, ""), OptionSpec("headers", .object, "")]
        ) { options, _ in
            _ = try options.secret("apiKey")
            return mock
        }
        var all: [String: JSONValue] = ["model": "m1", "apiKey": ["env": "KEY"], "cache": true]
        all.merge(options) { _, new in new }
        return BackendSet(
            config: RegistryConfig(["bot": ComponentSpec(type: "mock", options: all)]), registry: registry,
            secrets: SecretResolver(environment: ["KEY": apiKey]), stateDirectory: dir,
            wrapper: BackendMiddleware.make(environment: MiddlewareEnvironment(clock: VirtualClock())))
    }

    @Test func hitsSkipTheBackendAndSurviveANewBackendSet() async throws {
        let dir = try makeTemporaryDirectory()
        let mock = MockChatBackend()
        let bot = try await backendSet(mock, dir: dir).chat("bot")
        let first = try await bot.send(.user("what is 2+2?"))
        let second = try await bot.send(.user("what is 2+2?"))
        #expect(mock.callCount == 1)
        #expect(!first.cached)
        #expect(second.cached)
        #expect(second.content == first.content)
        #expect(second.attempts == 0)

        // A new set (a new process, a worker) on the same directory hits too, even with a rotated key.
        let again = try await backendSet(mock, dir: dir, apiKey: "rotated").chat("bot")
        let third = try await again.send(.user("what is 2+2?"))
        #expect(third.cached)
        #expect(mock.callCount == 1)

        // A different request, model or tag-free label misses or hits as it should.
        _ = try await again.send(ChatRequest(messages: [.user("what is 2+2?")], tags: ["sampleId": "q9"]))
        #expect(mock.callCount == 1)
        _ = try await again.send(.user("what is 3+3?"))
        #expect(mock.callCount == 2)
        _ = try await again.send(ChatRequest(messages: [.user("what is 2+2?")], tags: ["cacheKey": "repeat-2"]))
        #expect(mock.callCount == 3)
        let otherModel = try await backendSet(mock, dir: dir, options: ["model": "m2"]).chat("bot")
        _ = try await otherModel.send(.user("what is 2+2?"))
        #expect(mock.callCount == 4)
        // Middleware settings are not part of the identity.
        let tuned = try await backendSet(mock, dir: dir, options: ["retry": 9, "concurrency": 3]).chat("bot")
        #expect(try await tuned.send(.user("what is 2+2?")).cached)
        #expect(mock.callCount == 4)
    }

    @Test func errorsAreNotCached() async throws {
        let dir = try makeTemporaryDirectory()
        let mock = MockChatBackend(script: [.badRequest])
        let bot = try await backendSet(mock, dir: dir).chat("bot")
        await #expect(throws: ChatbotTesterError.self) { try await bot.send(.user("x")) }
        #expect(try await !bot.send(.user("x")).cached)
        #expect(mock.callCount == 2)
    }

    @Test func modes() async throws {
        let dir = try makeTemporaryDirectory()
        let mock = MockChatBackend()
        let readOnly = try await backendSet(mock, dir: dir, options: ["cache": ["mode": "read-only"]]).chat("bot")
        _ = try await readOnly.send(.user("a"))
        _ = try await readOnly.send(.user("a"))
        #expect(mock.callCount == 2)
        let normal = try await backendSet(mock, dir: dir).chat("bot")
        _ = try await normal.send(.user("a"))
        #expect(mock.callCount == 3)
        let refresh = try await backendSet(mock, dir: dir, options: ["cache": ["mode": "refresh"]]).chat("bot")
        #expect(try await !refresh.send(.user("a")).cached)
        #expect(mock.callCount == 4)
        #expect(try await normal.send(.user("a")).cached)
    }

    @Test func explicitDirectoryAndCorruptEntries() async throws {
        let dir = try makeTemporaryDirectory()
        let cacheDir = dir.appendingPathComponent("explicit")
        let mock = MockChatBackend()
        let bot = try await backendSet(mock, dir: dir, options: ["cache": ["dir": .string(cacheDir.path)]]).chat("bot")
        _ = try await bot.send(.user("q"))
        let files = FileManager.default.enumerator(atPath: cacheDir.path)!.allObjects.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") }
        #expect(files.count == 1)
        #expect(files[0].count == 72)  // "ab/" + 64 hex digits + ".json"
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("cache").path))
        // A corrupt entry is a miss, then rewritten.
        try Data("{not json".utf8).write(to: cacheDir.appendingPathComponent(files[0]))
        #expect(try await !bot.send(.user("q")).cached)
        #expect(try await bot.send(.user("q")).cached)
    }

    @Test func identityDropsSecretsAndMiddlewareKeys() {
        let identity = BackendIdentity.make(
            type: "openai",
            options: [
                "model": "gpt-4o-mini", "apiKey": ["env": "OPENAI_API_KEY"], "token": "literal-looking",
                "headers": ["X-Team": "a", "Authorization": ["env": "AUTH"]], "retry": 3, "cache": true,
            ], secretOptions: ["token"])
        #expect(identity == ["type": "openai", "options": ["model": "gpt-4o-mini", "headers": ["X-Team": "a"]]])
    }

    @Test func embeddingsAreCachedToo() async throws {
        let dir = try makeTemporaryDirectory()
        let embedder = MockEmbeddingBackend(dimensions: 4)
        var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
        registry.register("embed") { _, _ in embedder }
        let set = BackendSet(
            config: RegistryConfig(["e": ComponentSpec(type: "embed", options: ["cache": true])]), registry: registry,
            stateDirectory: dir, wrapper: BackendMiddleware.standard)
        let backend = try await set.embedding("e")
        let a = try await backend.embed(["one", "two"])
        let b = try await backend.embed(["one", "two"])
        #expect(a == b)
        #expect(embedder.callCount == 1)
        // The wrapped backend keeps exactly its capabilities.
        await #expect(throws: ChatbotTesterError.self) { try await set.chat("e") }
    }
}
