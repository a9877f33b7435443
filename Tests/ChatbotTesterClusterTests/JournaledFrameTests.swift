import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Protocol 8: a worker that can open the spool's journal appends its records' lines to it itself
/// and sends a `journaled` frame (where the lines went, each record's index, ranges and report
/// part); the coordinator reads the lines back and checks each against the frame.
@Suite struct JournaledFrameTests {
    static let codec = ClusterMessageCodec()

    /// `LeanDataPathTests`' records (escaped ids, Unicode, failed runs, costs, metadata), some with
    /// a report part and some without.
    static func records() -> [ClusterRecord] {
        LeanDataPathTests.records().enumerated().map { position, record in
            var record = record
            if position % 2 == 0 { record.reportPart = ClusterReportPart.make(sampleId: record.sampleId, index: record.index, run: record.run, body: [7, 7, 7]) }
            return record
        }
    }

    /// Writes the records' lines as a worker would (at `base`, one after the other) and returns the
    /// journal's bytes and the frame's payload.
    static func journaled(_ records: [ClusterRecord], base: Int = 1234) throws -> (journal: Data, frame: Data) {
        var journal = Data(repeating: UInt8(ascii: "x"), count: base)
        var units: [Data] = []
        for record in records {
            let (unit, line) = try record.journaledUnit()
            journal.append(line)
            units.append(unit)
        }
        return (journal, codec.encodeJournaledFrame(base: UInt64(base), units: units))
    }

    static func items(_ frame: Data) throws -> [ClusterJournaledRecords.Item] {
        guard case .journaled(let batch) = try codec.decodeIncoming(frame, peer: "worker w1") else {
            throw ChatbotTesterError(.proto, "not read as a journaled frame")
        }
        return batch.items
    }

