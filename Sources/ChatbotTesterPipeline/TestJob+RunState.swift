import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation

/// One record a run journaled: its input position, the run and, when the run was scored, its
/// evaluations. What a run played one way hands to a resume played the other way
/// (`JobRunStage.adoptRunState(playedTheOtherWay:)`).
public struct JournaledRecord: Sendable {
    public var index: Int
    public var run: RunRecord
    /// The evaluations of `run`; nil when they were not journaled (a run that is not scored).
    public var evals: [EvalRecord]?

    public init(index: Int, run: RunRecord, evals: [EvalRecord]?) {
        self.index = index
        self.run = run
        self.evals = evals
    }
}

extension TestJob {
    /// Calls `body` with every record a run played in this process journaled, in input order, each
    /// case once by the record-key rule (`ResultsWriter`), with the evaluations journaled for it.
    /// Memory stays bounded: both journals are sorted through the store (`ResultsWriter`'s runs)
    /// and read side by side. Lines that cannot be read are skipped (their cases play again).
    public func inProcessRecords(_ body: (JournaledRecord) async throws -> Void) async throws {
        let store = self.store
        let resultsKey = RunJournal.defaultKey + ".sorted", groupsKey = Self.evalJournalKey + ".sorted"
        func removeSorted() async {
            try? await store.delete(resultsKey)
            try? await store.delete(groupsKey)
        }
        do {
            try await ResultsWriter.write(store: store, to: resultsKey, wholeLines: true)
            let scored = await store.exists(Self.evalJournalKey)
            if scored { try await ResultsWriter.write(store: store, journalKey: Self.evalJournalKey, to: groupsKey, uniqueIDs: false, wholeLines: true) }
            let decoder = JSONCoding.decoder()
            var groups = EvalGroupCursor(scored ? store.lines(of: groupsKey) : nil)
            for try await (_, text) in store.lines(of: resultsKey) {
                guard let line = JournalLine.parse(text), let run = try? line.decodeRecord(decoder: decoder) else { continue }
                let evals = try await groups.evaluations(at: line.index, of: run, decoder: decoder)
                try await body(JournaledRecord(index: line.index, run: run, evals: evals))
            }
        } catch {
            await removeSorted()
            throw error
        }
        await removeSorted()
    }

    /// Writes the journals a run played in this process keeps (`results.journal.jsonl`, and
    /// `evals.journal.jsonl` for records with evaluations) from what `records` hands over, in its
    /// order, replacing any there. Each is written beside its place, made durable and renamed into
    /// it — the evaluations first, so a crash leaves either no results journal (the adoption runs
    /// again) or both.
    public func writeInProcessJournals(_ records: ((JournaledRecord) async throws -> Void) async throws -> Void) async throws {
        let store = self.store
        let results = RunJournal(store: store, key: RunJournal.defaultKey + ".adopting")
        let groups = RunJournal(store: store, key: Self.evalJournalKey + ".adopting")
        try await results.open(resume: false)
        try await groups.open(resume: false)
        let encoder = JSONCoding.encoder()
        var scored = false
        do {
            try await records { record in
                try await results.append(record.run, index: record.index)
                if let evals = record.evals {
                    scored = true
                    try await groups.append(line: EvalJournalEntry(run: record.run, evals: evals).journalLine(index: record.index, encoder: encoder))
                }
            }
            try await results.close()
            try await groups.close()
        } catch {
            try? await results.close()
            try? await groups.close()
            try? await store.delete(results.key)
            try? await store.delete(groups.key)
            throw error
        }
        func place(_ key: String, as name: String) throws {
            guard rename(output(key).path, output(name).path) == 0 else {
                throw ChatbotTesterError(.io, "cannot rename \(key) to \(name)", location: SourceLocation(source: output(key).path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
            }
        }
        if scored { try place(groups.key, as: Self.evalJournalKey) } else { try await store.delete(groups.key) }
        try place(results.key, as: RunJournal.defaultKey)
    }
}
