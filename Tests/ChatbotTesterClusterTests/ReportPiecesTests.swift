import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster
@testable import ChatbotTesterClusterPipeline
@testable import ChatbotTesterEvaluator

/// Protocol 12: the workers make the reports' pieces of the records they write
/// (`ReportPieceWriter`), the coordinator puts them together (`ReportPieceAssembly`) and reads no
/// record's report part; the reports are those of the decoded samples, byte for byte.
@Suite struct ReportPiecesTests {
    /// `ReportPartTests.samples()` repeated `rounds` times with fresh ids, so blocks cross every kind
    /// of sample (failing, erroring, unmeasured, escaped texts).
    static func samples(rounds: Int = 4) -> [SampleEvaluation] {
        var out: [SampleEvaluation] = []
        for round in 0..<rounds {
            for sample in ReportPartTests.samples() {
                var copy = sample
                let id = "\(sample.sampleId)#\(round)"
                if var run = copy.run {
                    run.sample.id = id
                    copy.run = run
                }
                copy.evals = copy.evals.map { eval in
                    var eval = eval
                    eval.sampleId = id
                    return eval
                }
                out.append(copy)
            }
        }
        return out
    }

    static func output(_ directory: URL, htmlSampleCap: Int, assemblesRows: Bool) async throws -> EvaluationOutput {
        try await EvaluationOutput(
            directory: directory, descriptors: ReportPartTests.descriptors, maxErrorRate: 0.5, options: ReportOptions(htmlSampleCap: htmlSampleCap),
            writesEvals: false, assemblesRows: assemblesRows)
    }

    /// Writes the pieces of `samples` at `indexes` (ascending) with one writer into `path`.
    static func pieces(of samples: [SampleEvaluation], at indexes: [Int], path: URL, start: EvalAggregate) throws -> ReportPieceSummary {
        #expect(FileManager.default.createFile(atPath: path.path, contents: nil))
        let writer = try ReportPieceWriter(path: path.path, aggregate: start, csv: true, junit: true)
        for index in indexes {
            let part = try #require(EvaluationOutput.reportPart(for: samples[index]))
            try part.withUnsafeBytes { try writer.add(index: index, evalCount: samples[index].evals.count, part: $0) }
        }
        return try writer.finish()
    }

    static let reportNames = ["summary.json", "results.csv", "junit.xml", "report.md", "report.html"]

