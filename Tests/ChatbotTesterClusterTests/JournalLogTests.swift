import ChatbotTesterClusterPipeline
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// The journal index a coordinator keeps while it appends (`JournalLog`): the merge that follows
/// takes it instead of scanning the journal again, it is exactly the index a scan gives, and it is
/// never used for a journal changed since.
@Suite(.serialized) struct JournalLogTests {
    /// A scan of the journal by a spool opened afresh (no kept index).
    static func scanned(_ spool: ClusterSpool) throws -> JournalIndex {
        try ClusterSpool.open(at: spool.directory).journalIndex()
    }

    /// A spool of 40 cases in shards of 4 under `directory`, and where a run's outputs go.
    static func fortyCaseSpool(in directory: URL) throws -> (spool: ClusterSpool, url: URL, output: URL) {
        let url = directory.appendingPathComponent("spool")
        let spool = try ClusterSpool.prepare(at: url, samples: ClusterTestSupport.samples(40), setup: ClusterTestSupport.setup(), samplesPerShard: 4)
        return (spool, url, directory.appendingPathComponent("out"))
    }

    static func kept(_ spool: ClusterSpool) throws -> [JournalIndex.Entry]? {
        let reader = try JournalIndex.Reader(url: spool.journalURL)
        guard let kept = spool.journalLog.index(of: try reader.stamp()) else { return nil }
        return Array(JournalIndex(reader: reader, slots: kept.slots, ids: ManifestSampleIds(spool.manifest), damagedLines: kept.damaged).entries)
    }

