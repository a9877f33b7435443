import ChatbotTesterCore
import Foundation

extension ClusterSpool {
    /// What earlier sessions of this spool left: the journaled samples and the dollars they
    /// spent (which count against `run.budgetUSD`, as a single-process resume counts them).
    public struct ResumeState: Sendable {
        /// Samples a resumed run does not play again, by dataset index (a bit each).
        public var journaled: JournaledSamples
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
    /// when `spending` (a budget is set), from each kept record's `run.costUSD`; the totals from
    /// each kept record's report part (`journal.parts`) when it has one. With
    /// `retryErrors` (`--resume --retry-errors`) a sample whose recorded result is an error is
    /// played again; by the record-key rule a success then replaces the error in the merge, and
    /// nothing replaces a success.
    ///
    /// The journal is read once: the scan that indexes it sums what each admitted line says while
    /// its bytes are at hand. Only when a later success replaced an error already summed (a
    /// journal that went through `--retry-errors`), or when the index came from what this process
    /// kept, are the kept lines read again for their totals.
    public func resumeState(spending: Bool, retryErrors: Bool = false, events: EventBus? = nil) throws -> ResumeState {
        /// Adds what `envelope` counts: its report part's facts when they agree with it, else its run's.
        func sum(_ envelope: ClusterRecordEnvelope, into totals: inout ClusterRunTotals, spent: inout Double) throws {
            if !totals.add(reportedBy: envelope) { totals.add(try ClusterRunFacts(scanningRunOf: envelope)) }
            if spending { spent += envelope.costUSD ?? 0 }
        }
        var totals = ClusterRunTotals(), spent = 0.0, summedInScan = true
        // Each line's part read forward beside the journal as the scan goes.
        let sideParts = ClusterReportPartsCursor(spool: directory)
        let (index, scanned) = try journalIndex(events: events) { envelope, range, admission in
            guard summedInScan, admission != .duplicate else { return }
            // A success replacing an error summed already: the kept lines are read again below.
            guard admission == .first else { return summedInScan = false }
            guard envelope.status == .ok || !retryErrors else { return }
            var envelope = envelope
            envelope.reportPart = sideParts?.part(journalOffset: range.lowerBound, lineLength: range.count, sampleId: envelope.sampleId, index: envelope.index)
            do { try sum(envelope, into: &totals, spent: &spent) } catch { summedInScan = false }
        }
        var errors = 0
        var journaled = JournaledSamples()
        for entry in index.entries {
            if !entry.succeeded { errors += 1 }
            if entry.succeeded || !retryErrors { journaled.insert(entry.index) }
        }
        if !(scanned && summedInScan) {
            totals = ClusterRunTotals()
            spent = 0
            // Each kept line's report part carries what the totals count (as the coordinator counted
            // it live): the run is scanned only for a line without one, or whose part disagrees.
            let parts = ClusterReportParts(spool: directory, keeping: index)
            for entry in index.entries where entry.succeeded || !retryErrors {
                do {
                    var envelope = try ClusterRecordEnvelope.reading(index.bytes(of: entry))
                    envelope.reportPart = parts.part(line: entry.range, sampleId: entry.sampleId, index: entry.index)
                    try sum(envelope, into: &totals, spent: &spent)
                } catch let error as ChatbotTesterError {
                    throw error
                } catch {
                    throw ChatbotTesterError(.invalidInput, "journal line \(entry.line) changed while it was read: \(error)", location: SourceLocation(source: journalURL.path, line: entry.line))
                }
            }
        }
        return ResumeState(journaled: journaled, spentUSD: spent, errors: errors, totals: totals, keptErrors: retryErrors ? 0 : errors)
    }
}

/// A set of dataset indexes, a bit each: the samples a resumed run finds journaled (a million
/// take 125 KB, where a set of their ids takes tens of MB).
public struct JournaledSamples: Sendable, Equatable {
    private var words: [UInt64] = []
    /// How many indexes are in the set.
    public private(set) var count = 0

    public init() {}

    /// Whether dataset index `index` is in the set.
    public func contains(_ index: Int) -> Bool {
        guard index >= 0, index >> 6 < words.count else { return false }
        return words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    /// Adds dataset index `index` (not negative).
    public mutating func insert(_ index: Int) {
        precondition(index >= 0, "a dataset index is never negative")
        if index >> 6 >= words.count { words.append(contentsOf: repeatElement(0, count: (index >> 6) + 1 - words.count)) }
        let bit: UInt64 = 1 << UInt64(index & 63)
        guard words[index >> 6] & bit == 0 else { return }
        words[index >> 6] |= bit
        count += 1
    }
}