    /// The decoded samples' reports and those put together from three workers' pieces (runs of
    /// indexes dealt round the workers, each worker's records in one file, the summaries in any
    /// order): the same files, the same aggregate, and only the samples report.md / report.html
    /// keep read whole.
    @Test(arguments: [1000, 3]) func piecesPutTogetherGiveTheReportsOfTheDecodedSamples(htmlSampleCap: Int) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = Self.samples()
        let decoded = try await Self.output(directory.appendingPathComponent("decoded"), htmlSampleCap: htmlSampleCap, assemblesRows: false)
        for sample in samples { try decoded.add(sample) }
        let assembled = try await Self.output(directory.appendingPathComponent("assembled"), htmlSampleCap: htmlSampleCap, assemblesRows: true)
        // Runs of 1 to 5 indexes, dealt round three workers.
        var owned: [[Int]] = [[], [], []]
        var next = 0, worker = 0, length = 1
        while next < samples.count {
            owned[worker] += Array(next..<min(samples.count, next + length))
            next += length
            worker = (worker + 1) % 3
            length = length % 5 + 1
        }
        let scratch = directory.appendingPathComponent("pieces")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var parts: [(summary: ReportPieceSummary, file: URL)] = []
        for (worker, indexes) in owned.enumerated() {
            let file = scratch.appendingPathComponent("pieces-\(worker)")
            parts.append((try Self.pieces(of: samples, at: indexes, path: file, start: assembled.startingAggregate), file))
        }
        #expect(parts.allSatisfy { $0.summary.blocks.count > 1 })
        // The summaries travel as bytes.
        parts = try parts.reversed().map { (try ReportPieceSummary.decode(try $0.summary.encoded()), $0.file) }
        let assembly = try ReportPieceAssembly(parts, records: samples.count)
        var asked: [Int] = []
        try assembled.add(assembly) { index in
            asked.append(index)
            return samples[index]
        }
        #expect(assembled.aggregate == decoded.aggregate)
        #expect(try decoded.finish().summary == assembled.finish().summary)
        for name in Self.reportNames {
            let expected = try PipelineClusterTests.report(directory.appendingPathComponent("decoded/\(name)"))
            let actual = try PipelineClusterTests.report(directory.appendingPathComponent("assembled/\(name)"))
            #expect(!expected.isEmpty && expected == actual, "\(name) differs")
        }
        // The CSV and JUnit files byte for byte (times and latencies included).
        for name in ["results.csv", "junit.xml"] {
            #expect(
                try Data(contentsOf: directory.appendingPathComponent("decoded/\(name)")) == Data(contentsOf: directory.appendingPathComponent("assembled/\(name)")),
                "\(name)")
        }
        // Only the samples a report shows are read: the first not passing ones report.md and
        // report.html show, and the passing ones report.html has room for after all of those.
        let notPassing = samples.indices.filter { samples[$0].outcome != .passed }
        let passing = samples.indices.filter { samples[$0].outcome == .passed }
        let shown = Set(notPassing.prefix(max(MarkdownReport.failureLimit, htmlSampleCap)))
            .union(passing.prefix(max(0, htmlSampleCap - notPassing.count)))
        #expect(asked == shown.sorted(), "\(asked.count) of \(samples.count) asked for")
        #expect(htmlSampleCap > 3 || asked.count < samples.count)
    }

    /// Summaries that do not cover the run exactly, or do not fit their files, are refused with a
    /// message naming the fault: a gap, an overlap, outcomes of another length or an unknown one,
    /// ranges out of order, past the file's end or not in pairs.
    @Test func piecesThatDoNotFitTheRunAreRefused() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = Array(Self.samples(rounds: 1).prefix(8))
        let start = EvalAggregate(metrics: ReportPartTests.descriptors)
        let first = directory.appendingPathComponent("first"), second = directory.appendingPathComponent("second")
        let low = try Self.pieces(of: samples, at: [0, 1, 2, 3], path: first, start: start)
        let high = try Self.pieces(of: samples, at: [4, 5, 6, 7], path: second, start: start)
        #expect(throws: Never.self) { try ReportPieceAssembly([(low, first), (high, second)], records: 8) }
        func refused(_ pieces: [(ReportPieceSummary, URL)], records: Int = 8, _ words: String) {
            do {
                _ = try ReportPieceAssembly(pieces, records: records)
                Issue.record("accepted: \(words)")
            } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
        refused([(low, first)], "cover 4 of 8")
        refused([(low, first), (high, second)], records: 9, "cover 8 of 9")
        refused([(low, first), (high, second), (high, second)], "where index 8 of 8 was next")
        refused([(low, first), (low, first), (high, second)], "where index 4 of 8 was next")
        var short = high
        short.blocks[0].outcomes.removeLast()
        refused([(low, first), (short, second)], "outcomes of the block at index 4")
        var unknown = high
        unknown.blocks[0].outcomes[0] = 9
        refused([(low, first), (unknown, second)], "outcomes of the block at index 4")
        var past = high
        past.blocks[0].csv[past.blocks[0].csv.count - 1] = 1 << 30
        refused([(low, first), (past, second)], "within its")
        var backwards = high
        backwards.blocks[0].suites[0].ranges = [10, 20, 0, 5]
        refused([(low, first), (backwards, second)], "are not after 20")
        var odd = high
        odd.blocks[0].csv.append(3)
        refused([(low, first), (odd, second)], "are not ranges")
        // The summary's bytes: cut anywhere, or followed by more, they are refused.
        let bytes = try high.encoded()
        #expect(try ReportPieceSummary.decode(bytes) == high)
        for cut in [0, 1, 5, bytes.count / 2, bytes.count - 1] {
            #expect(throws: (any Error).self, "\(cut)") { try ReportPieceSummary.decode(bytes.prefix(cut)) }
        }
        #expect(throws: (any Error).self) { try ReportPieceSummary.decode(bytes + [0]) }
    }

    /// Records journaled by the workers (`StreamedClusterOutputTests.journaled()`); the reference
    /// outputs of a job whose coordinator read every record's part, in order; the journal as the
    /// workers appended the records, and where each line went.
    static func journalFixture(
        in directory: URL
    ) async throws -> (journaled: [(envelope: ClusterRecordEnvelope, record: ClusterRecord)], reference: TestJob, journal: URL, places: ClusterLinePlaces) {
        let journaled = try StreamedClusterOutputTests.journaled()
        let reference = try await StreamedClusterOutputTests.job(directory.appendingPathComponent("reference"))
        let plain = try await StreamedClusterOutput(job: reference, scoring: true, limit: 100)
        for entry in journaled { StreamedClusterOutputTests.feed(plain, entry.envelope) }
        #expect(try await plain.finish(expected: journaled.count) != nil)
        let journal = directory.appendingPathComponent("journal.jsonl")
        var bytes = Data(), places = ClusterLinePlaces()
        for entry in journaled {
            let line = try entry.record.journaledUnit().line
            places.place(index: entry.record.index, worker: 1, resultsBytes: 1, evalsBytes: 0, line: bytes.count..<(bytes.count + line.count))
            bytes.append(line)
        }
        try bytes.write(to: journal)
        return (journaled, reference, journal, places)
    }

    /// Protocol 13: with every record's pieces made by the workers, the coordinator's output hands
    /// one worker an order to put them together (the samples the reports show and where they are in
    /// the journal); what that worker makes is the reports the output would make itself, taken as
    /// they are. A worker that could not make them, or said it did and left a report out, leaves
    /// the output to make them itself — the same files.
    @Test func aWorkerPutsThePiecesTogetherForTheCoordinator() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (journaled, reference, journal, places) = try await Self.journalFixture(in: directory)
        let samples = journaled.map { SampleEvaluation(run: $0.record.run, evals: $0.record.evals) }

        /// One run of the output: two pieces files covering every record, the order made, carried
        /// out by the job's own piece maker (`tamper` may spoil what it made), the answer given.
        func run(answer: String?, tamper: (URL) throws -> Void = { _ in }) async throws -> (StreamedClusterOutput.Written?, TestJob) {
            let job = try await StreamedClusterOutputTests.job(directory.appendingPathComponent("out-\(UUID().uuidString)"))
            let output = try await StreamedClusterOutput(job: job, scoring: true, limit: 100, workersWriteLines: true, workersMakeReports: true)
            var start = EvalAggregate(metrics: job.evaluator.descriptors)
            start.maxErrorRate = job.evaluator.maxErrorRate
            let half = journaled.count / 2
            for indexes in [Array(0..<half), Array(half..<journaled.count)] {
                let path = try #require(output.piecesFile())
                let made = try Self.pieces(of: samples, at: indexes, path: URL(fileURLWithPath: path), start: start)
                output.piecesWritten(try made.encoded(), path: path)
            }
            output.linesOrdered(records: journaled.count, places: places, journal: journal)
            output.linesWritten(failure: nil)
            let order = try #require(output.reportsOrder())
            let decoded = try ReportsOrder.decode(order)
            #expect(decoded.encoded() == order)
            // Cut anywhere, followed by more, or of another version, it is refused.
            for cut in [0, 1, 9, order.count / 2, order.count - 1] {
                #expect(throws: ChatbotTesterError.self, "\(cut)") { try ReportsOrder.decode(order.prefix(cut)) }
            }
            #expect(throws: ChatbotTesterError.self) { try ReportsOrder.decode(order + [0, 0, 0, 0, 0, 0, 0, 0]) }
            #expect(throws: ChatbotTesterError.self) { try ReportsOrder.decode(Data([2]) + order.dropFirst()) }
            // Only the samples the reports show travel, with their places.
            #expect(decoded.records == journaled.count && decoded.pieces.count == 2 && decoded.samples.count == journaled.count)
            #expect(decoded.samples.allSatisfy { sample in places.journalLine(of: sample.index).map { Int($0.lowerBound)..<Int($0.upperBound) } == sample.line })
            let maker = try #require(PipelineShardProcessor(job: job, runner: try await job.makeRunner(journal: nil)).reportPieceMaker)
            try maker.makeReports(order, journal: journal.path)
            try tamper(URL(fileURLWithPath: decoded.directory))
            output.reportsMade(failure: answer)
            return (try await output.finish(expected: journaled.count), job)
        }

        for (answer, tamper, byWorker) in [
            (String?.none, { (_: URL) in }, true),
            ("pid 7 could not make them", { _ in }, false),
            (nil, { try FileManager.default.removeItem(at: $0.appendingPathComponent("report.md")) }, false),
        ] as [(String?, (URL) throws -> Void, Bool)] {
            let (written, job) = try await run(answer: answer, tamper: tamper)
            let pieces = try #require(written?.pieces)
            #expect(pieces.summaries == 2 && pieces.recordsMadeHere == 0 && pieces.byWorker == byWorker, "\(answer ?? "made")")
            // The summary the coordinator reports (its exit code) is the one summary.json holds.
            let evaluation = try #require(written?.evaluation)
            #expect(try JSONCoding.encoder(pretty: true).encode(evaluation) == Data(contentsOf: job.output("summary.json")))
            for name in Self.reportNames {
                #expect(
                    try PipelineClusterTests.report(reference.output(name)) == PipelineClusterTests.report(job.output(name)), "\(name) differs")
            }
            #expect(try Data(contentsOf: reference.output("junit.xml")) == Data(contentsOf: job.output("junit.xml")))
            #expect(try Data(contentsOf: reference.output("summary.json")) == Data(contentsOf: job.output("summary.json")))
            #expect(!FileManager.default.fileExists(atPath: job.output(StreamedClusterOutput.directoryName).path))
            #expect(!FileManager.default.fileExists(atPath: job.output("reports").path))
        }

        // Pieces that leave records out: no order (the output makes those records' pieces itself).
        let job = try await StreamedClusterOutputTests.job(directory.appendingPathComponent("partial"))
        let output = try await StreamedClusterOutput(job: job, scoring: true, limit: 100, workersWriteLines: true, workersMakeReports: true)
        let path = try #require(output.piecesFile())
        let made = try Self.pieces(of: samples, at: [0, 1], path: URL(fileURLWithPath: path), start: {
            var start = EvalAggregate(metrics: job.evaluator.descriptors)
            start.maxErrorRate = job.evaluator.maxErrorRate
            return start
        }())
        output.piecesWritten(try made.encoded(), path: path)
        output.linesOrdered(records: journaled.count, places: places, journal: journal)
        output.linesWritten(failure: nil)
        #expect(output.reportsOrder() == nil)
    }

    /// A sharded run's streamed output with the workers making the pieces: the records of a worker
    /// that left (no pieces of theirs came) are made by the output itself from their journal
    /// lines, and the reports are those of every record decoded; a summary that does not fit gives
    /// the output up (the merge writes the files).
    @Test func theOutputMakesThePiecesNoWorkerMade() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (journaled, reference, journal, places) = try await Self.journalFixture(in: directory)

        func run(_ summary: (ReportPieceSummary) -> ReportPieceSummary) async throws -> (StreamedClusterOutput, StreamedClusterOutput.Written?, TestJob) {
            let job = try await StreamedClusterOutputTests.job(directory.appendingPathComponent("pieces-\(UUID().uuidString)"))
            let output = try await StreamedClusterOutput(job: job, scoring: true, limit: 100, workersWriteLines: true, workersMakeReports: true)
            #expect(output.wantsReportPieces)
            // Records arriving make no work for the output.
            for entry in journaled { StreamedClusterOutputTests.feed(output, entry.envelope) }
            // One worker made the pieces of the first four records and of two later ones.
            let path = try #require(output.piecesFile())
            let samples = journaled.map { SampleEvaluation(run: $0.record.run, evals: $0.record.evals) }
            let made = try Self.pieces(of: samples, at: [0, 1, 2, 3, 8, 9], path: URL(fileURLWithPath: path), start: {
                var start = EvalAggregate(metrics: job.evaluator.descriptors)
                start.maxErrorRate = job.evaluator.maxErrorRate
                return start
            }())
            output.piecesWritten(try summary(made).encoded(), path: path)
            output.linesOrdered(records: journaled.count, places: places, journal: journal)
            output.linesWritten(failure: nil)
            return (output, try await output.finish(expected: journaled.count), job)
        }

        let (_, written, job) = try await run { $0 }
        let pieces = try #require(written?.pieces)
        #expect(pieces.summaries == 1 && pieces.recordsMadeHere == journaled.count - 6)
        for name in Self.reportNames {
            #expect(
                try PipelineClusterTests.report(reference.output(name)) == PipelineClusterTests.report(job.output(name)), "\(name) differs")
        }
        #expect(try Data(contentsOf: reference.output("junit.xml")) == Data(contentsOf: job.output("junit.xml")))
        #expect(!FileManager.default.fileExists(atPath: job.output(StreamedClusterOutput.directoryName).path))

        // A summary claiming a record twice gives the output up, moving nothing.
        let (forged, none, other) = try await run { summary in
            var summary = summary
            summary.blocks[1].first = 2
            return summary
        }
        #expect(none == nil)
        #expect(forged.abandonReason?.contains("pieces cannot be put together") == true, "\(forged.abandonReason ?? "nil")")
        #expect(!FileManager.default.fileExists(atPath: other.output("results.csv").path))
    }
}

