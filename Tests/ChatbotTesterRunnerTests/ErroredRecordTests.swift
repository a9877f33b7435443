import ChatbotTesterCore
import ChatbotTesterRunner
import ChatbotTesterTesting
import Foundation
import Testing

/// An errored record says what really happened: the attempts made and the time they took.
@Suite struct ErroredRecordTests {
    @Test func aCaseThatFailsAfterRetriesRecordsItsAttemptsAndLatency() async throws {
        let mock = MockChatBackend(script: Array(repeating: .serverError, count: 5))
        let bot = try BackendMiddleware.wrap(
            mock, name: "bot", options: MiddlewareOptions(retry: RetryPolicy(attempts: 5)),
            environment: MiddlewareEnvironment(clock: VirtualClock(), random: { 0 }))
        let record = await Runner(target: bot, targetName: "bot", options: RunnerOptions()).play(TestSample(id: "q1", input: "hi"))
        #expect(record.status == .error)
        #expect(mock.requests.count == 5)
        #expect(record.attempts == 5)
        #expect(record.latencyMs > 0)
        #expect(record.turns.isEmpty)
    }

    @Test func theAttemptsOfEarlierTurnsAddUp() async throws {
        let mock = MockChatBackend(script: [.serverError, .text("one"), .badRequest])
        let bot = try BackendMiddleware.wrap(
            mock, name: "bot", options: MiddlewareOptions(retry: RetryPolicy(attempts: 3)),
            environment: MiddlewareEnvironment(clock: VirtualClock(), random: { 0 }))
        let record = await Runner(target: bot, targetName: "bot", options: RunnerOptions())
            .play(TestSample(id: "c1", turns: ["first", "second"]))
        #expect(record.status == .error)
        #expect(record.turns.map(\.attempts) == [2])
        #expect(record.attempts == 3)  // 2 for the first turn, 1 (not retryable) for the second
    }
}
