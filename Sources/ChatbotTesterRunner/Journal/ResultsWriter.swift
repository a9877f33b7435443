import ChatbotTesterCore
import Foundation

/// What `ResultsWriter` wrote.
public struct ResultsWriteReport: Sendable, Hashable, Codable {
    /// Records written (each sample id once).
    public var records: Int
    /// Journal lines skipped because their id was already written.
    public var duplicates: Int
    /// Journal lines skipped because they could not be read.
    public var malformed: Int
    /// Sorted runs spilled to temporary artifacts (0 when everything fit in one chunk).
    public var spilledChunks: Int
    /// Journal lines skipped because their record is not the input's case at their position.
    public var foreign: Int = 0
}

/// Turns a run journal (completion order, possibly over several resumed sessions) into
/// `results.jsonl`: every sample id exactly once, in dataset (input) order. An id journaled both
/// as an error and as a success (`--resume --retry-errors`) is written with its success; nothing
/// replaces a success.
///
/// Memory stays bounded: journal lines are sorted by input position in chunks of `chunkSize`
/// records, spilled to temporary artifacts under `<output>.sort/`, and merged; only the set of
/// written ids grows with the run (20 bytes per sample, `IDDigestSet`). No merge reads more than
/// `mergeWidth` sorted runs at once (each reader holds a read buffer): every `mergeWidth` runs of
/// one level are merged into one run of the next, so the final merge of a million records reads a
/// few dozen runs instead of 123 chunks. The output is written through
/// the store's journal API (append + fsync) after removing any old file; a crash while writing
/// leaves the journal intact, so writing again gives the same file.
public enum ResultsWriter {
    /// Writes the records of `journalKey` to `outputKey` in input order.
    /// - Parameters:
    ///   - mergeWidth: the most sorted runs read at once (at least 2).
    ///   - uniqueIDs: write each id once (the results rule); `false` keeps every line, sorted.
    ///   - wholeLines: write whole journal lines (`{"index":N,"record":…}`) instead of the records.
    ///   - input: the ids of the run's input by position: a line whose record is not the input's
    ///     case at its position is skipped (`foreign`), as a resume's scan skips it
    ///     (`RunJournal.input`); nil keeps every line.
    ///   - onRecord: sees each line written, in output order (after it is appended), so a caller
    ///     can build what depends on results order (evaluations, reports) in the same pass.
    @discardableResult
    public static func write(
        store: any ArtifactStore, journalKey: String = RunJournal.defaultKey, to outputKey: String = "results.jsonl",
        chunkSize: Int = 8192, mergeWidth: Int = 32, uniqueIDs: Bool = true, wholeLines: Bool = false, input: IDsByPosition? = nil,
        onRecord: (JournalLine) async throws -> Void = { _ in }
    ) async throws -> ResultsWriteReport {
        let spillPrefix = "\(outputKey).sort/"
        for key in try await store.list(prefix: spillPrefix) { try await store.delete(key) }
        var report = ResultsWriteReport(records: 0, duplicates: 0, malformed: 0, spilledChunks: 0)

        // Pass 1: sorted chunks, merged level by level so that no level holds `mergeWidth` runs.
        var chunk: [JournalLine] = []
        var lines = 0
        let width = max(2, mergeWidth)
        // `levels[n]`: runs made of `width^n` chunks each, in journal order; every run of a higher
        // level holds earlier lines than any run of a lower one (ties keep journal order).
        var levels: [[String]] = []
        var spills = 0
        func nextKey() -> String {
            defer { spills += 1 }
            return spillPrefix + String(format: "chunk-%06d.jsonl", spills)
        }
        func add(_ key: String, level: Int) async throws {
            if levels.count == level { levels.append([]) }
            levels[level].append(key)
            guard levels[level].count >= width else { return }
            let runs = levels[level]
            levels[level] = []
            let merged = nextKey()
            let journal = try await store.openJournal(merged)
            try await merge(runs, store: store) { line in try await journal.append(Data(line.runText.utf8)) }
            try await journal.close()
            for run in runs { try await store.delete(run) }
            try await add(merged, level: level + 1)
        }
        func spill() async throws {
            chunk.sort(by: JournalLine.precedes)
            var data = Data()
            for line in chunk {
                data.append(contentsOf: line.runText.utf8)
                data.append(0x0A)
            }
            let key = nextKey()
            try await store.write(data, to: key)
            report.spilledChunks += 1
            chunk.removeAll(keepingCapacity: true)
            try await add(key, level: 0)
        }
        if await store.exists(journalKey) {
            for try await (_, text) in store.lines(of: journalKey) {
                guard let line = JournalLine.parse(text) else {
                    report.malformed += 1
                    continue
                }
                guard line.belongs(to: input) else {
                    report.foreign += 1
                    continue
                }
                chunk.append(line)
                lines += 1
                if chunk.count >= max(1, chunkSize) { try await spill() }
            }
        }

        // Pass 2: merge into the output.
        try await store.delete(outputKey)
        let output = try await store.openJournal(outputKey)
        // Sized once from the line count: growing would briefly hold two tables.
        var written = IDDigestSet(expectedCount: uniqueIDs ? lines : 0)
        func emit(_ line: JournalLine) async throws {
            guard !uniqueIDs || written.insert(line.sampleId) else {
                report.duplicates += 1
                return
            }
            try await output.append(wholeLines ? Data(line.text.utf8) : Data(line.recordText.utf8))
            try await onRecord(line)
            report.records += 1
            if report.records % 4096 == 0 { try await output.sync() }
        }
        if levels.isEmpty {
            chunk.sort(by: JournalLine.precedes)
            for line in chunk { try await emit(line) }
        } else {
            if !chunk.isEmpty { try await spill() }
            // Earlier lines first: the highest level's runs, then each lower level's.
            let runs = levels.reversed().flatMap { $0 }
            try await merge(runs, store: store, emit)
            for key in runs { try await store.delete(key) }
        }
        try await output.close()
        return report
    }

    /// Merges sorted runs in results order; of equal lines, the one of the earlier run first.
    private static func merge(_ keys: [String], store: any ArtifactStore, _ body: (JournalLine) async throws -> Void) async throws {
        var iterators = keys.map { store.lines(of: $0).makeAsyncIterator() }
        var heads: [JournalLine?] = []
        for i in iterators.indices { heads.append(try await nextLine(&iterators[i])) }
        while true {
            var best: Int?
            for i in heads.indices {
                guard let head = heads[i] else { continue }
                if best == nil || JournalLine.precedes(head, heads[best!]!) { best = i }
            }
            guard let best, let line = heads[best] else { break }
            try await body(line)
            heads[best] = try await nextLine(&iterators[best])
        }
    }

    private static func nextLine(
        _ iterator: inout AsyncThrowingStream<(line: Int, text: Substring), any Error>.Iterator
    ) async throws -> JournalLine? {
        while let (_, text) = try await iterator.next() {
            if let line = JournalLine.parseRun(text) { return line }
        }
        return nil
    }
}
