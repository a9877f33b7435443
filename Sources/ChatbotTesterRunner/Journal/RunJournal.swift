import ChatbotTesterCore
import Foundation

/// What an earlier session left in a journal.
public struct JournalScan: Sendable {
    /// Ids of the journaled records.
    public var completedIDs: Set<String>
    /// Totals over the journaled records (each id counted once).
    public var statistics: RunStatistics
    /// Journal lines that could not be read and were skipped.
    public var malformedCount: Int
    /// Line numbers of the first malformed lines (at most 20).
    public var malformedLines: [Int]
    /// Lines repeating an id already seen (skipped).
    public var duplicateLines: Int

    public init() {
        completedIDs = []
        statistics = RunStatistics()
        malformedCount = 0
        malformedLines = []
        duplicateLines = 0
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
    private var handle: (any ArtifactJournal)?
    private let encoder = JSONCoding.encoder()
    private var syncEvery = 256
    private var syncInterval = Duration.seconds(1)
    private var unsynced = 0
    private var oldestUnsynced: ContinuousClock.Instant?
    private let clock = ContinuousClock()
    private var appended = 0

    /// A journal at `key` in `store` (nothing is opened until `open`).
    public init(store: any ArtifactStore, key: String = RunJournal.defaultKey) {
        self.store = store
        self.key = key
    }

    /// Reads back the journal: ids, totals and malformed lines (a torn last line is not counted:
    /// the store skips it, and reopening cuts it off).
    public nonisolated func scan() async throws -> JournalScan {
        var scan = JournalScan()
        guard await store.exists(key) else { return scan }
        let decoder = JSONCoding.decoder()
        for try await (number, text) in store.lines(of: key) {
            guard let line = JournalLine.parse(text), let record = try? line.decodeRecord(decoder: decoder) else {
                scan.malformedCount += 1
                if scan.malformedLines.count < 20 { scan.malformedLines.append(number) }
                continue
            }
            if scan.completedIDs.insert(line.sampleId).inserted {
                scan.statistics.add(record)
            } else {
                scan.duplicateLines += 1
            }
        }
        return scan
    }

    /// The ids already journaled.
    public nonisolated func completedIDs() async throws -> Set<String> {
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
        try await append(line: JournalLine.encode(record, index: index, encoder: encoder))
    }

    /// Appends a line made by `JournalLine.encode` (callers encode off the actor, in parallel).
    public func append(line: Data) async throws {
        guard let handle else { throw ChatbotTesterError(.io, "journal \(key) is not open") }
        try await handle.append(line)
        appended += 1
        unsynced += 1
        if oldestUnsynced == nil { oldestUnsynced = clock.now }
        if unsynced >= syncEvery { try await sync() }
    }

    /// Syncs when the oldest unsynced record has waited `syncInterval`.
    public func syncIfDue() async throws {
        guard let oldestUnsynced, clock.now - oldestUnsynced >= syncInterval else { return }
        try await sync()
    }

    /// Makes every appended record durable.
    public func sync() async throws {
        guard let handle, unsynced > 0 else { return }
        try await handle.sync()
        unsynced = 0
        oldestUnsynced = nil
    }

    /// Records appended by this session.
    public var appendedCount: Int { appended }

    /// Syncs and closes.
    public func close() async throws {
        guard let handle else { return }
        self.handle = nil
        unsynced = 0
        oldestUnsynced = nil
        try await handle.close()
    }
}
