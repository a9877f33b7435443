import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import Foundation

/// `results.jsonl`, `evals.jsonl` and every report of a fresh sharded `test`, written by the
/// coordinator while the run plays, from each record as it is journaled (`ClusterJournalSink`):
/// the files `MergePass` would write from the journal at the end, byte for byte, with no pass
/// after the run.
///
/// The coordinator's actor only queues each journaled line (its bytes are shared, not copied);
/// batches are handed to a serial queue of this output, which puts the records in dataset order
/// (the few that overtake an earlier one wait in a buffer of at most `limit` records), copies the
/// `run` value and the evaluations by byte range into `results.jsonl` and `evals.jsonl`, and feeds
/// each record's report part to the job's `EvaluationOutput` (decoding only the samples
/// report.md / report.html keep). Everything is written into `<out>/.streamed-output/` and moved
/// into place only when the run ends with every journaled record written.
///
/// With `workersMakeReports` (protocol 12) the coordinator reads no record's report part at all:
/// every `writeLines` order names a pieces file of this output's (`piecesFile()`), the worker
/// writes its records' `results.csv` rows and `junit.xml` test cases there and answers with a
/// summary (`ReportPieceSummary`: where they are, each record's outcome, its partial aggregate),
/// and `finish` puts the summaries together (`ReportPieceAssembly`), reading from the journal only
/// the samples `report.md` and `report.html` keep.
///
/// The journal stays the truth: whenever this output cannot give exactly what the merge would —
/// a record without a report part, more than `limit` records waiting, a sample seen twice, a
/// write that fails, a run that was interrupted or failed — it is dropped (`abandon`) and the
/// merge pass writes everything from the journal, as before.
final class StreamedClusterOutput: ClusterWorkerWrittenLines, @unchecked Sendable {
    /// The private directory's name inside the output directory (the one a single process's
    /// streamed output uses: either mode clears what a crash of the other left).
    static let directoryName = StreamedOutputDirectory.name
    /// Records queued before a batch goes to the writing queue.
    static let batchSize = 128
    /// The most records handed to the writing queue and not taken by it yet, by default: should it
    /// fall that far behind (a stalled disk), the output is given up rather than holding the run
    /// in memory.
    static let defaultBacklogLimit = 1 << 16

    /// One journaled record.
    private struct Journaled {
        /// The record as its worker sent it: the journal line once `sample` is put back.
        var line: Data
        /// The sample's JSON that replaces `line[sampleRange]` (nil: `line` is the journal line).
        var sample: Data?
        var sampleRange: Range<Int>
        var index: Int
        var run: Range<Int>?
        var evals: Range<Int>?
        /// Where each evaluation is in `line`, when the coordinator knows it.
        var evalElements: [Range<Int>]?
        var part: Data?
    }

    private let directory: URL
    private let target: URL
    private let limit: Int
    private let backlogLimit: Int
    private let queue = DispatchQueue(label: "chatbot-tester.streamed-cluster-output")

    // Under `lock` (the coordinator's side).
    private let lock = NSLock()
    private var pending: [Journaled] = []
    /// Records handed to the queue and not taken by it yet (bounded: see `backlogLimit`).
    private var backlog = 0
    private var stopped = false
    /// With `workersWriteLines`: how the workers' writing of the lines went (nil: not told yet;
    /// `.some(nil)`: every line written).
    private var linesOutcome: String??
    /// With `workersMakeReports`: the pieces files handed out, the workers' summaries of them, and
    /// where each record's line is in the journal (told when the lines are ordered).
    private var piecesMade = 0
    private var summaries: [(summary: Data, path: String)] = []
    private var journalLines: (places: ClusterLinePlaces, journal: URL)?
    /// The records the lines were ordered for (`linesOrdered`).
    private var orderedRecords: Int?
    /// How the worker asked to make the reports did (protocol 13; nil: none was asked, or it has
    /// not answered; `.some(nil)`: it made them).
    private var reportsByWorker: String??
    /// With `workersMakeReports`, on the queue: the records whose pieces `finish` made itself.
    private var madeHere = 0
    /// On the queue: the pieces put together for the order a worker was sent (`reportsOrder()`),
    /// for how many records, and the directory it makes the reports in.
    private var asked: (assembly: ReportPieceAssembly, records: Int, directory: URL)?

    /// Whether the workers write `results.jsonl` and `evals.jsonl` at the end of the run (protocol
    /// 11): this output then writes only the reports, and copies no line.
    let workersWriteLines: Bool
    let lineFiles: (results: URL, evals: URL?)
    /// Whether the workers make the reports' pieces (protocol 12): this output then reads no
    /// record's report part (see the type's description).
    let workersMakeReports: Bool

