import ChatbotTesterCore
import Foundation

/// A worker's `RateBudget` for one backend instance: every request waits for a grant from the
/// coordinator, which holds the one budget all workers share (so `rateLimit: {requestsPerMinute:
/// 600}` means 600 for the whole cluster, not 600 per worker).
///
/// Token corrections (`settle`) stay local: the coordinator charges the estimate.
public final class ClusterRateBudget: RateBudget {
    public let instance: String
    private let client: ClusterBudgetClient

    init(instance: String, client: ClusterBudgetClient) {
        self.instance = instance
        self.client = client
    }

    public func acquire(estimatedTokens: Int) async throws {
        try await client.acquire(backend: instance, tokens: estimatedTokens)
    }

    public func settle(estimatedTokens: Int, actualTokens: Int) {}
}

/// Matches budget grants to waiting requests on one worker connection.
final class ClusterBudgetClient: Sendable {
    private struct State {
        var nextId = 1
        var waiting: [Int: CheckedContinuation<Void, any Error>] = [:]
        var closed = false
    }

    private let state = Locked(State())
    private let send: @Sendable (ClusterMessage) -> Void

    init(send: @escaping @Sendable (ClusterMessage) -> Void) {
        self.send = send
    }

    func acquire(backend: String, tokens: Int) async throws {
        try Task.checkCancellation()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let id = state.withLock { state -> Int? in
                guard !state.closed else { return nil }
                let id = state.nextId
                state.nextId += 1
                state.waiting[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: ChatbotTesterError(.cancelled, "the coordinator connection is closed"))
                return
            }
            send(.budgetRequest(.init(requestId: id, backend: backend, tokens: tokens)))
        }
    }

    func granted(_ grant: ClusterMessage.BudgetGrant) {
        state.withLock { $0.waiting.removeValue(forKey: grant.requestId) }?.resume()
    }

    /// Fails every waiting request (the connection is gone).
    func close() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.closed = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume(throwing: ChatbotTesterError(.cancelled, "the coordinator connection is closed")) }
    }
}
