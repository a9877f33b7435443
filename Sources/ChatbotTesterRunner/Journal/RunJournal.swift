import ChatbotTesterCore
import Foundation

/// What an earlier session left in a journal.
public struct JournalScan: Sendable {
    /// Ids of the journaled records (compact digests: ask `contains`, `count`).
    public var completedIDs: IDDigestSet
    /// Totals over the journaled records (each id counted once).
    public var statistics: RunStatistics
    /// Journal lines that could not be read and were skipped.
    public var malformedCount: Int
    /// Line numbers of the first malformed lines (at most 20).
    public var malformedLines: [Int]
    /// Lines repeating an id already seen (skipped).
    public var duplicateLines: Int
    /// Ids whose only records are errors, kept as completed (a scan without `retryErrors`).
    public var keptErrors: Int
    /// Ids whose only records are errors, left out of `completedIDs` to be played again (`retryErrors`).
    public var retriedErrors: Int
    /// One message per error code among the counted records (the first seen), for summaries.
    public var errorExamples: [String: String]
    /// Lines whose record is not the input's case at their position (`RunJournal.input`): skipped,
    /// so their cases run again.
    public var foreignCount = 0
    /// The first of those (at most 20): line number, sample id and position.
    public var foreignLines: [(line: Int, sampleId: String, index: Int)] = []

    public init() {
        completedIDs = IDDigestSet()
        statistics = RunStatistics()
        malformedCount = 0
        malformedLines = []
        duplicateLines = 0
        keptErrors = 0
        retriedErrors = 0
        errorExamples = [:]
    }
}

