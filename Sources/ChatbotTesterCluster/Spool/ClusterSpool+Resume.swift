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
        /// The totals of the records a resumed run keeps (each sample once, by the record-key
        /// rule): where the run's statistics start, as the Runner's start from its journal.
        public var totals = ClusterRunTotals()
        /// Samples recorded as errors and kept (`errors` without `retryErrors`, else 0).
        public var keptErrors: Int
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
        var totals = ClusterRunTotals()
        for entry in index.entries {
            if !entry.succeeded { errors += 1 }
            guard entry.succeeded || !retryErrors else { continue }
            ids.insert(entry.sampleId)
            if spending { spent += entry.costUSD ?? 0 }
            do {
                totals.add(try ClusterRunFacts(scanning: ClusterRecordEnvelope(scanning: index.bytes(of: entry))))
            } catch let error as ChatbotTesterError {
                throw error
            } catch {
                throw ChatbotTesterError(.invalidInput, "journal line \(entry.line) changed while it was read: \(error)", location: SourceLocation(source: journalURL.path, line: entry.line))
            }
        }
        return ResumeState(journaledIds: ids, spentUSD: spent, errors: errors, totals: totals, keptErrors: retryErrors ? 0 : errors)
    }
}
