import ChatbotTesterCore
import Foundation
import Testing

@Suite("Circuit breaker: a pure count of consecutive connection failures")
struct CircuitBreakerTests {
    private let refused = CircuitBreaker.Outcome.connectionFailure(code: "connection_refused", message: "connection refused")

    @Test func opensAtTheThresholdOnly() {
        var breaker = CircuitBreaker(settings: .init(consecutiveFailures: 3))
        #expect(breaker.record(refused) == .none)
        #expect(breaker.record(refused) == .none)
        #expect(breaker.record(refused) == .open(failures: 3, lastCode: "connection_refused", lastMessage: "connection refused"))
        #expect(breaker.isOpen)
        #expect(breaker.record(refused) == .none, "opens once")
        #expect(breaker.record(.answered) == .none)
        #expect(breaker.isOpen, "stays open for the run")
    }

    @Test func aReplyResetsATimeoutDoesNot() {
        var breaker = CircuitBreaker(settings: .init(consecutiveFailures: 2))
        _ = breaker.record(refused)
        _ = breaker.record(.answered)
        _ = breaker.record(refused)
        _ = breaker.record(.neutral)
        #expect(breaker.consecutiveFailures == 1)
        #expect(!breaker.isOpen)
        #expect(breaker.record(refused) != .none)
    }

    @Test func errorsMapToOutcomes() {
        func outcome(_ code: ChatbotTesterError.Code) -> CircuitBreaker.Outcome {
            CircuitBreaker.outcome(of: ChatbotTesterError(code, "x", retry: .transient))
        }
        for code in [ChatbotTesterError.Code.connectionRefused, .connectionClosed, .dns, .tls, .transport] {
            #expect(outcome(code) == .connectionFailure(code: code.rawValue, message: "x"))
        }
        for code in [ChatbotTesterError.Code.http5xx, .http4xx, .http429, .badResponse] { #expect(outcome(code) == .answered) }
        #expect(outcome(.timeout) == .neutral)
        #expect(CircuitBreaker.outcome(of: CancellationError()) == .neutral)
        let peer = ChatbotTesterError(
            .connectionRefused, "http://h:8/v1/x: connection refused", location: SourceLocation(source: "http://h:8/v1/x", field: "backends.bot"))
        #expect(CircuitBreaker.outcome(of: peer) == .connectionFailure(code: "connection_refused", message: "connection refused"))
        #expect(
            CircuitBreaker.targetDownError(instance: "bot", peer: "http://h:8/v1/x", failures: 4, lastMessage: "connection refused").description
                == "backend 'bot' at http://h:8 is down: 4 consecutive connection failures (connection refused)")
    }

    @Test func httpStatusCodes() {
        #expect(ChatbotTesterError.Code.http(status: 429) == .http429)
        #expect(ChatbotTesterError.Code.http(status: 401) == .http4xx)
        #expect(ChatbotTesterError.Code.http(status: 503) == .http5xx)
        #expect(ChatbotTesterError.Code.http(status: 302) == .httpStatus)
    }

    private func parse(_ options: [String: JSONValue]) throws -> MiddlewareOptions {
        try MiddlewareOptions(parsing: ComponentOptions(options, context: ComponentContext(instanceName: "bot")))
    }

    @Test func optionsParse() throws {
        #expect(try parse([:]).circuitBreaker == CircuitBreaker.Settings(consecutiveFailures: 10))
        #expect(try parse(["circuitBreaker": false]).circuitBreaker == nil)
        #expect(try parse(["circuitBreaker": 3]).circuitBreaker?.consecutiveFailures == 3)
        #expect(try parse(["circuitBreaker": ["consecutiveFailures": 4]]).circuitBreaker?.consecutiveFailures == 4)
        #expect(throws: ChatbotTesterError.self) { try parse(["circuitBreaker": ["consecutiveFailures": 0]]) }
        #expect(throws: ChatbotTesterError.self) { try parse(["circuitBreaker": ["threshold": 4]]) }
    }
}
