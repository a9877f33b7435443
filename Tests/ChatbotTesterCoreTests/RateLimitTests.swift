import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct RateLimitTests {
    @Test func tokenBucketGrantsBurstThenPacesAtTheRate() {
        var bucket = TokenBucket(capacity: 3, ratePerSecond: 1, now: 0)
        let waits = (0..<5).map { _ in bucket.reserve(1, now: 0) }
        #expect(waits == [0, 0, 0, 1, 2])
        // Refunds return budget; refill never exceeds capacity.
        bucket.refund(2, now: 0)
        let afterRefund = bucket.reserve(1, now: 0)
        #expect(afterRefund == 1)
        let later = bucket.reserve(0, now: 100)
        #expect(later == 0)
        #expect(bucket.balance == 3)
    }

    /// Sends `count` requests one after another on a virtual clock and returns the clock reading at
    /// which each one reached the backend.
    func sendTimes(count: Int, rateLimit: JSONValue, maxTokens: Int? = nil, usage: Usage? = nil) async throws -> [Double] {
        let clock = VirtualClock()
        let times = Locked<[Double]>([])
        let mock = MockChatBackend { request, _ in
            times.withLock { $0.append(clock.now()) }
            return ChatResponse(content: "ok", usage: usage)
        }
        let bot = try await makeBot(["rateLimit": rateLimit, "retry": false], mock: mock, environment: MiddlewareEnvironment(clock: clock))
        for _ in 0..<count { _ = try await bot.send(.user("hi", maxTokens: maxTokens)) }
        return times.current
    }

    /// No window of `window` seconds holds more than `limit` sends.
    func maxInAnyWindow(_ times: [Double], window: Double) -> Int {
        var best = 0
        for (i, start) in times.enumerated() {
            best = max(best, times[i...].prefix { $0 < start + window - 1e-9 }.count)
        }
        return best
    }

    @Test func requestsPerMinuteHold() async throws {
        let times = try await sendTimes(count: 300, rateLimit: ["requestsPerMinute": 120])
        // 2 per second after a burst of 2 (burstSeconds 1): request n goes at (n - 2) / 2 s.
        #expect(times.prefix(4) == [0, 0, 0.5, 1.0])
        #expect(abs(times.last! - 149) < 1e-6)
        #expect(maxInAnyWindow(times, window: 60) <= 120 + 2)
    }

    @Test func tokensPerMinuteHoldAndAreCorrectedByRealUsage() async throws {
        // Estimated at ~1 + 4 + 100 = 105 tokens each, but each call really uses 1000.
        let times = try await sendTimes(
            count: 20, rateLimit: ["tokensPerMinute": 6000, "burstSeconds": 10], maxTokens: 100,
            usage: Usage(promptTokens: 900, completionTokens: 100))
        // 100 tokens/s refill: after the burst, real usage of 1000 per call means one call per ~10 s.
        let span = times.last! - times.first!
        let tokensSent = Double(times.count) * 1000
        #expect(tokensSent <= 1000 + 100 * span + 1000 + 1e-6)
        #expect(span > 150)
    }

    @Test func overEstimatesAreRefunded() async throws {
        // Estimated at 1 + 4 + 1000 but only 10 used: the refund keeps the pace near the real usage.
        let times = try await sendTimes(
            count: 50, rateLimit: ["tokensPerMinute": 60_000, "burstSeconds": 1], maxTokens: 1000,
            usage: Usage(promptTokens: 5, completionTokens: 5))
        #expect(times.last! < 2)
    }

    @Test func sharedLimitsScaleForWorkers() {
        let limits = RateLimits(requestsPerMinute: 600, tokensPerMinute: 90000)
        #expect(limits.scaled(by: 0.25) == RateLimits(requestsPerMinute: 150, tokensPerMinute: 22500))
    }

    @Test func aCustomBudgetIsUsed() async throws {
        final class CountingBudget: RateBudget {
            let acquired = Locked(0)
            let settled = Locked<[Int]>([])
            func acquire(estimatedTokens: Int) async throws { acquired.withLock { $0 += 1 } }
            func settle(estimatedTokens: Int, actualTokens: Int) { settled.withLock { $0.append(actualTokens) } }
        }
        let budget = CountingBudget()
        let mock = MockChatBackend()
        let bot = try await makeBot(
            ["rateLimit": ["requestsPerMinute": 1]], mock: mock,
            environment: MiddlewareEnvironment(clock: VirtualClock(), makeRateBudget: { _, _, _ in budget }))
        for _ in 0..<3 { _ = try await bot.send(.user("two words")) }
        #expect(budget.acquired.current == 3)
        #expect(budget.settled.current == [7, 7, 7])
    }

    @Test func theEstimateTakesTheRequestsThenTheBackendsMaxTokens() {
        // "abcd abcd": 9 characters ≈ 3 tokens, + 4 for the message.
        let request = ChatRequest.user("abcd abcd")
        #expect(TokenEstimator.estimate(request) == 7 + TokenEstimator.defaultCompletionTokens)
        #expect(TokenEstimator.estimate(request, backendMaxTokens: 16) == 7 + 16)
        #expect(TokenEstimator.estimate(.user("abcd abcd", maxTokens: 8), backendMaxTokens: 16) == 7 + 8)
        #expect(TokenEstimator.estimate(.user("abcd abcd", maxTokens: 8)) == 7 + 8)
        #expect(TokenEstimator.estimate(.user("abcd abcd", maxTokens: 8), backendMaxTokens: 16, forcedMaxTokens: 40) == 7 + 40)
        #expect(TokenEstimator.forcedMaxTokens(extraBody: ["max_tokens": 40, "max_completion_tokens": 30]) == 40)
        #expect(TokenEstimator.forcedMaxTokens(extraBody: ["max_output_tokens": 12]) == 12)
        #expect(TokenEstimator.forcedMaxTokens(extraBody: ["temperature": 0]) == nil)
        #expect(TokenEstimator.forcedMaxTokens(extraBody: nil) == nil)
    }

    /// The backend's `maxTokens` option (or its type's documented default) is applied inside the
    /// backend, after the rate limiter: the limiter's estimate uses it all the same.
    @Test func theRateLimiterEstimatesWithTheBackendsMaxTokens() async throws {
        final class RecordingBudget: RateBudget {
            let estimates = Locked<[Int]>([])
            func acquire(estimatedTokens: Int) async throws { estimates.withLock { $0.append(estimatedTokens) } }
            func settle(estimatedTokens: Int, actualTokens: Int) {}
        }
        let budget = RecordingBudget()
        var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
        let mock = MockChatBackend()
        registry.register("capped", options: [OptionSpec("maxTokens", .integer, default: "1024", "reply limit")]) { _, _ in mock }
        registry.register("plain", options: []) { _, _ in mock }
        registry.register("extra", options: [OptionSpec("extraBody", .object, "merged over every body")]) { _, _ in mock }
        let limit: JSONValue = ["tokensPerMinute": 1000]
        let config = RegistryConfig([
            "set": ComponentSpec(type: "capped", options: ["rateLimit": limit, "maxTokens": 16]),
            "typeDefault": ComponentSpec(type: "capped", options: ["rateLimit": limit]),
            "none": ComponentSpec(type: "plain", options: ["rateLimit": limit]),
            "extraBody": ComponentSpec(type: "extra", options: ["rateLimit": limit, "extraBody": ["max_tokens": 40]]),
            "extraCompletion": ComponentSpec(type: "extra", options: ["rateLimit": limit, "extraBody": ["max_completion_tokens": 30]]),
        ])
        let set = BackendSet(
            config: config, registry: registry,
            wrapper: BackendMiddleware.make(environment: MiddlewareEnvironment(clock: VirtualClock(), makeRateBudget: { _, _, _ in budget })))
        for name in ["set", "typeDefault", "none"] { _ = try await set.chat(name).send(.user("abcd abcd")) }
        _ = try await set.chat("set").send(.user("abcd abcd", maxTokens: 8))
        // An `extraBody` limit is merged over every body, the request's `maxTokens` included.
        _ = try await set.chat("extraBody").send(.user("abcd abcd", maxTokens: 8))
        _ = try await set.chat("extraCompletion").send(.user("abcd abcd"))
        #expect(budget.estimates.current == [7 + 16, 7 + 1024, 7 + TokenEstimator.defaultCompletionTokens, 7 + 8, 7 + 40, 7 + 30])
    }

    @Test func cancelledWaitReturnsItsReservation() async throws {
        let clock = VirtualClock(autoAdvance: false)
        let budget = LocalRateBudget(limits: RateLimits(requestsPerMinute: 60), clock: clock)
        try await budget.acquire(estimatedTokens: 0)
        let waiter = Task { try await budget.acquire(estimatedTokens: 0) }
        await clock.waitForSleepers(1)
        #expect(budget.balances.requests == -1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(budget.balances.requests == 0)
    }
}

