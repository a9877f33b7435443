import ChatbotTesterCore
import Foundation

extension ClusterSpool {
    /// What earlier sessions of this spool left: the journaled sample ids and the dollars they
    /// spent (which count against `run.budgetUSD`, as a single-process resume counts them).
    public struct ResumeState: Sendable {
        public var journaledIds: Set<String>
        public var spentUSD: Double
    }

    /// Reads the journal once for a (re)started coordinator; the dollars spent are summed only
    /// when `spending` (a budget is set), from each record's `run.costUSD` read by the index.
    public func resumeState(spending: Bool, events: EventBus? = nil) throws -> ResumeState {
        let index = try journalIndex(events: events)
        var spent = 0.0
        var ids = Set<String>()
        ids.reserveCapacity(index.entries.count)
        for entry in index.entries {
            ids.insert(entry.sampleId)
            if spending { spent += entry.costUSD ?? 0 }
        }
        return ResumeState(journaledIds: ids, spentUSD: spent)
    }
}
