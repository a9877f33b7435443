import ChatbotTesterCore
import Foundation

/// Requests a worker sends the coordinator and waits on, matched to their replies by request id,
/// on one connection: what rate-budget grants (`ClusterBudgetClient`) and circuit-breaker answers
/// (`ClusterBreakerClient`) share.
final class ClusterReplyWaiters<Reply: Sendable>: Sendable {
    private struct State {
        var nextId = 1
        var waiting: [Int: CheckedContinuation<Reply?, Never>] = [:]
        var closed = false
    }

    private let state = Locked(State())

    /// Whether the connection is gone (`close()`).
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Takes the next request id, lets `send` send the request made with it, and waits for the
    /// reply; nil at once when the connection is gone, or when it goes while waiting.
    func request(_ send: (Int) -> Void) async -> Reply? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Reply?, Never>) in
            let id = state.withLock { state -> Int? in
                guard !state.closed else { return nil }
                let id = state.nextId
                state.nextId += 1
                state.waiting[id] = continuation
                return id
            }
            guard let id else { return continuation.resume(returning: nil) }
            send(id)
        }
    }

    /// The reply to request `id` (ignored when nothing waits for it).
    func reply(_ id: Int, _ value: Reply) {
        state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: value)
    }

    /// The connection is gone: every waiting request gets nil, and later ones at once.
    func close() {
        let waiting = state.withLock { state -> [CheckedContinuation<Reply?, Never>] in
            state.closed = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume(returning: nil) }
    }
}
