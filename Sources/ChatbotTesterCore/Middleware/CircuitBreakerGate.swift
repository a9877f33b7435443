import Foundation

/// Where a backend instance's circuit breaker is kept: in this process (`LocalCircuitBreaker`, the
/// default) or, for a cluster worker, at the coordinator, so that one breaker counts every worker's
/// attempts as one process's breaker counts its own (`MiddlewareEnvironment.makeCircuitBreaker`).
public protocol CircuitBreakerGate: Sendable {
    /// The `target_down` error while the breaker is open (a call fails at once); nil while closed.
    var openError: ChatbotTesterError? { get }

    /// Records an attempt's outcome (`CircuitBreaker.outcome(of:)`; `peer` is where the attempt
    /// went, from its error). Returns what the attempt comes to: the `target_down` error when the
    /// breaker is open after it and the outcome was a connection failure (the attempt throws that
    /// instead of its own error), and whether this very attempt opened it.
    func record(_ outcome: CircuitBreaker.Outcome, peer: String?) async -> CircuitBreakerVerdict
}

/// What a `CircuitBreakerGate` says of one attempt.
public struct CircuitBreakerVerdict: Sendable, Hashable {
    /// Throw this instead of the attempt's own error (nil: the attempt keeps its outcome).
    public var targetDown: ChatbotTesterError?
    /// This attempt opened the breaker, after this many consecutive connection failures, the last
    /// one of this code (the middleware emits `backend.circuit_open` once).
    public var opened: (failures: Int, code: String)?

    public init(targetDown: ChatbotTesterError? = nil, opened: (failures: Int, code: String)? = nil) {
        self.targetDown = targetDown
        self.opened = opened
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.targetDown == rhs.targetDown && lhs.opened?.failures == rhs.opened?.failures && lhs.opened?.code == rhs.opened?.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(targetDown)
        hasher.combine(opened?.failures)
        hasher.combine(opened?.code)
    }
}

/// The breaker of one backend instance in this process.
public final class LocalCircuitBreaker: CircuitBreakerGate {
    private let instance: String
    private let state: Locked<(breaker: CircuitBreaker, error: ChatbotTesterError?)>

    public init(instance: String, settings: CircuitBreaker.Settings) {
        self.instance = instance
        state = Locked((CircuitBreaker(settings: settings), nil))
    }

    public var openError: ChatbotTesterError? { state.withLock { $0.error } }

    public func record(_ outcome: CircuitBreaker.Outcome, peer: String?) async -> CircuitBreakerVerdict {
        let instance = instance
        return state.withLock { entry in
            var verdict = CircuitBreakerVerdict()
            if case .open(let failures, let code, let last) = entry.breaker.record(outcome) {
                entry.error = CircuitBreaker.targetDownError(instance: instance, peer: peer, failures: failures, lastMessage: last)
                verdict.opened = (failures, code)
            }
            // Calls in flight when the breaker opened stop too, rather than retry.
            if let open = entry.error, case .connectionFailure = outcome { verdict.targetDown = open }
            return verdict
        }
    }
}
