import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterRunner
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The evaluations of one record, journaled next to the records while `test` plays
/// (`evals.journal.jsonl`, one `{"index":N,"record":{…this…}}` line per record).
///
/// `startedAt` and `latencyMs` tie the evaluations to the exact record they scored: a record
/// played again (a resume with `--retry-errors`) or journaled by another run never picks up
/// evaluations that are not its own.
struct EvalJournalEntry: Codable, Sendable, Hashable {
    var sampleId: String
    var status: RunRecord.Status
    var startedAt: Date?
    var latencyMs: Double
    var evals: [EvalRecord]

    init(sampleId: String, status: RunRecord.Status, startedAt: Date?, latencyMs: Double, evals: [EvalRecord]) {
        self.sampleId = sampleId
        self.status = status
        self.startedAt = startedAt
        self.latencyMs = latencyMs
        self.evals = evals
    }

    init(run: RunRecord, evals: [EvalRecord]) {
        sampleId = run.sampleId
        status = run.status
        startedAt = run.startedAt
        latencyMs = run.latencyMs
        self.evals = evals
    }

    /// The members an entry has (any other sends `decode` to `JSONDecoder`).
    static let fields: Set<String> = ["sampleId", "status", "startedAt", "latencyMs", "evals"]

    /// Decodes an entry journaled by `test`: through the byte parser for the shape `JSONCoding`
    /// writes (every journal line `test` writes), through `decoder` for anything else (which
    /// gives the same value, or the error).
    static func decode(_ bytes: Data, decoder: JSONDecoder) throws -> EvalJournalEntry {
        if case .iso8601 = decoder.dateDecodingStrategy, let entry = fast(bytes) { return entry }
        return try decoder.decode(EvalJournalEntry.self, from: bytes)
    }

    /// The entry `JSONDecoder` would decode from `bytes`, or nil when it is not the plain shape.
    static func fast(_ bytes: Data) -> EvalJournalEntry? {
        guard let value = try? JSONByteParser.parse(bytes), case .object(let object) = value,
            object.keys.allSatisfy(fields.contains), case .string(let sampleId)? = object["sampleId"],
            case .string(let statusText)? = object["status"], let status = RunRecord.Status(rawValue: statusText),
            case .array(let items)? = object["evals"]
        else { return nil }
        let latencyMs: Double
        switch object["latencyMs"] {
        case .double(let number)?: latencyMs = number
        case .int(let number)?: latencyMs = Double(number)
        default: return nil
        }
        var startedAt: Date?
        switch object["startedAt"] {
        case nil, .null?: startedAt = nil
        case .string(let text)?:
            guard let date = JSONCoding.fastDate(text) else { return nil }
            startedAt = date
        default: return nil
        }
        var evals: [EvalRecord] = []
        evals.reserveCapacity(items.count)
        for item in items {
            guard let eval = JSONCoding.fastEvalRecord(item) else { return nil }
            evals.append(eval)
        }
        return EvalJournalEntry(sampleId: sampleId, status: status, startedAt: startedAt, latencyMs: latencyMs, evals: evals)
    }

    /// Whether these are the evaluations of `run` (both read back from their journals).
    func scored(_ run: RunRecord) -> Bool {
        sampleId == run.sampleId && status == run.status && startedAt == run.startedAt && latencyMs == run.latencyMs
    }
}

/// The evaluation groups of a sorted evaluation journal (`ResultsWriter` with `wholeLines`), read
/// forward by input position beside the records they may belong to: groups of positions asked
/// past (records that were not kept: lost in a crash, replaced by a retry) are skipped.
struct EvalGroupCursor {
    private var lines: AsyncThrowingStream<(line: Int, text: Substring), any Error>.AsyncIterator?
    private var lookahead: JournalLine?

    /// Over `lines`; nil reads none (no evaluation journal).
    init(_ lines: AsyncThrowingStream<(line: Int, text: Substring), any Error>?) {
        self.lines = lines?.makeAsyncIterator()
    }

    /// The groups journaled at input position `index` (positions asked in increasing order).
    mutating func groups(at index: Int) async throws -> [Substring] {
        var found: [Substring] = []
        while true {
            if lookahead == nil {
                guard let (_, text) = try await lines?.next() else { break }
                lookahead = JournalLine.parse(text)
                if lookahead == nil { continue }
            }
            guard let candidate = lookahead, candidate.index <= index else { break }
            lookahead = nil
            if candidate.index == index { found.append(candidate.recordText) }
        }
        return found
    }

