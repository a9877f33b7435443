import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct RegistryConfigTests {
    static let secretValue = "sk-test-4f9c2a7e1b"

    @Test func customBackendIsBuiltFromASerializedConfigAndAnswers() async throws {
        let config = RegistryConfig([
            "bot": ComponentSpec(
                type: "shouting",
                options: ["suffix": "?!", "apiKey": ["env": "SHOUT_KEY"], "retry": ["attempts": 2], "concurrency": 4]),
        ])
        let bytes = try JSONCoding.encoder().encode(config)
        let decoded = try JSONCoding.decoder().decode(RegistryConfig.self, from: bytes)
        #expect(decoded == config)

        let builds = Locked(0)
        let set = BackendSet(
            config: decoded, registry: makeRegistry(counter: builds),
            secrets: SecretResolver(environment: ["SHOUT_KEY": Self.secretValue]), wrapper: BackendMiddleware.standard)
        let bot = try await set.chat("bot")
        let reply = try await bot.send(.user("hello there"))
        #expect(reply.content == "HELLO THERE?!")
        #expect(reply.attempts == 1)
        // Built once, then shared.
        _ = try await set.chat("bot")
        #expect(builds.current == 1)
        #expect((bot as? any MiddlewareBackend)?.middleware.limiter?.limit == 4)
    }

    @Test func configRoundTripHoldsNoSecretValue() async throws {
        let yamlLike = #"{"bot": {"type": "shouting", "apiKey": {"env": "SHOUT_KEY"}, "cache": true}}"#
        let config = try JSONCoding.decoder().decode(RegistryConfig.self, from: Data(yamlLike.utf8))
        let secrets = SecretResolver(environment: ["SHOUT_KEY": Self.secretValue])
        let dir = try makeTemporaryDirectory()
        let set = BackendSet(config: config, registry: makeRegistry(), secrets: secrets, stateDirectory: dir, wrapper: BackendMiddleware.standard)
        let bot = try await set.chat("bot")
        _ = try await bot.send(.user("hi"))

        let encoded = try JSONCoding.encoder(pretty: true).encode(set.config)
        #expect(!String(decoding: encoded, as: UTF8.self).contains(Self.secretValue))
        #expect(String(decoding: encoded, as: UTF8.self).contains("SHOUT_KEY"))
        // Nor in the cache files the run wrote.
        let files = FileManager.default.enumerator(atPath: dir.path)!.allObjects.compactMap { $0 as? String }
        #expect(!files.isEmpty)
        for file in files {
            let data = (try? Data(contentsOf: dir.appendingPathComponent(file))) ?? Data()
            #expect(!String(decoding: data, as: UTF8.self).contains(Self.secretValue))
        }
    }

    @Test func literalSecretIsRefused() async throws {
        let config = RegistryConfig(["bot": ComponentSpec(type: "shouting", options: ["apiKey": .string(Self.secretValue)])])
        let set = BackendSet(config: config, registry: makeRegistry(), secrets: SecretResolver(environment: [:]))
        let error = await #expect(throws: ChatbotTesterError.self) { try await set.chat("bot") }
        #expect(error?.code == .invalidConfig)
        #expect(error?.location?.field == "backends.bot.apiKey")
        #expect(error.map { !$0.description.contains(Self.secretValue) } == true)
    }

    @Test func missingEnvironmentVariableNamesTheField() async throws {
        let config = RegistryConfig(["bot": ComponentSpec(type: "shouting", options: ["apiKey": ["env": "NOT_SET_ANYWHERE"]])])
        let set = BackendSet(config: config, registry: makeRegistry(), secrets: SecretResolver(environment: [:]))
        let error = await #expect(throws: ChatbotTesterError.self) { try await set.chat("bot") }
        #expect(error?.code == .missingSecret)
        #expect(error?.location?.field == "backends.bot.apiKey")
    }

    @Test func middlewareKeysAreAcceptedForEveryTypeAndTyposAreNot() async throws {
        let registry = makeRegistry()
        let context = ComponentContext(instanceName: "bot")
        try registry.validate(
            ComponentSpec(
                type: "shouting",
                options: [
                    "apiKey": ["env": "K"], "retry": 3, "rateLimit": ["requestsPerMinute": 60], "concurrency": 2,
                    "adaptiveConcurrency": true, "timeoutSeconds": 5, "cache": false, "pricing": ["inputPerMTok": 1],
                ]), context: context)
        let error = #expect(throws: ChatbotTesterError.self) {
            try registry.validate(ComponentSpec(type: "shouting", options: ["apiKey": ["env": "K"], "retries": 3]), context: context)
        }
        #expect(error?.location?.field == "backends.bot.retries")
    }
}
