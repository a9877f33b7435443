import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// A worker's circuit breaker kept by the coordinator: what it sends, when it waits, and what an
/// attempt comes to after the coordinator's word (`ClusterCircuitBreaker`, `ClusterBreakerClient`).
@Suite struct ClusterCircuitBreakerTests {
    static let refused = CircuitBreaker.Outcome.connectionFailure(code: "connection_refused", message: "connection refused")
    static let down = ClusterMessage.BreakerState.Down(failures: 2, last: .init(code: "connection_refused", message: "connection refused", peer: "http://h:1/v1"))

    /// The `count`th message sent (waiting for it).
    static func message(_ sent: Locked<[ClusterMessage]>, _ count: Int) async throws -> ClusterMessage {
        try await withTimeout(10) {
            while sent.withLock({ $0.count }) < count { try await Task.sleep(nanoseconds: 1_000_000) }
            return sent.withLock { $0[count - 1] }
        }
    }

    static func report(_ message: ClusterMessage) throws -> ClusterMessage.BreakerReport {
        guard case .breakerReport(let report) = message else { throw ChatbotTesterError(.proto, "expected breakerReport, got \(message.typeName)") }
        return report
    }

    @Test func aFailureWaitsForTheCoordinatorsWordAndAnOpenBreakerFailsAtOnce() async throws {
        let sent = Locked<[ClusterMessage]>([])
        let client = ClusterBreakerClient { message in sent.withLock { $0.append(message) } }
        let breaker = ClusterCircuitBreaker(instance: "bot", settings: .init(consecutiveFailures: 2), client: client)
        // Nothing to tell while nothing failed.
        #expect(await breaker.record(.neutral, peer: nil) == CircuitBreakerVerdict())
        #expect(await breaker.record(.answered, peer: nil) == CircuitBreakerVerdict())
        #expect(sent.withLock { $0.isEmpty })

        // A connection failure is reported and waits for the answer.
        let first = Task { await breaker.record(Self.refused, peer: "http://h:1/v1") }
        let reported = try Self.report(try await Self.message(sent, 1))
        #expect(reported.backend == "bot" && reported.consecutiveFailures == 2)
        #expect(reported.failure == .init(code: "connection_refused", message: "connection refused", peer: "http://h:1/v1"))
        let reportedId: Int = try #require(reported.requestId)
        client.received(.init(requestId: reportedId, backend: "bot", down: nil))
        #expect(await first.value == CircuitBreakerVerdict())

        // Answered after a reported failure: the coordinator hears it once (no answer is awaited).
        _ = await breaker.record(.answered, peer: nil)
        _ = await breaker.record(.answered, peer: nil)
        #expect(sent.withLock { $0.count } == 2)
        let reset = try Self.report(try await Self.message(sent, 2))
        #expect(reset.failure == nil && reset.requestId == nil)

        // The answer that says this failure opened the breaker: `target_down`, as one process throws.
        let second = Task { await breaker.record(Self.refused, peer: "http://h:1/v1") }
        let opening = try Self.report(try await Self.message(sent, 3))
        let openingId: Int = try #require(opening.requestId)
        client.received(.init(requestId: openingId, backend: "bot", down: Self.down, opened: true))
        let verdict = await second.value
        let expected = CircuitBreaker.targetDownError(instance: "bot", peer: "http://h:1/v1", failures: 2, lastMessage: "connection refused")
        #expect(verdict.targetDown == expected && verdict.opened?.failures == 2 && verdict.opened?.code == "connection_refused")
        #expect(breaker.openError == expected)
        // Open: a failure in flight fails at once, reporting nothing; an answered attempt tells nothing.
        #expect(await breaker.record(Self.refused, peer: nil).targetDown == expected)
        #expect(sent.withLock { $0.count } == 3)
        #expect(await breaker.record(.answered, peer: nil) == CircuitBreakerVerdict())
    }

    @Test func wordThatAnInstanceIsDownOpensItsBreakerAndAClosedConnectionKeepsTheOutcome() async throws {
        let sent = Locked<[ClusterMessage]>([])
        let client = ClusterBreakerClient { message in sent.withLock { $0.append(message) } }
        let judge = ClusterCircuitBreaker(instance: "judge", settings: .init(consecutiveFailures: 5), client: client)
        #expect(judge.openError == nil)
        client.received(.init(requestId: nil, backend: "judge", down: Self.down))
        #expect(judge.openError?.code == .targetDown)
        #expect(judge.openError?.message.contains("backend 'judge' at http://h:1 is down: 2 consecutive connection failures") == true)
        // A report waiting when the connection closes gets no word: the attempt keeps its own error.
        let bot = ClusterCircuitBreaker(instance: "bot", settings: .init(consecutiveFailures: 5), client: client)
        let waiting = Task { await bot.record(Self.refused, peer: nil) }
        _ = try await Self.message(sent, 1)
        client.close()
        #expect(await waiting.value == CircuitBreakerVerdict())
        #expect(await bot.record(Self.refused, peer: nil) == CircuitBreakerVerdict())
    }
}