    /// The line a worker appends is the line the coordinator journals for the record (the full
    /// encode, sample included, byte for byte), and the envelope read back from it says what the
    /// checked read of that line says.
    @Test func aWorkersLineIsTheCoordinatorsLineAndReadsBackTheSame() throws {
        let records = Self.records()
        let (journal, frame) = try Self.journaled(records)
        let items = try Self.items(frame)
        #expect(items.count == records.count)
        var at = 1234
        for (record, item) in zip(records, items) {
            let reference = try JSONCoding.encoder().encode(record)
            #expect(item.line == at..<(at + reference.count + 1), "\(record.sampleId)")
            at = item.line.upperBound
            let line = journal[item.line]
            #expect(line.dropLast() == reference && line.last == 0x0A, "\(record.sampleId)")
            let read = try ClusterRecordEnvelope(journaledLine: line, item: item)
            let checked = try ClusterRecordEnvelope(scanning: reference)
            #expect(read.journaledByWorker && !read.sampleOmitted)
            #expect(read.bytes == reference)
            #expect(read.sampleId == record.sampleId && read.index == record.index)
            #expect(read.status == checked.status && read.costUSD == checked.costUSD && read.errorCode == checked.errorCode)
            #expect(read.runRange == checked.runRange && read.evalsRange == checked.evalsRange)
            #expect(read.evalRanges == checked.evalRanges && read.evalRanges.count == record.evals.count)
            // The part is the record's own, or one carrying its facts alone.
            #expect(ClusterReportPart.facts(read.reportPart!) == (try ClusterRunFacts(scanning: checked)))
            if let part = record.reportPart { #expect(read.reportPart == part) }
            var totals = ClusterRunTotals()
            let added = totals.add(reportedBy: read)
            #expect(added)
        }
    }

    /// Each way a line can fail to be what its frame says is refused, naming the field.
    @Test func aLineThatIsNotWhatItsFrameSaysIsRefusedNamingTheField() throws {
        let records = Array(Self.records().prefix(3))
        let (journal, frame) = try Self.journaled(records)
        let items = try Self.items(frame)
        func field(_ line: Data, _ item: ClusterJournaledRecords.Item) -> String? {
            do {
                _ = try ClusterRecordEnvelope(journaledLine: line, item: item)
                return nil
            } catch let error as ClusterRecordEnvelope.ShapeError {
                return error.field
            } catch {
                return "\(error)"
            }
        }
        let item = items[1]
        let line = journal[item.line]
        #expect(field(line, item) == nil)
        // Another index than the line's.
        var other = item
        other.index = 7
        #expect(field(line, other) == "index")
        // Ranges off by one.
        other = item
        other.run = (item.run.lowerBound + 1)..<item.run.upperBound
        #expect(field(line, other) == "run" || field(line, other) == "index")
        other = item
        other.evals = item.evals.lowerBound..<(item.evals.upperBound - 1)
        #expect(field(line, other) == "evals")
        // The evaluations' ranges: one moved, one left out.
        let scored = try #require(items.first { $0.evalElements.count >= 1 })
        let scoredLine = journal[scored.line]
        #expect(field(scoredLine, scored) == nil)
        other = scored
        other.evalElements[0] = (scored.evalElements[0].lowerBound + 1)..<scored.evalElements[0].upperBound
        #expect(field(scoredLine, other) == "evals[0]")
        other = scored
        other.evalElements.removeLast()
        #expect(field(scoredLine, other) == "evals")
        // A neighbour's bytes (the frame named the wrong place in the journal).
        #expect(field(journal[items[0].line], item) != nil)
        // A line break inside, or none at the end.
        var broken = Data(line)
        broken[broken.startIndex + 3] = 0x0A
        #expect(field(broken, item) == "line")
        #expect(field(line.dropLast(), item) == "line")
        // Another record's report part.
        other = item
        other.reportPart = items[0].reportPart
        #expect(field(line, other) == "part")
        // A part carrying no facts that read.
        other = item
        other.reportPart = Data([1, 2, 3])
        #expect(field(line, other) == "part")
        // Too short to be a record.
        #expect(field(Data("{}\n".utf8), item) != nil)
    }

    /// A frame whose counts, lengths or ranges do not fit is refused naming the worker and the
    /// field; nothing is read past its end and no allocation follows what it claims.
    @Test func aFrameThatDoesNotFitIsRefusedNamingTheWorkerAndTheField() throws {
        let (_, frame) = try Self.journaled(Array(Self.records().prefix(2)))
        func refusal(_ payload: Data) -> String? {
            do {
                _ = try Self.codec.decodeIncoming(payload, peer: "worker w1")
                return nil
            } catch let error as ChatbotTesterError {
                #expect(error.code == .proto && error.location?.source == "worker w1", "\(error)")
                return error.location?.field
            } catch {
                return "\(error)"
            }
        }
        func patched(_ at: Int, _ value: UInt32) -> Data {
            var copy = frame
            withUnsafeBytes(of: value.littleEndian) { for offset in 0..<4 { copy[at + offset] = $0[offset] } }
            return copy
        }
        #expect(refusal(frame) == nil)
        #expect(refusal(frame.prefix(10)) == "journaled")
        #expect(refusal(patched(2, 0)) == "journaled")
        #expect(refusal(patched(2, 1_000_000)) == "journaled")
        #expect(refusal(frame + Data([0])) == "journaled")
        #expect(refusal(frame.dropLast()) != nil)
        // The first unit's head starts at 14: index, line length, part length, run, evals.
        #expect(refusal(patched(18, 2)) == "journaled[0].line")
        #expect(refusal(patched(18, UInt32(ClusterMessageCodec.maxJournaledBytes + 1))) == "journaled[0].line")
        #expect(refusal(patched(22, 0)) == "journaled[0].part")
        #expect(refusal(patched(22, 1 << 30)) == "journaled[0].part")
        #expect(refusal(patched(30, 0)) == "journaled[0].run")
        #expect(refusal(patched(30, 1 << 30)) == "journaled[0].run")
        #expect(refusal(patched(38, 0)) == "journaled[0].evals")
        // Then the evaluations' count: more than the frame holds.
        #expect(refusal(patched(42, 1_000_000)) == "journaled[0].evals")
        var base = frame
        for offset in 6..<14 { base[offset] = 0xFF }
        #expect(refusal(base) == "journaled")
    }

    /// A worker uses an offered journal only when the path is the coordinator's very file, a
    /// regular file of its own user that nobody else may write; and lines appended by several
    /// writers at once each come back from the offset their writer was told.
    @Test func aWorkerOpensOnlyTheOfferedFileAndEachAppendSaysWhereItWent() throws {
        let directoryURL = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directoryURL) }
        let url = directoryURL.appendingPathComponent("journal.jsonl")
        let journal = try FileJournal(url: url, mode: 0o600)
        let identity = try journal.fileIdentity()
        let offer = ClusterMessage.RecordJournal(path: url.path, device: identity.device, inode: identity.inode)
        func why(_ offer: ClusterMessage.RecordJournal) -> String? {
            switch WorkerRecordJournal.open(offer) {
            case .success: return nil
            case .failure(let error): return error.message
            }
        }
        #expect(why(offer) == nil)
        #expect(why(.init(path: url.path, device: identity.device, inode: identity.inode + 1))?.contains("another file") == true)
        let link = directoryURL.appendingPathComponent("link.jsonl")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: url)
        #expect(why(.init(path: link.path, device: identity.device, inode: identity.inode))?.contains("cannot open") == true)
        #expect(why(.init(path: directoryURL.appendingPathComponent("none").path, device: 0, inode: 0))?.contains("cannot open") == true)
        chmod(url.path, 0o622)
        #expect(why(offer)?.contains("writable by others") == true)
        chmod(url.path, 0o600)

        // Two writers (two descriptors, as two worker processes) append at once from many threads.
        guard case .success(let first) = WorkerRecordJournal.open(offer), case .success(let second) = WorkerRecordJournal.open(offer) else {
            Issue.record("the offered journal did not open")
            return
        }
        let told = Locked<[(UInt64, Data)]>([])
        DispatchQueue.concurrentPerform(iterations: 400) { round in
            let writer = round % 2 == 0 ? first : second
            let lines = (0..<(1 + round % 5)).map { Data("{\"round\":\(round),\"line\":\($0),\"pad\":\"\(String(repeating: "p", count: round % 97))\"}\n".utf8) }
            do {
                let base = try writer.append(lines)
                told.withLock { $0.append((base, lines.reduce(Data(), +))) }
            } catch {
                Issue.record("append failed: \(error)")
            }
        }
        try journal.closeNow()
        let written = try Data(contentsOf: url)
        let appends = told.withLock { $0 }
        #expect(appends.count == 400)
        // Each append is its lines after a newline of its own, where its writer was told.
        #expect(written.count == appends.reduce(0) { $0 + 1 + $1.1.count })
        for (base, bytes) in appends {
            #expect(written[Int(base) - 1] == 0x0A)
            #expect(written[Int(base)..<(Int(base) + bytes.count)] == bytes)
        }
    }
}