/// The worker's side of protocol 12: each journaled unit's report part body goes to the spill and
/// leaves the unit (the frame carries the part's head and facts), and an order naming a pieces
/// file hands the maker each record's body in dataset order.
@Suite struct WorkerPartSpillTests {
    /// A maker that notes what it is handed.
    final class Recording: ClusterReportPieceMaker, ClusterReportPieceBatch, @unchecked Sendable {
        let seen = Locked<[(index: Int, evalCount: Int, part: Data)]>([])
        let began = Locked<[String]>([])
        func begin(path: String) throws -> any ClusterReportPieceBatch {
            began.withLock { $0.append(path) }
            return self
        }
        func add(index: Int, evalCount: Int, part: UnsafeRawBufferPointer) throws {
            seen.withLock { $0.append((index, evalCount, Data(part))) }
        }
        func finish() throws -> Data { Data("summary of \(seen.current.count)".utf8) }
    }

    @Test func partsAreSpilledAndHandedBackInDatasetOrder() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spill = try WorkerPartSpill(in: directory)
        // The spill has no name: nothing is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        var places = WorkerLinePlaces()
        var journal = Data("\n".utf8)
        var bodies: [Int: Data] = [:], evalCounts: [Int: Int] = [:]
        // Two frames, each journaled out of order.
        for frame in [[3, 1, 0, 2], [5, 4]] {
            let base = UInt64(journal.count)
            var units: [Data] = []
            for index in frame {
                var run = RunRecord(sample: TestSample(id: "s\(index)", input: "q"), target: "bot")
                run.output = "answer \(index)"
                let evals = (0..<(index % 3)).map { EvalRecord(sampleId: "s\(index)", metric: "m\($0)", type: "contains", status: .scored, score: 1, passed: true) }
                var record = ClusterRecord(sampleId: "s\(index)", index: index, run: run, evals: evals)
                let body = Array("body of \(index) ".utf8) + [UInt8](repeating: UInt8(index), count: index * 7)
                record.reportPart = ClusterReportPart.make(sampleId: record.sampleId, index: index, run: run, body: body)
                bodies[index] = Data(body)
                evalCounts[index] = evals.count
                let (unit, line) = try record.journaledUnit()
                units.append(unit)
                journal.append(line)
            }
            let sent = places.add(base: base, units: units, spill: spill)
            // Each sent unit is its unit without the body: the same head and ranges, a part that
            // ends where the body began (its facts still read), 4 bytes of length changed.
            for (unit, stripped) in zip(units, sent) {
                let partLength = Int(unit.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) })
                let strippedLength = Int(stripped.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) })
                let index = Int(unit.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self) })
                #expect(partLength - strippedLength == bodies[index]!.count)
                #expect(stripped.count == unit.count - bodies[index]!.count)
                #expect(stripped.prefix(8) == unit.prefix(8) && stripped.dropFirst(12) == unit.prefix(stripped.count).dropFirst(12))
                let part = stripped.suffix(strippedLength)
                #expect(ClusterReportPart.body(of: Data(part), index: index)?.isEmpty == true)
                #expect(ClusterReportPart.leanFacts(Data(part)) != nil)
            }
        }
        let journalURL = directory.appendingPathComponent("journal.jsonl")
        try journal.write(to: journalURL)
        let results = directory.appendingPathComponent("results.jsonl"), pieces = directory.appendingPathComponent("pieces")
        for url in [results, pieces] { #expect(FileManager.default.createFile(atPath: url.path, contents: nil)) }
        places.sortForWriting()
        // Records 1..<3 and 4..<6 are this worker's to write (offsets do not matter here).
        let order = ClusterMessage.WriteLines(
            results: results.path, evals: nil, runs: [.init(first: 1, count: 2, resultsOffset: 0, evalsOffset: 0), .init(first: 4, count: 2, resultsOffset: 0, evalsOffset: 0)],
            pieces: pieces.path)
        let maker = Recording()
        let written = places.write(order, journal: journalURL.path, pieces: WorkerLinePlaces.Pieces(maker: maker, spill: spill))
        #expect(written.failure == nil && written.records == 4, "\(written.failure ?? "")")
        #expect(written.pieces == Data("summary of 4".utf8))
        #expect(maker.began.current == [pieces.path])
        #expect(maker.seen.current.map(\.index) == [1, 2, 4, 5])
        for entry in maker.seen.current {
            #expect(entry.part == bodies[entry.index] && entry.evalCount == evalCounts[entry.index])
        }
        // Without a spill, an order asking for pieces is answered with why not.
        let unkept = places.write(order, journal: journalURL.path, pieces: nil)
        #expect(unkept.failure?.contains("kept no report parts") == true, "\(unkept.failure ?? "nil")")
    }
}
