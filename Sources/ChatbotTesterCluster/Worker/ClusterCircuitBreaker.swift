import ChatbotTesterCore
import Foundation

/// A worker's circuit breaker for one backend instance, kept by the coordinator: each attempt that
/// fails at the connection level is reported and waits for the coordinator's word (its one
/// `CircuitBreaker` per instance counts every worker's attempts, so `circuitBreaker:
/// {consecutiveFailures: 10}` means ten in a row for the whole run, not ten per worker); the
/// attempt that opens it, and every call after, fail with `target_down` as in one process. An
/// answered attempt after reported failures tells the coordinator the count starts over.
public final class ClusterCircuitBreaker: CircuitBreakerGate {
    public let instance: String
    public let settings: CircuitBreaker.Settings
    private let client: ClusterBreakerClient

    init(instance: String, settings: CircuitBreaker.Settings, client: ClusterBreakerClient) {
        self.instance = instance
        self.settings = settings
        self.client = client
    }

    public var openError: ChatbotTesterError? { client.openError(instance) }

    public func record(_ outcome: CircuitBreaker.Outcome, peer: String?) async -> CircuitBreakerVerdict {
        switch outcome {
        case .neutral:
            return CircuitBreakerVerdict()
        case .answered:
            client.answered(instance, consecutiveFailures: settings.consecutiveFailures)
            return CircuitBreakerVerdict()
        case .connectionFailure(let code, let message):
            if let open = client.openError(instance) { return CircuitBreakerVerdict(targetDown: open) }
            let failure = ClusterMessage.BreakerReport.Failure(code: code, message: message, peer: peer)
            // The connection is gone: the attempt keeps its own outcome (the worker is leaving).
            guard let state = await client.report(instance, consecutiveFailures: settings.consecutiveFailures, failure: failure) else {
                return CircuitBreakerVerdict()
            }
            guard let down = state.down else { return CircuitBreakerVerdict() }
            return CircuitBreakerVerdict(
                targetDown: ClusterBreakerClient.targetDown(instance, down), opened: state.opened == true ? (down.failures, down.last.code) : nil)
        }
    }
}

/// Matches breaker answers to waiting reports on one worker connection, and keeps what the
/// coordinator said is open.
final class ClusterBreakerClient: Sendable {
    private struct State {
        /// Instances the coordinator said are down.
        var open: [String: ChatbotTesterError] = [:]
        /// Instances with a failure reported since their last answered attempt.
        var reported: Set<String> = []
    }

    private let state = Locked(State())
    private let waiters = ClusterReplyWaiters<ClusterMessage.BreakerState>()
    private let send: @Sendable (ClusterMessage) -> Void

    init(send: @escaping @Sendable (ClusterMessage) -> Void) {
        self.send = send
    }

    /// The `target_down` error the coordinator's word makes (what one process's breaker throws).
    static func targetDown(_ instance: String, _ down: ClusterMessage.BreakerState.Down) -> ChatbotTesterError {
        CircuitBreaker.targetDownError(instance: instance, peer: down.last.peer, failures: down.failures, lastMessage: down.last.message)
    }

    func openError(_ instance: String) -> ChatbotTesterError? {
        state.withLock { $0.open[instance] }
    }

    /// Reports a connection failure and waits for the coordinator's answer (nil once the
    /// connection is closed).
    func report(_ instance: String, consecutiveFailures: Int, failure: ClusterMessage.BreakerReport.Failure) async -> ClusterMessage.BreakerState? {
        _ = state.withLock { $0.reported.insert(instance) }
        return await waiters.request { id in
            send(.breakerReport(.init(requestId: id, backend: instance, consecutiveFailures: consecutiveFailures, failure: failure)))
        }
    }

    /// An attempt was answered: after reported failures, the coordinator's count starts over.
    func answered(_ instance: String, consecutiveFailures: Int) {
        guard state.withLock({ $0.reported.remove(instance) != nil }), !waiters.isClosed else { return }
        send(.breakerReport(.init(requestId: nil, backend: instance, consecutiveFailures: consecutiveFailures, failure: nil)))
    }

    /// The coordinator's word: an answer to a report, or that an instance is down.
    func received(_ breaker: ClusterMessage.BreakerState) {
        if let down = breaker.down {
            state.withLock { state in
                if state.open[breaker.backend] == nil { state.open[breaker.backend] = Self.targetDown(breaker.backend, down) }
            }
        }
        if let id = breaker.requestId { waiters.reply(id, breaker) }
    }

    /// Answers every waiting report with nil (the connection is gone).
    func close() {
        waiters.close()
    }
}
