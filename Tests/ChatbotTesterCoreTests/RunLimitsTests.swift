import ChatbotTesterCore
import Testing

/// `RunLimits.mayStop(within:)`: whether the samples a scheduler may hold could trip a stop rule,
/// judged by the costliest sample yet and by each of them failing.
@Suite struct RunLimitsTests {
    @Test func theBudgetIsInReachWhenTheCostliestSampleTimesTheHeldOnesWouldSpendIt() {
        var limits = RunLimits(budgetUSD: 10, spentUSD: 2)
        // No cost seen yet: nothing is known to spend.
        #expect(!limits.mayStop(within: 1000))
        #expect(limits.recordFinished(failed: false, costUSD: 0.5) == nil)
        #expect(limits.largestCostUSD == 0.5)
        // 2.5 spent; 15 × 0.5 = 7.5 reaches 10, 14 × 0.5 does not.
        #expect(limits.mayStop(within: 15))
        #expect(!limits.mayStop(within: 14))
        #expect(limits.recordFinished(failed: false, costUSD: 0.1) == nil)
        #expect(limits.largestCostUSD == 0.5 && !limits.mayStop(within: 14))
        #expect(!RunLimits().mayStop(within: 1_000_000))
    }

    @Test func theFailurePolicyIsInReachOnceAFailureWasSeenAndTheHeldSamplesFailingWouldTripIt() {
        var counted = RunLimits(failurePolicy: FailurePolicy(maxFailures: 5))
        // No failure seen: none is expected of the held samples.
        #expect(!counted.mayStop(within: 100))
        _ = counted.recordFinished(failed: false, costUSD: nil)
        #expect(!counted.mayStop(within: 100))
        _ = counted.recordFinished(failed: true, costUSD: nil)
        #expect(counted.mayStop(within: 4) && !counted.mayStop(within: 3))
        // A rate: 10 % over at least 20. After a failure early on, any held sample failing could
        // trip it; after enough successes the held ones cannot.
        var rate = RunLimits(failurePolicy: FailurePolicy(maxFailureRate: 0.1, minSamples: 20))
        _ = rate.recordFinished(failed: true, costUSD: nil)
        #expect(rate.mayStop(within: 19) && !rate.mayStop(within: 18))
        for _ in 0..<500 { _ = rate.recordFinished(failed: false, costUSD: nil) }
        // 1 + k failures of 501 + k finished reach 10 % from k = 55.
        #expect(!rate.mayStop(within: 54) && rate.mayStop(within: 55))
    }
}