    /// The evaluations of the group at `index` that scored `run`, when one was journaled.
    mutating func evaluations(at index: Int, of run: RunRecord, decoder: JSONDecoder) async throws -> [EvalRecord]? {
        Self.entry(scoring: run, among: try await groups(at: index), decoder: decoder)?.evals
    }

    /// The entry among `groups` (one input position's) that scored `run`.
    static func entry(scoring run: RunRecord, among groups: [Substring], decoder: JSONDecoder) -> EvalJournalEntry? {
        groups.lazy.compactMap { try? EvalJournalEntry.decode(Data($0.utf8), decoder: decoder) }.first { $0.scored(run) }
    }
}

extension TestJob {
    /// The journal of evaluations made while `test` plays, next to `results.journal.jsonl`.
    public static let evalJournalKey = "evals.journal.jsonl"

    /// Consumes a run's records as they finish, evaluates them with the job's metrics (with the
    /// evaluator's concurrency) and journals the evaluations of each; returns the run's summary.
    /// Throws what the run throws (unreadable input, a journal that cannot be written); an
    /// interrupted run returns its summary.
    /// - Parameter streamed: also writes the results, evaluations and reports as records are scored.
    func scoreWhilePlaying(_ execution: RunExecution, evalJournal: RunJournal, streamed: StreamedTestOutput? = nil) async throws -> RunSummary {
        // The evaluator hands samples back in the order it took them: a FIFO of input positions
        // (and journal lines) pairs each with its record's.
        let taken = Locked<[(index: Int, line: Data?)]>([])
        let records = execution.indexed.map { @Sendable item -> RunRecord in
            taken.withLock { $0.append((item.index, item.journalLine)) }
            return item.record
        }
        let encoder = JSONCoding.encoder()
        var failure: (any Error)?
        do {
            _ = try await evaluator.evaluate(records) { sample in
                let (index, line) = taken.withLock { $0.removeFirst() }
                guard let run = sample.run else { return }
                try await evalJournal.append(line: EvalJournalEntry(run: run, evals: sample.evals).journalLine(index: index, encoder: encoder))
                streamed?.add(index: index, journalLine: line, sample: sample)
            }
        } catch {
            failure = error
        }
        let summary = await execution.summary
        if let failure, !(failure is CancellationError) { throw failure }
        return summary
    }

    /// What writes this job's `evals.jsonl` and every report as samples are added in dataset
    /// order — the job's metrics, gates, `maxErrorRate`, report options and `evaluate.baseline` —
    /// for the one pass that ends a scored run (this process's, or a sharded run's merge).
    /// - Parameter writesEvals: `false` when the caller writes `evals.jsonl` itself.
    public func evaluationOutput(writesEvals: Bool = true) async throws -> EvaluationOutput {
        try await evaluationOutput(in: outputDirectory, writesEvals: writesEvals)
    }

    /// The reports' options of this job: its name as their title, `evaluate.htmlSampleCap`.
    public var reportOptions: ReportOptions {
        ReportOptions(title: config.name ?? "chatbot-tester", htmlSampleCap: evaluation.htmlSampleCap)
    }

    /// The same output, written into `directory` (`test`'s streamed output writes a private one,
    /// as does a sharded `test`'s); with `assemblesRows`, `results.csv` and `junit.xml` come from
    /// a sharded run's workers' pieces (`EvaluationOutput.add(_:sample:)`).
    public func evaluationOutput(in directory: URL, writesEvals: Bool = true, assemblesRows: Bool = false) async throws -> EvaluationOutput {
        try await EvaluationOutput(
            directory: directory, descriptors: evaluator.descriptors, maxErrorRate: evaluator.maxErrorRate,
            options: reportOptions,
            baselineEvals: evaluation.baseline.map { Self.baselineEvals($0, config: config) }, events: events, writesEvals: writesEvals,
            assemblesRows: assemblesRows)
    }

