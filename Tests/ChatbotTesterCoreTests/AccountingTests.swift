import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct AccountingTests {
    @Test func configuredPricingSetsCost() async throws {
        let mock = MockChatBackend(script: [
            .response(ChatResponse(content: "x", usage: Usage(promptTokens: 1_000_000, completionTokens: 500_000), model: "whatever"))
        ])
        let ledger = UsageLedger()
        let bot = try await makeBot(
            ["pricing": ["inputPerMTok": 0.15, "outputPerMTok": 0.6]], mock: mock,
            environment: MiddlewareEnvironment(clock: VirtualClock(), ledger: ledger))
        let reply = try await bot.send(.user("hi"))
        #expect(abs(reply.costUSD! - 0.45) < 1e-12)
        let totals = ledger.totals(for: "bot")
        #expect(totals.calls == 1)
        #expect(totals.usage == Usage(promptTokens: 1_000_000, completionTokens: 500_000))
        #expect(abs(totals.costUSD - 0.45) < 1e-12)
    }

    @Test func builtInTableByModelName() async throws {
        let mock = MockChatBackend(script: [
            .response(ChatResponse(content: "x", usage: Usage(promptTokens: 2000, completionTokens: 1000), model: "gpt-4o-mini-2024-07-18")),
            .response(ChatResponse(content: "y", usage: Usage(promptTokens: 2000, completionTokens: 1000), model: "my-own-llm")),
        ])
        let ledger = UsageLedger()
        let bot = try await makeBot([:], mock: mock, environment: MiddlewareEnvironment(clock: VirtualClock(), ledger: ledger))
        let priced = try await bot.send(.user("hi"))
        #expect(abs(priced.costUSD! - (2000 * 0.15 + 1000 * 0.6) / 1e6) < 1e-12)
        let unpriced = try await bot.send(.user("hi"))
        #expect(unpriced.costUSD == nil)
        #expect(ledger.totals(for: "bot").unpricedCalls == 1)
    }

    @Test func priceTableMatchesLongestPrefix() {
        let table = PriceTable.builtIn
        #expect(table.price(for: "gpt-4o-mini") == Pricing(inputPerMTok: 0.15, outputPerMTok: 0.6))
        #expect(table.price(for: "gpt-4o-2024-08-06") == Pricing(inputPerMTok: 2.5, outputPerMTok: 10))
        #expect(table.price(for: "GPT-4.1-mini") == Pricing(inputPerMTok: 0.4, outputPerMTok: 1.6))
        #expect(table.price(for: "claude-sonnet-4-20250514") == Pricing(inputPerMTok: 3, outputPerMTok: 15))
        #expect(table.price(for: "llama3") == nil)
        let custom = table.merging(PriceTable(["llama3": Pricing(inputPerMTok: 0, outputPerMTok: 0)]))
        #expect(custom.price(for: "llama3:8b") != nil)
    }

    @Test func retriesAreBilledOnceAndCountedAndCacheHitsCostNothing() async throws {
        let dir = try makeTemporaryDirectory()
        let mock = MockChatBackend(script: [
            .serverError,
            .response(ChatResponse(content: "x", usage: Usage(promptTokens: 100, completionTokens: 100), model: "gpt-4o")),
        ])
        let ledger = UsageLedger()
        let bot = try await makeBot(
            ["cache": true], mock: mock, environment: MiddlewareEnvironment(clock: VirtualClock(), ledger: ledger), stateDirectory: dir)
        let first = try await bot.send(.user("hi"))
        #expect(first.attempts == 2)
        #expect(abs(first.costUSD! - (100 * 2.5 + 100 * 10) / 1e6) < 1e-12)
        let hit = try await bot.send(.user("hi"))
        #expect(hit.cached)
        #expect(hit.costUSD == 0)
        let totals = ledger.totals(for: "bot")
        #expect(totals.calls == 2)
        #expect(totals.cacheHits == 1)
        #expect(totals.retries == 1)
        #expect(abs(totals.costUSD - first.costUSD!) < 1e-12)
    }

    @Test func latencyIsMeasuredWhenTheBackendDoesNot() async throws {
        let clock = VirtualClock()
        let mock = MockChatBackend { _, _ in
            try await clock.sleep(seconds: 0.25)
            return ChatResponse(content: "slow")
        }
        let bot = try await makeBot([:], mock: mock, environment: MiddlewareEnvironment(clock: clock))
        #expect(try await bot.send(.user("hi")).latencyMs == 250)
    }
}