@Suite struct ConcurrentRateLimitTests {
    @Test func concurrentCallersAreReleasedOnePerIntervalInOrder() async throws {
        let clock = VirtualClock(autoAdvance: false)
        let budget = LocalRateBudget(limits: RateLimits(requestsPerMinute: 60), clock: clock)
        let granted = Locked<[Int]>([])
        var tasks: [Task<Void, any Error>] = []
        for i in 0..<10 {
            tasks.append(Task {
                try await budget.acquire(estimatedTokens: 0)
                granted.withLock { $0.append(i) }
            })
            // Queue in a known order: wait until this caller has reserved.
            while granted.current.count + clock.pendingSleepers < i + 1 { await Task.yield() }
        }
        #expect(granted.current == [0])
        #expect(clock.pendingSleepers == 9)
        for second in 1...9 {
            clock.advance(by: 1)
            while granted.current.count < second + 1 { await Task.yield() }
            // Exactly one more per second of (virtual) time.
            #expect(granted.current.count == second + 1)
            #expect(clock.pendingSleepers == 9 - second)
        }
        for task in tasks { try await task.value }
        #expect(granted.current == Array(0..<10))
    }

    @Test func callWaitingForASlotCanBeCancelledWithoutReachingTheBackend() async throws {
        let mock = MockChatBackend(gated: true)
        let bot = try await makeBot(["concurrency": 1], mock: mock, environment: MiddlewareEnvironment(clock: VirtualClock()))
        let first = Task { try await bot.send(.user("first")) }
        await mock.waitForInFlight(1)
        let second = Task { try await bot.send(.user("second")) }
        let stack = try #require((bot as? any MiddlewareBackend)?.middleware.limiter)
        while stack.waiting < 1 { await Task.yield() }
        second.cancel()
        await #expect(throws: CancellationError.self) { try await second.value }
        mock.open()
        _ = try await first.value
        #expect(mock.requests.map { $0.messages[0].content } == ["first"])
        #expect(stack.inFlight == 0)
    }
}