    /// One pass in dataset order: `results.jsonl` from the record journal and, for each record, its
    /// journaled evaluations into `evals.jsonl` and every report. Returns nil (and writes no report)
    /// when some record has no journaled evaluation — a run played without scoring, or a session
    /// stopped between journaling a record and its evaluations — so the caller evaluates
    /// `results.jsonl` as a whole instead.
    func writeResultsAndEvaluation(input: IDsByPosition? = nil) async throws -> EvalSummary? {
        let store = self.store
        let sortedKey = Self.evalJournalKey + ".sorted"
        // The run's per-case tables are gone by now: their pages go back, so this pass peaks with
        // its own (the written-id set, the merge's readers) instead of on top of theirs.
        FreedMemory.release()
        // Every journaled evaluation group in input order (a record played again has several: the
        // one that scored the record kept in the results is picked below).
        try await ResultsWriter.write(store: store, journalKey: Self.evalJournalKey, to: sortedKey, uniqueIDs: false, wholeLines: true)
        FreedMemory.release()
        let output = try await evaluationOutput()
        var groups = EvalGroupCursor(store.lines(of: sortedKey))
        /// The journaled evaluation groups at input position `index` (the one that scored the
        /// record is picked when the batch is decoded).
        func journaledGroups(at index: Int) async throws -> [Substring] {
            try await groups.groups(at: index)
        }
        // Records and their groups are decoded and their report bytes made in batches, a few at
        // once on other tasks (every core), and added to the output in results order here.
        let preparing = output.preparing
        var batch: [FinalPassItem] = []
        var inFlight: [Task<[FinalPassSample?], Never>] = []
        var joined = true
        func addOldest() async throws {
            let samples = await inFlight.removeFirst().value
            for sample in samples {
                guard joined, let sample else {
                    joined = false
                    return
                }
                try output.add(sample.evaluation, prepared: sample.prepared)
            }
        }
        func submit() async throws {
            let items = batch
            batch = []
            batch.reserveCapacity(Self.finalPassBatch)
            inFlight.append(Task { Self.decodeFinalPass(items, preparing: preparing) })
            if inFlight.count > Self.finalPassWindow { try await addOldest() }
        }
        do {
            try await ResultsWriter.write(store: store, to: "results.jsonl", input: input) { line in
                guard joined else { return }
                batch.append(FinalPassItem(record: line.recordText, groups: try await journaledGroups(at: line.index)))
                if batch.count >= Self.finalPassBatch { try await submit() }
            }
            if !batch.isEmpty { try await submit() }
            while !inFlight.isEmpty { try await addOldest() }
        } catch {
            for task in inFlight { _ = await task.value }
            output.abandon()
            try? await store.delete(sortedKey)
            throw error
        }
        try await store.delete(sortedKey)
        guard joined else {
            output.abandon()
            return nil
        }
        return try output.finish().summary
    }

    /// Records decoded by one task of the final pass, and batches in flight beyond the one being added.
    static let finalPassBatch = 128
    static let finalPassWindow = 2

    /// One record of the final pass: its JSON text and the journaled evaluation groups at its position.
    struct FinalPassItem: Sendable {
        var record: Substring
        var groups: [Substring]
    }

    /// A record with its evaluations and their report bytes.
    struct FinalPassSample: Sendable {
        var evaluation: SampleEvaluation
        var prepared: EvaluationOutput.Prepared
    }

    /// Decodes a batch of the final pass (each record and group once) and makes its output bytes;
    /// `nil` for a record that cannot be read or has no group that scored it (then the whole
    /// `results.jsonl` is evaluated instead).
    static func decodeFinalPass(_ items: [FinalPassItem], preparing: EvaluationOutput.Preparing) -> [FinalPassSample?] {
        let decoder = JSONCoding.decoder()
        var samples: [FinalPassSample?] = []
        samples.reserveCapacity(items.count)
        for item in items {
            guard let run = try? JSONCoding.decodeRecord(RunRecord.self, from: Data(item.record.utf8), decoder: decoder),
                let entry = EvalGroupCursor.entry(scoring: run, among: item.groups, decoder: decoder)
            else {
                samples.append(nil)
                continue
            }
            let evaluation = SampleEvaluation(run: run, evals: entry.evals)
            samples.append(FinalPassSample(evaluation: evaluation, prepared: EvaluationOutput.prepare(evaluation, for: preparing)))
        }
        return samples
    }
}
