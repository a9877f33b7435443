import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct TimeoutTests {
    @Test func hungCallTimesOutAsTransientAndIsCancelled() async throws {
        let mock = MockChatBackend(script: [.hang])
        let clock = VirtualClock(autoAdvance: false)
        let bot = try await makeBot(["timeoutSeconds": 60, "retry": false], mock: mock, environment: MiddlewareEnvironment(clock: clock))
        let call = Task { try await bot.send(.user("hello?")) }
        await clock.waitForSleepers(1)
        clock.advance(by: 59)
        #expect(clock.pendingSleepers == 1)
        clock.advance(by: 1)
        let error = await #expect(throws: ChatbotTesterError.self) { try await call.value }
        #expect(error?.code == .timeout)
        #expect(error?.retry == .transient)
        #expect(error?.location?.field == "backends.bot")
        // The hung call was cancelled, not left running.
        while mock.inFlight > 0 { await Task.yield() }
    }

    @Test func timedOutAttemptIsRetried() async throws {
        let mock = MockChatBackend(script: [.hang, .text("second time lucky")])
        let clock = VirtualClock(autoAdvance: false)
        let bot = try await makeBot(
            ["timeoutSeconds": 5, "retry": ["attempts": 2, "baseDelaySeconds": 0]], mock: mock,
            environment: MiddlewareEnvironment(clock: clock, random: { 0 }))
        let call = Task { try await bot.send(.user("hello?")) }
        await clock.waitForSleepers(1)
        clock.advance(by: 5)
        let reply = try await call.value
        #expect(reply.content == "second time lucky")
        #expect(reply.attempts == 2)
    }

    @Test func fastCallReturnsAndStopsTheTimer() async throws {
        let clock = VirtualClock(autoAdvance: false)
        let value = try await TimeoutRunner.run(seconds: 10, clock: clock) { 42 }
        #expect(value == 42)
        while clock.pendingSleepers > 0 { await Task.yield() }
    }

    @Test func operationThatIgnoresCancellationDoesNotHoldTheCaller() async throws {
        let clock = VirtualClock(autoAdvance: false)
        let release = MockChatBackend(gated: true)
        let call = Task {
            try await TimeoutRunner.run(seconds: 1, clock: clock) {
                // Ignores cancellation: only the gate lets it out.
                try await release.send(.user("x")).content
            }
        }
        await clock.waitForSleepers(1)
        clock.advance(by: 1)
        await #expect(throws: ChatbotTesterError.self) { try await call.value }
        release.open()
    }

    @Test func callerCancellationEndsTheWait() async throws {
        let clock = VirtualClock(autoAdvance: false)
        let mock = MockChatBackend(script: [.hang])
        let call = Task { try await TimeoutRunner.run(seconds: 100, clock: clock) { try await mock.send(.user("x")) } }
        await clock.waitForSleepers(1)
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
    }
}
