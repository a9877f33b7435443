import ChatbotTesterCore
import Foundation

extension ClusterSpool {
    /// What earlier sessions of this spool left: the journaled sample ids and the dollars they
    /// spent (which count against `run.budgetUSD`, as a single-process resume counts them).
    public struct ResumeState: Sendable {
        /// Samples a resumed run does not play again.
        public var journaledIds: Set<String>
        public var spentUSD: Double
        /// Samples whose only records are errors: kept (not played) unless `retryErrors`.
        public var errors: Int
    }

    /// Reads the journal once for a (re)started coordinator; the dollars spent are summed only
    /// when `spending` (a budget is set), from each record's `run.costUSD` read by the index. With
    /// `retryErrors` (`--resume --retry-errors`) a sample whose recorded result is an error is
    /// played again; by the record-key rule a success then replaces the error in the merge, and
    /// nothing replaces a success.
    public func resumeState(spending: Bool, retryErrors: Bool = false, events: EventBus? = nil) throws -> ResumeState {
        let index = try journalIndex(events: events)
        var spent = 0.0
        var errors = 0
        var ids = Set<String>()
        ids.reserveCapacity(index.entries.count)
        for entry in index.entries {
            if !entry.succeeded { errors += 1 }
            if entry.succeeded || !retryErrors { ids.insert(entry.sampleId) }
            if spending { spent += entry.costUSD ?? 0 }
        }
        return ResumeState(journaledIds: ids, spentUSD: spent, errors: errors)
    }
}