    /// An earlier session's lines (scanned when the coordinator starts), then lines appended the
    /// coordinator's way: a success replacing an earlier error, a second success (dropped), a
    /// later error (dropped), out of order. The kept index is the scanned one, entry for entry.
    @Test func lineByLineTheKeptIndexIsTheScannedOne() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        var failed = records[2]
        failed.run.status = .error
        failed.run.error = ErrorInfo(code: "timeout", message: "slow")
        let earlier = try FileJournal(url: spool.journalURL)
        for record in [records[11], failed, records[0], records[6]] { try earlier.appendNow(try ClusterRecordEnvelope(encoding: record).bytes) }
        try earlier.appendNow(Data("not a record".utf8))
        try earlier.closeNow()
        // The coordinator's start: the resume scan seeds the log.
        #expect(try spool.journalIndex().entries.count == 4)
        let journal = try FileJournal(url: spool.journalURL)
        var laterError = records[6]
        laterError.run.status = .error
        for record in [records[2], records[5], laterError, records[0], records[1]] + records[7...10].reversed() + [records[3], records[4]] {
            let envelope = try ClusterRecordEnvelope(encoding: record)
            try journal.appendNow(envelope.bytes)
            spool.journalLog.appended(envelope)
        }
        try journal.closeNow()
        #expect(try Self.kept(spool) == nil, "used before the coordinator sealed it")
        spool.journalLog.seal(spool.journalURL)
        let kept = try #require(try Self.kept(spool))
        let scan = try Self.scanned(spool)
        #expect(kept == Array(scan.entries))
        #expect(kept.map(\.index) == Array(0..<12))
        #expect(kept[2].succeeded && kept[6].succeeded)
        #expect(try spool.journalIndex().damagedLines == scan.damagedLines)
        // Both merges write the same bytes.
        let fromLog = directory.appendingPathComponent("log"), fromScan = directory.appendingPathComponent("scan")
        #expect(try spool.merge(into: fromLog) == 12)
        #expect(try ClusterSpool.open(at: spool.directory).merge(into: fromScan) == 12)
        for file in ["results.jsonl", "evals.jsonl"] {
            #expect(try Data(contentsOf: fromLog.appendingPathComponent(file)) == Data(contentsOf: fromScan.appendingPathComponent(file)))
        }
    }

    /// A journal edited after the coordinator closed it (the same length: only its bytes and its
    /// modification time differ) is scanned again, and so is one that grew.
    @Test func aJournalChangedSinceIsScannedAgain() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        _ = try spool.journalIndex()
        let journal = try FileJournal(url: spool.journalURL)
        for record in records {
            let envelope = try ClusterRecordEnvelope(encoding: record)
            try journal.appendNow(envelope.bytes)
            spool.journalLog.appended(envelope)
        }
        try journal.closeNow()
        spool.journalLog.seal(spool.journalURL)
        #expect(try Self.kept(spool) != nil)
        Thread.sleep(forTimeInterval: 0.05)  // past the file system's clock tick
        var lines = try Data(contentsOf: spool.journalURL).split(separator: 0x0A, omittingEmptySubsequences: false)
        lines[4] = Data(repeating: UInt8(ascii: "#"), count: lines[4].count)[...]
        try Data(lines.joined(separator: [0x0A])).write(to: spool.journalURL)
        #expect(try Self.kept(spool) == nil)
        #expect(try spool.journalIndex().damagedLines == [5])
        #expect(try spool.journalIndex().entries.count == 11)
    }

    /// A whole run over worker processes, then a resume of a journal cut short: each time the
    /// merge's index is the one the coordinator kept, and it is what a scan gives.
    @Test func aRunAndAResumeMergeFromTheKeptIndex() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (spool, spoolURL, output) = try Self.fortyCaseSpool(in: directory)
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(spool: spool, options: ClusterTestSupport.options(workers: 2, spool: spoolURL, output: output))
        }
        #expect(outcome.mergedSamples == 40)
        let kept = try #require(try Self.kept(spool))
        #expect(kept == Array(try Self.scanned(spool).entries))
        // Cut the journal to its first 15 lines (a coordinator killed), then resume.
        let lines = try Data(contentsOf: spoolURL.appendingPathComponent("journal.jsonl")).split(separator: 0x0A)
        try Data((lines.prefix(15).map { Data($0) + [0x0A] }).joined()).write(to: spool.journalURL)
        let reopened = try ClusterSpool.open(at: spoolURL)
        let resumed = try await withTimeout(120) {
            try await ClusterRun.run(spool: reopened, options: ClusterTestSupport.options(workers: 2, spool: spoolURL, output: output))
        }
        #expect(resumed.stats.resumed == 15)
        #expect(resumed.mergedSamples == 40)
        let keptAfterResume = try #require(try Self.kept(reopened))
        #expect(keptAfterResume == Array(try Self.scanned(reopened).entries))
        #expect(keptAfterResume.map(\.index) == Array(0..<40))
    }

    /// A coordinator that keeps no index (a sharded `test`, whose outputs its journal sink writes
    /// as the run plays) holds none once the run is over, so its memory does not grow with the
    /// journal; the merge that follows scans the journal and writes what a spool opened afresh
    /// merges, byte for byte.
    @Test func aCoordinatorKeepingNoIndexHoldsNoneAndTheMergeScans() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (spool, spoolURL, output) = try Self.fortyCaseSpool(in: directory)
        var options = ClusterTestSupport.options(workers: 2, spool: spoolURL, output: output)
        options.coordinator.keepsJournalIndex = false
        let keepingNone = options
        let outcome = try await withTimeout(120) { try await ClusterRun.run(spool: spool, options: keepingNone) }
        #expect(outcome.mergedSamples == 40)
        #expect(try Self.kept(spool) == nil)
        let again = directory.appendingPathComponent("again")
        #expect(try ClusterSpool.open(at: spoolURL).merge(into: again) == 40)
        for name in ["results.jsonl", "evals.jsonl"] {
            let merged = try Data(contentsOf: output.appendingPathComponent(name))
            #expect(!merged.isEmpty)
            #expect(merged == (try Data(contentsOf: again.appendingPathComponent(name))), "\(name)")
        }
        let ids = try String(decoding: Data(contentsOf: output.appendingPathComponent("results.jsonl")), as: UTF8.self)
            .split(separator: "\n").map { try JSONCoding.decoder().decode(RunRecord.self, from: Data($0.utf8)).sampleId }
        #expect(ids == ClusterTestSupport.samples(40).map(\.id))
    }

    /// Lines weighed one by one into the slots (`JournalSlots`, by dataset index) keep what the
    /// record-key rule keeps when each index's lines are weighed in journal order: shuffled
    /// indexes, several lines each, successes and errors mixed.
    @Test func theSlotsKeepWhatTheRecordKeyRuleKeeps() {
        var generator = SeededGenerator(seed: 13)
        var slots = JournalSlots(capacity: 1000)
        var expected: [Int: (line: Int, succeeded: Bool)] = [:]
        for line in 1...5000 {
            let index = Int(generator.next() % 3000), succeeded = generator.next() % 3 != 0
            let admitted = slots.admit(index: index, range: (line * 100)..<(line * 100 + 50 + line % 7), line: line, succeeded: succeeded)
            #expect(admitted)
            switch ClusterRecordKeys.admission(existing: expected[index]?.succeeded, succeeded: succeeded) {
            case .first, .replacesError: expected[index] = (line, succeeded)
            case .duplicate: break
            }
        }
        #expect(slots.kept == expected.count)
        #expect(slots.slots.count == (expected.keys.max() ?? -1) + 1)
        for (index, slot) in slots.slots.enumerated() {
            guard let want = expected[index] else {
                #expect(slot.isEmpty)
                continue
            }
            #expect(slot.line == want.line && slot.succeeded == want.succeeded)
            #expect(slot.range == (want.line * 100)..<(want.line * 100 + 50 + want.line % 7))
        }
        // Nothing is kept for a negative index or a line no slot can hold.
        let negative = slots.admit(index: -1, range: 0..<10, line: 5001, succeeded: true)
        let tooLong = slots.admit(index: 3, range: 0..<(Int(UInt32.max) + 1), line: 5002, succeeded: true)
        #expect(!negative && !tooLong)
    }

    /// A journal line whose index is not one the manifest lists, or whose id is not the one
    /// listed at its index, is damaged: skipped, named, and its sample runs again.
    @Test func aLineAtAnIndexTheManifestDoesNotListForItsIdIsDamaged() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        var moved = records[3]
        moved.index = 4  // record 3's id at index 4
        var beyond = records[5]
        beyond.index = 1_000_000_000
        var negative = records[6]
        negative.index = -2
        let journal = try FileJournal(url: spool.journalURL)
        for record in [records[0], moved, beyond, negative, records[1]] { try journal.appendNow(try ClusterRecordEnvelope(encoding: record).bytes) }
        try journal.closeNow()
        let index = try Self.scanned(spool)
        #expect(index.damagedLines == [2, 3, 4])
        #expect(index.entries.map(\.index) == [0, 1])
        #expect(index.entries.map(\.sampleId) == [records[0].sampleId, records[1].sampleId])
        let resume = try ClusterSpool.open(at: spool.directory).resumeState(spending: false)
        #expect(resume.journaled.count == 2 && resume.journaled.contains(0) && resume.journaled.contains(1) && !resume.journaled.contains(4))
    }

    /// The merge reads each kept line again for where its `run` and `evals` are: the journal's
    /// own shape in one pass, any other well-formed record (spaces, say) through the checked
    /// scan; both merge to the bytes of the record's `run` and evaluations.
    @Test func aLineOfAnotherShapeMergesAsTheJournalsOwn() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = LeanDataPathTests.records()
        let spool = try LeanDataPathTests.spool(directory, records)
        let journal = try FileJournal(url: spool.journalURL)
        for (position, record) in records.enumerated() {
            var bytes = try ClusterRecordEnvelope(encoding: record).bytes
            if position % 3 == 1 { bytes = Data(" ".utf8) + bytes.prefix(1) + Data(" \t".utf8) + bytes.dropFirst() + Data("  ".utf8) }
            try journal.appendNow(bytes)
        }
        try journal.closeNow()
        let output = directory.appendingPathComponent("out")
        #expect(try Self.scanned(spool).damagedLines.isEmpty)
        #expect(try ClusterSpool.open(at: spool.directory).merge(into: output) == records.count)
        let reference = directory.appendingPathComponent("reference")
        try LeanDataPathTests.referenceMerge(spool, into: reference)
        for file in ["results.jsonl", "evals.jsonl"] {
            #expect(try Data(contentsOf: output.appendingPathComponent(file)) == Data(contentsOf: reference.appendingPathComponent(file)), "\(file)")
        }
    }

    /// The resume's set of journaled indexes, a bit each.
    @Test func journaledSamplesHoldEachIndexOnce() {
        var set = JournaledSamples()
        for index in [0, 63, 64, 1_000_003, 64, 0] { set.insert(index) }
        #expect(set.count == 4)
        #expect([0, 63, 64, 1_000_003].allSatisfy(set.contains))
        #expect(![1, 62, 65, 1_000_002, 1_000_004, -1, 5_000_000].contains(where: set.contains))
    }
}
