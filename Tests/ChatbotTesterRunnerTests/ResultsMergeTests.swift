import ChatbotTesterCore
import ChatbotTesterRunner
import ChatbotTesterTesting
import Foundation
import Testing

/// `ResultsWriter` merges its sorted runs level by level (at most `mergeWidth` read at once): the
/// output is byte for byte what one merge of every chunk, or one in-memory sort, writes.
@Suite struct ResultsMergeTests {
    /// A journal in completion order over several sessions: positions out of order, errors
    /// replaced by successes, an error journaled twice, an id that moved to another position.
    static func journal(count: Int) -> [Data] {
        var lines: [Data] = []
        var generator = SeededGenerator(seed: 7)
        var order = Array(0..<count)
        order.shuffle(using: &generator)
        for (step, index) in order.enumerated() {
            let id = "s\(index)"
            let status = index % 5 == 0 ? "error" : "ok"
            lines.append(JournalLine.line(index: index, json: Data(#"{"sampleId":"\#(id)","status":"\#(status)","step":\#(step)}"#.utf8)))
            if index % 10 == 0 {
                // Played again: an error again, then a success.
                lines.append(JournalLine.line(index: index, json: Data(#"{"sampleId":"\#(id)","status":"error","step":-\#(step)}"#.utf8)))
            }
        }
        for index in stride(from: 0, to: count, by: 10) {
            lines.append(JournalLine.line(index: index, json: Data(#"{"sampleId":"s\#(index)","status":"ok","retried":true}"#.utf8)))
        }
        // An id journaled at another position by a session that read an edited dataset.
        lines.append(JournalLine.line(index: count + 3, json: Data(#"{"sampleId":"s1","status":"ok","moved":true}"#.utf8)))
        return lines
    }

    func write(_ lines: [Data], chunkSize: Int, mergeWidth: Int, uniqueIDs: Bool) async throws -> (Data, ResultsWriteReport, [Int]) {
        let store = InMemoryArtifactStore()
        let journal = try await store.openJournal(RunJournal.defaultKey)
        for line in lines { try await journal.append(line) }
        try await journal.close()
        var seen: [Int] = []
        let report = try await ResultsWriter.write(
            store: store, chunkSize: chunkSize, mergeWidth: mergeWidth, uniqueIDs: uniqueIDs, wholeLines: !uniqueIDs
        ) { seen.append($0.index) }
        #expect(try await store.list(prefix: "results.jsonl.sort/").isEmpty)
        return (try await store.read("results.jsonl"), report, seen)
    }

    @Test(arguments: [true, false]) func mergingInLevelsWritesWhatOneMergeWrites(uniqueIDs: Bool) async throws {
        let lines = Self.journal(count: 300)
        let (sorted, sortedReport, sortedOrder) = try await write(lines, chunkSize: 100_000, mergeWidth: 32, uniqueIDs: uniqueIDs)
        #expect(sortedReport.spilledChunks == 0)
        let (flat, flatReport, _) = try await write(lines, chunkSize: 7, mergeWidth: 1_000, uniqueIDs: uniqueIDs)
        #expect(flatReport.spilledChunks == (lines.count + 6) / 7)
        #expect(flat == sorted)
        for (chunkSize, width) in [(7, 2), (7, 3), (5, 4), (1, 2), (13, 32)] {
            let (levelled, report, order) = try await write(lines, chunkSize: chunkSize, mergeWidth: width, uniqueIDs: uniqueIDs)
            #expect(levelled == sorted, "chunkSize \(chunkSize), mergeWidth \(width)")
            #expect(report == sortedReport.with(spilledChunks: report.spilledChunks))
            #expect(order == sortedOrder)
        }
        if uniqueIDs {
            // Each id once, with its success when it has one, in dataset order.
            let written = String(decoding: sorted, as: UTF8.self).split(separator: "\n")
            #expect(written.count == 300)
            #expect(written[0].contains(#""retried":true"#) && written[10].contains(#""retried":true"#))
            #expect(written[5].contains(#""status":"error""#))
            #expect(sortedReport.duplicates == lines.count - 300)
        }
    }
}

extension ResultsWriteReport {
    func with(spilledChunks: Int) -> ResultsWriteReport {
        var copy = self
        copy.spilledChunks = spilledChunks
        return copy
    }
}
