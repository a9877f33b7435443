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
    private let waiters = ClusterReplyWaiters<Bool>()
    private let send: @Sendable (ClusterMessage) -> Void

    init(send: @escaping @Sendable (ClusterMessage) -> Void) {
        self.send = send
    }

    func acquire(backend: String, tokens: Int) async throws {
        try Task.checkCancellation()
        let granted = await waiters.request { id in send(.budgetRequest(.init(requestId: id, backend: backend, tokens: tokens))) }
        guard granted == true else { throw ChatbotTesterError(.cancelled, "the coordinator connection is closed") }
    }

    func granted(_ grant: ClusterMessage.BudgetGrant) {
        waiters.reply(grant.requestId, true)
    }

    /// Fails every waiting request (the connection is gone).
    func close() {
        waiters.close()
    }
}
