import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct RetryTests {
    @Test func honoursRetryAfterAndReportsAttempts() async throws {
        let mock = MockChatBackend(script: [.rateLimited(retryAfter: 7), .rateLimited(retryAfter: 3), .text("finally")])
        let clock = VirtualClock()
        let events = EventBus()
        let recorder = RecordingEventSink()
        events.subscribe(recorder)
        let bot = try await makeBot(
            ["retry": ["attempts": 4, "baseDelaySeconds": 0.5, "maxDelaySeconds": 30]], mock: mock,
            environment: MiddlewareEnvironment(clock: clock, random: { 0.99 }), events: events)

        let reply = try await bot.send(.user("hi"))
        await events.shutdown()

        #expect(reply.content == "finally")
        #expect(reply.attempts == 3)
        #expect(mock.callCount == 3)
        #expect(clock.sleeps == [7, 3])
        let retries = recorder.events(of: BackendRetryEvent.self)
        #expect(retries.map(\.attempt) == [1, 2])
        #expect(retries.map(\.delaySeconds) == [7, 3])
        #expect(retries.map(\.retryAfterSeconds) == [7, 3])
        #expect(retries.allSatisfy { $0.backend == "bot" && $0.status == 429 })
    }

    @Test func givesUpAfterTheConfiguredAttemptsWithJitteredBackoff() async throws {
        let mock = MockChatBackend(script: Array(repeating: .serverError, count: 10))
        let clock = VirtualClock()
        let bot = try await makeBot(
            ["retry": ["attempts": 3, "baseDelaySeconds": 1, "maxDelaySeconds": 30]], mock: mock,
            environment: MiddlewareEnvironment(clock: clock, random: { 0.5 }))

        let error = await #expect(throws: ChatbotTesterError.self) { try await bot.send(.user("hi")) }
        #expect(error?.status == 500)
        #expect(mock.callCount == 3)
        // Full jitter: random × min(max, base · 2^(n-1)) with random = 0.5.
        #expect(clock.sleeps == [0.5, 1.0])
    }

    @Test func rateLimitWithoutRetryAfterBacksOffExponentially() async throws {
        let mock = MockChatBackend(script: Array(repeating: .rateLimited(), count: 5) + [.text("ok")])
        let clock = VirtualClock()
        let bot = try await makeBot(
            ["retry": ["attempts": 6, "baseDelaySeconds": 1, "maxDelaySeconds": 4]], mock: mock,
            environment: MiddlewareEnvironment(clock: clock, random: { 1 }))
        let reply = try await bot.send(.user("hi"))
        #expect(reply.attempts == 6)
        #expect(clock.sleeps == [1, 2, 4, 4, 4])
    }

    @Test func nonRetryableErrorsAreNotRetried() async throws {
        let mock = MockChatBackend(script: [.badRequest, .text("never")])
        let clock = VirtualClock()
        let bot = try await makeBot(["retry": 5], mock: mock, environment: MiddlewareEnvironment(clock: clock))
        let error = await #expect(throws: ChatbotTesterError.self) { try await bot.send(.user("hi")) }
        #expect(error?.status == 400)
        #expect(mock.callCount == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func retryDisabled() async throws {
        let mock = MockChatBackend(script: [.serverError, .text("never")])
        let bot = try await makeBot(["retry": false], mock: mock, environment: MiddlewareEnvironment(clock: VirtualClock()))
        await #expect(throws: ChatbotTesterError.self) { try await bot.send(.user("hi")) }
        #expect(mock.callCount == 1)
    }

    @Test func retryAfterBeyondTheMaximumGivesUpAtOnce() async throws {
        let mock = MockChatBackend(script: [.rateLimited(retryAfter: 3600), .text("never")])
        let clock = VirtualClock()
        let bot = try await makeBot(
            ["retry": ["attempts": 4, "maxRetryAfterSeconds": 60]], mock: mock, environment: MiddlewareEnvironment(clock: clock))
        await #expect(throws: ChatbotTesterError.self) { try await bot.send(.user("hi")) }
        #expect(mock.callCount == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func cancellationDuringBackoffStops() async throws {
        let mock = MockChatBackend(script: [.serverError, .text("never")])
        let clock = VirtualClock(autoAdvance: false)
        let bot = try await makeBot(["retry": 4], mock: mock, environment: MiddlewareEnvironment(clock: clock))
        let task = Task { try await bot.send(.user("hi")) }
        await clock.waitForSleepers(1)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(mock.callCount == 1)
    }

    @Test func policyCeilingsDoubleUpToTheCap() {
        let policy = RetryPolicy(attempts: 10, baseDelaySeconds: 0.5, maxDelaySeconds: 30)
        #expect((1...9).map { policy.backoffCeiling(afterAttempt: $0) } == [0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        #expect(policy.decide(afterAttempt: 10, disposition: .transient, random: 0) == .giveUp)
        #expect(policy.decide(afterAttempt: 1, disposition: .no, random: 0) == .giveUp)
        #expect(policy.decide(afterAttempt: 1, disposition: .rateLimited(retryAfter: 2.5), random: 0) == .retry(afterSeconds: 2.5))
        #expect(policy.decide(afterAttempt: 2, error: CancellationError(), random: 0) == .giveUp)
        #expect(policy.decide(afterAttempt: 2, error: TimeoutRunner.timeoutError(seconds: 1), random: 0.25) == .retry(afterSeconds: 0.25))
    }
}

@Suite struct RetryEdgeTests {
    struct Foreign: Error {}

    @Test func errorsWithoutADispositionAreNotRetried() async throws {
        let mock = MockChatBackend { _, _ in throw Foreign() }
        let bot = try await makeBot(["retry": 5], mock: mock, environment: MiddlewareEnvironment(clock: VirtualClock()))
        await #expect(throws: Foreign.self) { try await bot.send(.user("hi")) }
        #expect(mock.callCount == 1)
    }

    @Test func executorCountsAttemptsAndReportsEachRetry() async throws {
        let notices = Locked<[RetryExecutor.Notice]>([])
        let clock = VirtualClock()
        let executor = RetryExecutor(policy: RetryPolicy(attempts: 3, baseDelaySeconds: 2), clock: clock, random: { 0.5 }) { notice in
            notices.withLock { $0.append(notice) }
        }
        let (value, attempts) = try await executor.run { attempt in
            if attempt < 3 { throw ChatbotTesterError(.transport, "reset", retry: .transient) }
            return "third"
        }
        #expect(value == "third")
        #expect(attempts == 3)
        #expect(notices.current.map(\.attempt) == [1, 2])
        #expect(notices.current.map(\.delaySeconds) == [1, 2])
        #expect(clock.sleeps == [1, 2])
    }
}