    // On `queue` only.
    private let results: JSONLWriter?
    private let evals: JSONLWriter?
    private let evaluation: EvaluationOutput?
    private let decoder = JSONCoding.decoder()
    /// Records that overtook one at an earlier index (at most `limit` of them).
    private var waiting: ReorderBuffer<Journaled>
    private var written = 0
    /// What is gathered for `results.jsonl` and `evals.jsonl` before a write; taken out of the
    /// instance while a batch is written (`withChunks`), so appending to it is not an access of a
    /// class property checked at run time per record.
    private var chunks = Chunks()
    private var closed = false
    /// The reports, finished for this many records once the coordinator ordered the lines
    /// (`linesOrdered`) or at `finish`.
    private var reportsFinished: (records: Int, summary: EvalSummary?)?
    /// Why this output was given up (nil while it is in use).
    private var reason: String?

    /// Opens the files in `<output>/.streamed-output/` (a leftover one is removed first).
    /// - Parameters:
    ///   - scoring: whether the run is scored: `evals.jsonl` and the reports are written too, from
    ///     the records' report parts.
    ///   - limit: the most records waiting for an earlier one before giving up.
    ///   - backlogLimit: the most records handed to the writing queue and not taken by it yet.
    ///   - workersWriteLines: the workers write `results.jsonl` and `evals.jsonl` at the end of the
    ///     run (`ClusterWorkerWrittenLines`); this output writes the reports only.
    ///   - workersMakeReports: with `workersWriteLines` and `scoring`, the workers also make the
    ///     reports' pieces (protocol 12); this output puts them together at the end.
    init(
        job: TestJob, scoring: Bool, limit: Int, backlogLimit: Int = defaultBacklogLimit, workersWriteLines: Bool = false,
        workersMakeReports: Bool = false
    ) async throws {
        target = job.outputDirectory
        directory = try StreamedOutputDirectory.create(in: job.outputDirectory)
        self.limit = max(1, limit)
        waiting = ReorderBuffer(limit: limit)
        self.backlogLimit = max(1, backlogLimit)
        self.workersWriteLines = workersWriteLines
        self.workersMakeReports = workersMakeReports && workersWriteLines && scoring
        lineFiles = (directory.appendingPathComponent("results.jsonl"), scoring ? directory.appendingPathComponent("evals.jsonl") : nil)
        if workersWriteLines {
            results = nil
            evals = nil
        } else {
            results = try JSONLWriter(url: lineFiles.results, bufferLimit: 1 << 18)
            evals = try lineFiles.evals.map { try JSONLWriter(url: $0, bufferLimit: 1 << 18) }
        }
        evaluation = scoring ? try await job.evaluationOutput(in: directory, writesEvals: false, assemblesRows: self.workersMakeReports) : nil
    }

    // MARK: The coordinator's side

    func journaled(
        line: Data, sample: Data?, sampleRange: Range<Int>, index: Int, run: Range<Int>?, evals: Range<Int>?, evalElements: [Range<Int>]?,
        reportPart: Data?
    ) {
        // The workers make the reports' pieces: nothing to do per record.
        if workersMakeReports { return }
        let batch: [Journaled]? = lock.withLock {
            guard !stopped else { return nil }
            pending.append(
                Journaled(line: line, sample: sample, sampleRange: sampleRange, index: index, run: run, evals: evals, evalElements: evalElements, part: reportPart))
            guard pending.count >= Self.batchSize else { return nil }
            backlog += pending.count
            if backlog > backlogLimit {
                stopped = true
                pending = []
                return []
            }
            defer { pending = [] }
            return pending
        }
        guard let batch else { return }
        if batch.isEmpty {
            queue.async { self.giveUp("more than \(self.backlogLimit) records waited to be written") }
        } else {
            queue.async { self.take(batch) }
        }
    }

    func discard(_ reason: String) {
        let first: Bool = lock.withLock {
            defer { stopped = true; pending = [] }
            return !stopped
        }
        guard first else { return }
        queue.async { self.giveUp(reason) }
    }

    func linesWritten(failure: String?) {
        lock.withLock { linesOutcome = .some(failure) }
    }

    var wantsReportPieces: Bool { workersMakeReports }

