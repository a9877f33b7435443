import ChatbotTesterCore
import Foundation

/// The coordinator's side of shared rate limits: one `LocalRateBudget` per backend instance with a
/// `rateLimit` option, drawn on by every worker's requests. Instances without limits are granted
/// at once.
final class ClusterBudgetServer: Sendable {
    private let budgets: [String: LocalRateBudget]

    init(registry: RegistryConfig) {
        var budgets: [String: LocalRateBudget] = [:]
        for name in registry.names {
            guard let spec = registry[name] else { continue }
            let options = ComponentOptions(spec.options, context: ComponentContext(instanceName: name))
            if let limits = (try? MiddlewareOptions(parsing: options))?.rateLimit {
                budgets[name] = LocalRateBudget(limits: limits)
            }
        }
        self.budgets = budgets
    }

    /// Instances whose budget is shared.
    var limitedInstances: [String] { budgets.keys.sorted() }

    /// Waits until `request` fits the shared budget (at once when its instance has no limit).
    func acquire(_ request: ClusterMessage.BudgetRequest) async throws {
        guard let budget = budgets[request.backend] else { return }
        try await budget.acquire(estimatedTokens: request.tokens)
    }
}
