import ChatbotTesterCore
import Foundation
import Testing

@Suite struct MiddlewareOptionsTests {
    func parse(_ options: [String: JSONValue]) throws -> MiddlewareOptions {
        try MiddlewareOptions(parsing: ComponentOptions(options, context: ComponentContext(instanceName: "bot")))
    }

    @Test func defaultsRetryOnlyAndNothingElse() throws {
        let options = try parse([:])
        #expect(options.retry == RetryPolicy())
        #expect(options.rateLimit == nil)
        #expect(options.concurrency == nil)
        #expect(options.timeoutSeconds == nil)
        #expect(options.cache == nil)
        #expect(options.pricing == nil)
    }

    @Test func theBriefsExampleParses() throws {
        let options = try parse([
            "retry": ["attempts": 4, "baseDelaySeconds": 0.5, "maxDelaySeconds": 30],
            "rateLimit": ["requestsPerMinute": 600, "tokensPerMinute": 90000], "concurrency": 16,
            "adaptiveConcurrency": true, "timeoutSeconds": 60, "cache": true,
            "pricing": ["inputPerMTok": 0.15, "outputPerMTok": 0.6],
        ])
        #expect(options.retry == RetryPolicy(attempts: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 30))
        #expect(options.rateLimit == RateLimits(requestsPerMinute: 600, tokensPerMinute: 90000))
        #expect(options.concurrency == 16)
        #expect(options.adaptiveConcurrency)
        #expect(options.timeoutSeconds == 60)
        #expect(options.cache == MiddlewareOptions.CacheSettings())
        #expect(options.pricing == Pricing(inputPerMTok: 0.15, outputPerMTok: 0.6))
    }

    @Test func shorthands() throws {
        #expect(try parse(["retry": false]).retry == nil)
        #expect(try parse(["retry": 7]).retry?.attempts == 7)
        #expect(try parse(["cache": ["dir": "/tmp/x", "mode": "read-only"]]).cache == .init(directory: "/tmp/x", mode: .readOnly))
        #expect(try parse(["timeoutSeconds": 0]).timeoutSeconds == nil)
    }

    static let badOptions: [(String, JSONValue, String)] = [
        ("retry", ["attempts": "four"], "backends.bot.retry.attempts"),
        ("retry", ["attempts": 0], "backends.bot.retry.attempts"),
        ("retry", ["atempts": 3], "backends.bot.retry.atempts"),
        ("retry", "yes", "backends.bot.retry"),
        ("rateLimit", ["requestsPerMinute": -1], "backends.bot.rateLimit.requestsPerMinute"),
        ("rateLimit", 5, "backends.bot.rateLimit"),
        ("concurrency", 0, "backends.bot.concurrency"),
        ("concurrency", "many", "backends.bot.concurrency"),
        ("timeoutSeconds", -2, "backends.bot.timeoutSeconds"),
        ("cache", ["mode": "sometimes"], "backends.bot.cache.mode"),
        ("pricing", ["inputPerMTok": "cheap"], "backends.bot.pricing.inputPerMTok"),
        ("adaptiveConcurrency", 1, "backends.bot.adaptiveConcurrency"),
    ]

    @Test(arguments: badOptions)
    func errorsNameTheField(key: String, value: JSONValue, field: String) throws {
        let error = #expect(throws: ChatbotTesterError.self) { try parse([key: value]) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.location?.field == field)
    }

    @Test func cacheWithoutDirectoryIsAConfigError() async throws {
        let config = RegistryConfig(["bot": ComponentSpec(type: "shouting", options: ["apiKey": ["env": "K"], "cache": true])])
        let set = BackendSet(
            config: config, registry: makeRegistry(), secrets: SecretResolver(environment: ["K": "v"]),
            wrapper: BackendMiddleware.standard)
        let error = await #expect(throws: ChatbotTesterError.self) { try await set.chat("bot") }
        #expect(error?.location?.field == "backends.bot.cache")
    }
}

@Suite struct MiddlewareDefaultsTests {
    @Test func runLevelDefaultsFillOnlyUnsetKeys() {
        let config = RegistryConfig([
            "bot": ComponentSpec(type: "openai", options: ["model": "m", "concurrency": 8]),
            "judge": ComponentSpec(type: "anthropic"),
        ])
        let merged = BackendMiddleware.applyingDefaults(["concurrency": 32, "timeoutSeconds": 60], to: "bot", in: config)
        #expect(merged["bot"]?.options == ["model": "m", "concurrency": 8, "timeoutSeconds": 60])
        #expect(merged["judge"] == config["judge"])
        #expect(BackendMiddleware.applyingDefaults(["retry": 2], to: "nobody", in: config) == config)
    }
}