    func piecesFile() -> String? {
        guard workersMakeReports else { return nil }
        let path: String? = lock.withLock {
            guard !stopped else { return nil }
            piecesMade += 1
            return directory.appendingPathComponent("pieces-\(piecesMade)").path
        }
        guard let path else { return nil }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            discard("cannot make the pieces file \(path): \(String(cString: strerror(errno)))")
            return nil
        }
        close(fd)
        return path
    }

    func piecesWritten(_ summary: Data, path: String) {
        lock.withLock { summaries.append((summary, path)) }
    }

    func linesOrdered(records: Int, places: ClusterLinePlaces, journal: URL) {
        guard workersMakeReports else { return linesOrdered(records: records) }
        // The reports are put together from the pieces once every worker has answered (`finish`).
        lock.withLock {
            journalLines = (places, journal)
            orderedRecords = records
        }
    }

    /// Once every line is written: the order for the worker that puts the pieces together into the
    /// reports in this output's stead (protocol 13), so that the coordinator reads no sample and
    /// copies no piece; nil when this output makes them itself (`finish`): a record no worker made
    /// pieces of (its worker left), pieces that do not fit, or an output given up.
    func reportsOrder() -> Data? {
        let (pieces, lines, records) = lock.withLock { (summaries, journalLines, orderedRecords) }
        guard workersMakeReports, let lines, let records else { return nil }
        return queue.sync { () -> Data? in
            // The worker's output is made with the job's metrics and reports' options and no
            // baseline: only for an output that has none either.
            guard reason == nil, let evaluation, evaluation.takesPieces else { return nil }
            do {
                let order = pieces.map { ReportsOrder.Piece(summary: $0.summary, path: $0.path) }
                let assembly = try ReportsOrder.assembly(of: order, records: records)
                var samples: [ReportsOrder.Sample] = []
                for index in evaluation.samplesShown(by: assembly) {
                    guard let place = lines.places.journalLine(of: index) else { return nil }
                    samples.append(ReportsOrder.Sample(index: index, line: Int(place.lowerBound)..<Int(place.upperBound)))
                }
                let reports = directory.appendingPathComponent("reports")
                guard mkdir(reports.path, 0o700) == 0 else { return nil }
                asked = (assembly, records, reports)
                return ReportsOrder(directory: reports.path, records: records, pieces: order, samples: samples).encoded()
            } catch {
                // `finish` puts them together itself, and says why when it cannot.
                return nil
            }
        }
    }

    func reportsMade(failure: String?) {
        lock.withLock { reportsByWorker = .some(failure) }
    }

    /// Every record is in: the reports are written now, on the queue, while the workers write the
    /// lines (`finish` then only checks how that went and moves the files).
    func linesOrdered(records: Int) {
        let rest: [Journaled] = lock.withLock {
            defer { pending = [] }
            return pending
        }
        queue.async { self.finishReports(rest, expected: records) }
    }

    /// A batch reaches the queue.
    private func take(_ batch: [Journaled]) {
        lock.withLock { backlog -= batch.count }
        write(batch)
    }

    // MARK: The writing queue

    private func write(_ batch: [Journaled]) {
        guard reason == nil else { return }
        if reportsFinished != nil && !batch.isEmpty { return giveUp("a record came after the run's lines were ordered") }
        withChunks { chunks in
            for record in batch {
                switch waiting.insert(record, at: record.index) {
                case .accepted:
                    while reason == nil, let ready = waiting.popNext() { add(ready, to: &chunks) }
                case .duplicate:
                    return giveUp("sample at index \(record.index) journaled twice")
                case .overLimit:
                    return giveUp("more than \(limit) records waited for an earlier one")
                case .tooFarAhead:
                    return giveUp("sample at index \(record.index) came \(waiting.maxSpan) or more records ahead of index \(waiting.next)")
                }
                if reason != nil { return }
            }
            // The chunks are written once one holds 256 KiB (`add`) or at the end (`finish`): a chunk
            // that large goes to its file as it is, not copied into the writer's buffer first.
        }
    }

    /// The bytes of `results.jsonl` and `evals.jsonl` not written yet.
    private struct Chunks {
        var results: [UInt8] = []
        var evals: [UInt8] = []
    }

    /// Runs `body` with the chunks taken out of the instance, then puts them back (emptied when
    /// the output was given up meanwhile).
    private func withChunks(_ body: (inout Chunks) -> Void) {
        var taken = Chunks()
        swap(&taken, &chunks)
        body(&taken)
        if reason != nil { taken = Chunks() }
        swap(&taken, &chunks)
    }

    /// Writes one record: its `run` value to `results.jsonl`, its evaluations to `evals.jsonl`
    /// (the bytes the merge copies by range) and its report part to the reports.
    private func add(_ record: Journaled, to chunks: inout Chunks) {
        let line = record.line
        let start = line.startIndex
        guard let (runRange, evalsRange) = Self.ranges(record), runRange.count >= 2, runRange.upperBound <= line.count,
            evalsRange.upperBound <= line.count
        else { return giveUp("journal line of index \(record.index) is not shaped as indexed") }
        // The sample put back goes inside the run (it is `run.sample`): the run is copied in three
        // pieces, and built whole only when a report decodes it.
        let cut = record.sampleRange
        if record.sample != nil {
            guard runRange.lowerBound < cut.lowerBound, cut.upperBound < runRange.upperBound,
                evalsRange.upperBound <= cut.lowerBound || evalsRange.lowerBound >= cut.upperBound
            else { return giveUp("journal line of index \(record.index) is not shaped as indexed") }
        }
        // The line was checked when it was journaled: its evaluations are found, not checked again
        // (`ClusterCheckedJSON`), and copied straight into the chunk.
        let copyEvals = evals != nil
        let copiesLines = !workersWriteLines
        let counted = line.withUnsafeBytes { raw -> Int? in
            guard raw[runRange.lowerBound] == UInt8(ascii: "{"), raw[runRange.upperBound - 1] == UInt8(ascii: "}") else { return nil }
            if !copiesLines {
                // The workers write the lines: only the evaluations are counted, for the reports.
                if let elements = record.evalElements { return elements.count }
                var count = 0
                return ClusterCheckedJSON.forEachElement(of: line, in: evalsRange, { _ in count += 1 }) ? count : nil
            }
            if let sample = record.sample {
                chunks.results.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[runRange.lowerBound..<cut.lowerBound]))
                sample.withUnsafeBytes { chunks.results.append(contentsOf: $0) }
                chunks.results.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[cut.upperBound..<runRange.upperBound]))
            } else {
                chunks.results.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[runRange]))
            }
            chunks.results.append(0x0A)
            var evalCount = 0
            func copy(_ element: Range<Int>) {
                evalCount += 1
                guard copyEvals else { return }
                chunks.evals.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[element]))
                chunks.evals.append(0x0A)
            }
            // Where the coordinator checked them to be (a worker's frame said), else found here.
            if let elements = record.evalElements, elements.allSatisfy({ $0.lowerBound >= evalsRange.lowerBound && $0.upperBound <= evalsRange.upperBound }) {
                elements.forEach(copy)
            } else if !ClusterCheckedJSON.forEachElement(of: line, in: evalsRange, copy) {
                return nil
            }
            return evalCount
        }
        guard let evalCount = counted else { return giveUp("journal line of index \(record.index) is not shaped as indexed") }
        if let evaluation {
            guard let part = record.part, let body = ClusterReportPart.body(of: part, index: record.index) else {
                return giveUp("the record at index \(record.index) came without a report part")
            }
            let decoder = decoder
            do {
                let used = try evaluation.add(reportPart: part[(part.startIndex + body.lowerBound)..<(part.startIndex + body.upperBound)], evalCount: evalCount) {
                    var run = line[(start + runRange.lowerBound)..<(start + runRange.upperBound)]
                    if let sample = record.sample {
                        run = line[(start + runRange.lowerBound)..<(start + cut.lowerBound)]
                        run.append(sample)
                        run.append(line[(start + cut.upperBound)..<(start + runRange.upperBound)])
                    }
                    return try Self.sample(run: run, line: line, evals: evalsRange, decoder: decoder)
                }
                guard used else { return giveUp("the report part of index \(record.index) does not fit its record") }
            } catch {
                return giveUp("the reports could not take index \(record.index): \(error)")
            }
        }
        written += 1
        if chunks.results.count >= 1 << 18 || chunks.evals.count >= 1 << 18 { flush(&chunks) }
    }

    /// Where the record's `run` value and `evals` array are in its line: as the coordinator gave
    /// them, else found from the line's members.
    private static func ranges(_ record: Journaled) -> (run: Range<Int>, evals: Range<Int>)? {
        if let run = record.run, let evals = record.evals { return (run, evals) }
        guard let members = try? JSONByteScanner.members(ofObject: record.line),
            let run = members.first(where: { $0.name == "run" })?.value, let evals = members.first(where: { $0.name == "evals" })?.value
        else { return nil }
        return (run, evals)
    }

    private func flush(_ chunks: inout Chunks) {
        guard reason == nil else { return }
        do {
            if !chunks.results.isEmpty { try results?.write(lines: chunks.results) }
            if !chunks.evals.isEmpty { try evals?.write(lines: chunks.evals) }
            chunks.results.removeAll(keepingCapacity: true)
            chunks.evals.removeAll(keepingCapacity: true)
        } catch {
            giveUp("cannot write: \(error)")
        }
    }

    /// Stops taking records and removes the private directory (on the queue).
    private func giveUp(_ why: String) {
        lock.withLock {
            stopped = true
            pending = []
        }
        if reason == nil { reason = why }
        waiting.removeAll()
        chunks = Chunks()
        // Files closed already (the reports finished while the workers wrote the lines) are
        // removed all the same.
        if !closed {
            closed = true
            try? results?.close()
            try? evals?.close()
            evaluation?.abandon()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: The end of the run

    /// What a finished streamed output wrote.
    struct Written {
        /// The reports' summary (nil for a run that is not scored).
        var evaluation: EvalSummary?
        /// With `workersMakeReports`: how many of the workers' summaries were put together, and of
        /// how many records this output made the pieces itself.
        var pieces: (summaries: Int, recordsMadeHere: Int, byWorker: Bool)?
    }

    /// Writes what is still queued or waiting (a run stopped by its budget or failure policy
    /// leaves gaps), closes every file and moves them into the output directory. Returns nil,
    /// moving nothing, when this output was given up or does not hold exactly `expected` records
    /// (what the run journaled); `reason` then says why.
    func finish(expected: Int) async throws -> Written? {
        let result: Result<Written?, any Error> = await withCheckedContinuation { continuation in
            let rest: [Journaled] = lock.withLock {
                defer { pending = [] }
                return pending
            }
            queue.async { continuation.resume(returning: Result { try self.finishOnQueue(rest, expected: expected) }) }
        }
        return try result.get()
    }

    private func finishOnQueue(_ rest: [Journaled], expected: Int) throws -> Written? {
        if workersMakeReports { return assemble(expected: expected) }
        if reportsFinished == nil { finishReports(rest, expected: expected) } else { write(rest) }
        guard reason == nil, let finished = reportsFinished else { return nil }
        guard finished.records == expected else {
            giveUp("\(finished.records) records written, \(expected) journaled")
            return nil
        }
        if workersWriteLines, !linesWentWell() { return nil }
        try StreamedOutputDirectory.moveFiles(of: directory, into: target)
        return Written(evaluation: finished.summary)
    }

    /// Whether the workers wrote every line; gives up, saying why, when they did not.
    private func linesWentWell() -> Bool {
        switch lock.withLock({ linesOutcome }) {
        case .some(nil):
            return true
        case .some(.some(let why)):
            giveUp(why)
        case nil:
            giveUp("the workers were not asked to write the lines")
        }
        return false
    }

    /// With `workersMakeReports`: once every line is written, puts the workers' pieces of the
    /// `expected` records together into the reports and moves every file into place; gives up
    /// (nil) when a line or a piece is missing or does not fit.
    private func assemble(expected: Int) -> Written? {
        guard reason == nil else { return nil }
        let (pieces, lines) = lock.withLock { (summaries, journalLines) }
        guard linesWentWell() else { return nil }
        guard let evaluation, let lines else {
            giveUp("the run's lines were not ordered")
            return nil
        }
        if let asked {
            // A worker was asked to make the reports: when it did, they are taken as they are.
            if lock.withLock({ reportsByWorker }) == .some(nil), asked.records == expected,
                (try? adoptReports(from: asked.directory, named: evaluation.reportFileNames)) != nil
            {
                do {
                    closed = true
                    for made in 0..<lock.withLock({ piecesMade }) { unlink(directory.appendingPathComponent("pieces-\(made + 1)").path) }
                    try StreamedOutputDirectory.moveFiles(of: directory, into: target)
                    return Written(evaluation: evaluation.summary(of: asked.assembly), pieces: (pieces.count, 0, true))
                } catch {
                    closed = false
                    giveUp("the reports a worker made cannot be moved into place: \(error)")
                    return nil
                }
            }
            // Else they are made here, as if none had been asked (what it left is removed).
            try? FileManager.default.removeItem(at: asked.directory)
        }
        do {
            let samples = try JournalSamples(journal: lines.journal.path)
            func sample(at index: Int) throws -> SampleEvaluation {
                try samples.sample(at: index, place: lines.places.journalLine(of: index).map { Int($0.lowerBound)..<Int($0.upperBound) })
            }
            var parts = try pieces.map { (summary: try ReportPieceSummary.decode($0.summary), file: URL(fileURLWithPath: $0.path)) }
            // The records no worker made pieces of (those of a worker that left, whose lines the
            // coordinator wrote from the journal): made here, from their journal lines.
            var covered = IndexSet()
            for part in parts { for block in part.summary.blocks where block.count > 0 { covered.insert(integersIn: block.first..<(block.first + block.count)) } }
            let missing = IndexSet(integersIn: 0..<expected).subtracting(covered)
            if !missing.isEmpty {
                guard let path = piecesFile() else { throw ChatbotTesterError(.io, "no pieces file for the records made here") }
                let writer = try ReportPieceWriter(path: path, aggregate: evaluation.startingAggregate, csv: true, junit: true)
                for index in missing {
                    let whole = try sample(at: index)
                    guard let part = EvaluationOutput.reportPart(for: whole) else {
                        throw ChatbotTesterError(.internal, "the record at index \(index) has no run")
                    }
                    try part.withUnsafeBytes { try writer.add(index: index, evalCount: whole.evals.count, part: $0) }
                }
                parts.append((try writer.finish(), URL(fileURLWithPath: path)))
            }
            madeHere = missing.count
            let assembly = try ReportPieceAssembly(parts, records: expected)
            try evaluation.add(assembly, sample: sample(at:))
            closed = true
            let summary = try evaluation.finish().summary
            for made in 0..<lock.withLock({ piecesMade }) { unlink(directory.appendingPathComponent("pieces-\(made + 1)").path) }
            try StreamedOutputDirectory.moveFiles(of: directory, into: target)
            return Written(evaluation: summary, pieces: (pieces.count, madeHere, false))
        } catch {
            closed = false
            giveUp("the reports' pieces cannot be put together: \(error)")
            return nil
        }
    }

    /// Moves the reports a worker made in `made` (every one of `names`, as regular files) into this
    /// output's directory, and removes `made`; throws, moving none, when one is missing.
    private func adoptReports(from made: URL, named names: [String]) throws {
        for name in names {
            var info = stat()
            guard lstat(made.appendingPathComponent(name).path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                throw ChatbotTesterError(.io, "the worker left no \(name)", location: SourceLocation(source: made.path))
            }
        }
        for name in names {
            guard rename(made.appendingPathComponent(name).path, directory.appendingPathComponent(name).path) == 0 else {
                throw ChatbotTesterError(.io, "cannot move \(name): \(String(cString: strerror(errno)))", location: SourceLocation(source: made.path))
            }
        }
        try FileManager.default.removeItem(at: made)
    }

    /// A sample from its `run` value's bytes and the evaluations at `evals` in `line`.
    private static func sample(run: Data, line: Data, evals: Range<Int>, decoder: JSONDecoder) throws -> SampleEvaluation {
        let start = line.startIndex
        return SampleEvaluation(
            run: try JSONCoding.decodeRecord(RunRecord.self, from: run, decoder: decoder),
            evals: try JSONByteScanner.elements(ofArray: line, in: evals).map {
                try JSONCoding.decodeRecord(EvalRecord.self, from: line[(start + $0.lowerBound)..<(start + $0.upperBound)], decoder: decoder)
            })
    }

    /// Writes what is still queued or waiting, then closes the line files and finishes the
    /// reports (once), when exactly `expected` records were written; gives up otherwise.
    private func finishReports(_ rest: [Journaled], expected: Int) {
        guard reportsFinished == nil else { return }
        write(rest)
        withChunks { chunks in
            while reason == nil, let (_, record) = waiting.popFirstWaiting() { add(record, to: &chunks) }
            flush(&chunks)
        }
        guard reason == nil else { return }
        guard written == expected else { return giveUp("\(written) records written, \(expected) journaled") }
        do {
            closed = true
            try results?.close()
            try evals?.close()
            reportsFinished = (expected, try evaluation?.finish().summary)
        } catch {
            closed = false
            giveUp("cannot finish: \(error)")
        }
    }

    /// Gives up (the run was interrupted or failed): the merge pass writes everything.
    func abandon(_ why: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.withLock {
                stopped = true
                pending = []
            }
            queue.async {
                self.giveUp(why)
                continuation.resume()
            }
        }
    }

    /// Why this output was given up; nil when it was not (read after `finish` or `abandon`).
    var abandonReason: String? {
        queue.sync { reason }
    }
}