/// The crash-safe record of a run: one line per finished sample, appended as samples finish and
/// fsync'd in batches (every `syncEvery` records (default 256), or `syncInterval` after the oldest unsynced one).
///
/// A resumed run reads the journal back (`scan()`), skips the ids in it and appends the rest, so
/// every id is journaled exactly once. Lines are `{"index":N,"record":{…}}` (see `JournalLine`);
/// `ResultsWriter` turns the journal into `results.jsonl` in dataset order.
public actor RunJournal {
    /// The journal key used when none is given.
    public static let defaultKey = "results.journal.jsonl"

    public nonisolated let store: any ArtifactStore
    public nonisolated let key: String
    /// The ids of the run's input by position, when known: a resume then keeps only the lines whose
    /// record is the input's case at the line's position (`scan`), as `ResultsWriter` does when it
    /// is given them — a line left by another input, or edited by hand, is skipped and its case
    /// runs again, as a sharded run skips a journal line its spool's manifest does not list.
    public nonisolated let input: IDsByPosition?
    private var handle: (any ArtifactJournal)?
    private var syncEvery = 256
    private var syncInterval = Duration.seconds(1)
    private var unsynced = 0
    private var oldestUnsynced: ContinuousClock.Instant?
    private let clock = ContinuousClock()
    private var appended = 0
    /// The fsync running in the background, if any (at most one at a time).
    private var syncInFlight: Task<Void, Never>?
    /// What a background fsync threw, reported by the next append, sync or close.
    private var syncFailure: (any Error)?

    /// A journal at `key` in `store` (nothing is opened until `open`), checked on resume against
    /// `input` (the ids of the run's input by position) when given.
    public init(store: any ArtifactStore, key: String = RunJournal.defaultKey, input: IDsByPosition? = nil) {
        self.store = store
        self.key = key
        self.input = input
    }

    /// Reads back the journal: ids, totals and malformed lines (a torn last line is not counted:
    /// the store skips it, and reopening cuts it off).
    ///
    /// Per the record-key contract a success is final and an error can be replaced: an id with an
    /// `ok` record counts with it (never with an error journaled before or after it); an id with
    /// only errors counts with its first error, or — with `retryErrors` — is not completed at all,
    /// so a resumed run plays it again. With `input`, a line whose sample id is not the input's at
    /// its position counts as not journaled (`foreignCount`, `foreignLines`).
    public nonisolated func scan(retryErrors: Bool = false) async throws -> JournalScan {
        var scan = JournalScan()
        guard await store.exists(key) else { return scan }
        let decoder = JSONCoding.decoder()
        // Pass 1: each id's best status (bits below, kept as compact digests, not strings); totals
        // of the first record per id (exact unless some id has an error record, which pass 2 then
        // settles).
        let hasOK = 1, hasError = 2, counted = 4
        var ids = IDDigestSet(values: true)
        var sawError = false
        var firstStatistics = RunStatistics()
        for try await (number, text) in store.lines(of: key) {
            guard let line = JournalLine.parse(text), let record = try? line.decodeRecord(decoder: decoder) else {
                scan.malformedCount += 1
                if scan.malformedLines.count < 20 { scan.malformedLines.append(number) }
                continue
            }
            guard line.belongs(to: input) else {
                scan.foreignCount += 1
                if scan.foreignLines.count < 20 { scan.foreignLines.append((number, line.sampleId, line.index)) }
                continue
            }
            let bit = record.status == .ok ? hasOK : hasError
            if bit == hasError { sawError = true }
            if let seen = ids.insert(line.sampleId, value: bit) {
                ids.update(line.sampleId, value: seen | bit)
                scan.duplicateLines += 1
            } else {
                firstStatistics.add(record)
            }
        }
        let errorOnly = ids.count(values: { $0 & hasOK == 0 })
        if retryErrors { scan.retriedErrors = errorOnly } else { scan.keptErrors = errorOnly }
        guard sawError else {
            scan.completedIDs = ids
            scan.statistics = firstStatistics
            return scan
        }
        // Pass 2: count each completed id once, with its ok record when it has one.
        for try await (_, text) in store.lines(of: key) {
            guard let line = JournalLine.parse(text), line.belongs(to: input),
                let state = ids.value(of: line.sampleId), state & counted == 0,
                state & hasOK != 0 || !retryErrors, let record = try? line.decodeRecord(decoder: decoder)
            else { continue }
            if record.status != .ok && state & hasOK != 0 { continue }
            ids.update(line.sampleId, value: state | counted)
            scan.statistics.add(record)
            if let error = record.error, scan.errorExamples[error.code] == nil { scan.errorExamples[error.code] = error.message }
        }
        scan.completedIDs = retryErrors ? ids.filter(values: { $0 & hasOK != 0 }) : ids
        return scan
    }

    /// The ids already journaled.
    public nonisolated func completedIDs() async throws -> IDDigestSet {
        try await scan().completedIDs
    }

    /// Opens the journal for appending. Without `resume` an existing journal is removed first (a
    /// fresh run); with it, new lines go after the old ones.
    public func open(resume: Bool, syncEvery: Int = 256, syncInterval: Duration = .seconds(1)) async throws {
        if handle != nil { return }
        if !resume { try await store.delete(key) }
        handle = try await store.openJournal(key)
        self.syncEvery = max(1, syncEvery)
        self.syncInterval = syncInterval
    }

    /// Appends a finished sample's record; syncs when the batch is full.
    public func append(_ record: RunRecord, index: Int) async throws {
        try await append(line: JournalLine.encode(record, index: index))
    }

    /// Appends one line. Every `syncEvery` lines (and, through `syncIfDue`, at least every
    /// `syncInterval`) an fsync starts in the background: the caller does not wait for the disk,
    /// and an fsync that fails is thrown by the next `append`, `sync` or `close`.
    public func append(line: Data) async throws {
        guard let handle else { throw ChatbotTesterError(.io, "journal \(key) is not open") }
        try throwSyncFailure()
        try await handle.append(line)
        appended += 1
        unsynced += 1
        if oldestUnsynced == nil { oldestUnsynced = clock.now }
        if unsynced >= syncEvery { startSync(handle) }
    }

    /// Starts an fsync when the oldest line not yet synced is `syncInterval` old (the Runner calls
    /// this on a timer); does not wait for it.
    public func syncIfDue() async throws {
        try throwSyncFailure()
        guard let handle, let oldestUnsynced, clock.now - oldestUnsynced >= syncInterval else { return }
        startSync(handle)
    }

    /// Makes every line appended so far durable, and waits for it.
    public func sync() async throws {
        await waitForSync()
        try throwSyncFailure()
        guard let handle, unsynced > 0 else { return }
        let covered = unsynced
        try await handle.sync()
        unsynced -= min(covered, unsynced)
        if unsynced == 0 { oldestUnsynced = nil }
    }

    /// Starts a background fsync of what is appended, unless one is running (the lines appended
    /// meanwhile stay counted, so the next due point syncs them).
    private func startSync(_ handle: any ArtifactJournal) {
        guard syncInFlight == nil else { return }
        unsynced = 0
        oldestUnsynced = nil
        syncInFlight = Task {
            let failure: (any Error)?
            do {
                try await handle.sync()
                failure = nil
            } catch {
                failure = error
            }
            self.syncFinished(failure)
        }
    }

    private func syncFinished(_ failure: (any Error)?) {
        syncInFlight = nil
        if let failure, syncFailure == nil { syncFailure = failure }
    }

    private func waitForSync() async {
        while let running = syncInFlight { await running.value }
    }

    private func throwSyncFailure() throws {
        if let failure = syncFailure {
            syncFailure = nil
            throw failure
        }
    }

    /// Records appended by this session.
    public var appendedCount: Int { appended }

    /// Syncs and closes.
    public func close() async throws {
        guard let handle else { return }
        await waitForSync()
        self.handle = nil
        unsynced = 0
        oldestUnsynced = nil
        try await handle.close()
        try throwSyncFailure()
    }
}
