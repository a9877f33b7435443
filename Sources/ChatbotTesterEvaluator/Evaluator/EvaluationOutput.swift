import ChatbotTesterCore
import Foundation

/// Everything an evaluation writes, fed one sample at a time in results order: `evals.jsonl`, the
/// aggregate, every report and the baseline comparison — one streaming pass, memory bounded by
/// the reports' sample caps.
///
/// `Evaluator.evaluateFile` feeds it from a `results.jsonl`; `test` feeds it from the Runner's
/// records as they are merged into dataset order, so results are never read back; a sharded run
/// feeds it from the merge of the workers' records, which writes `evals.jsonl` itself
/// (`writesEvals: false`).
///
/// ```swift
/// let output = try await EvaluationOutput(directory: dir, descriptors: evaluator.descriptors, options: options)
/// for sample in samples { try output.add(sample) }
/// let summary = try output.finish()
/// ```
public final class EvaluationOutput {
    /// The `evals.jsonl` being written.
    public let evalsURL: URL
    let writer: JSONLWriter?
    let reports: EvalReportWriter
    var comparison: RunComparison.Builder?
    private let baselineEvals: URL?
    private let directory: URL
    /// What has been counted so far.
    public internal(set) var aggregate: EvalAggregate
    /// The aggregate before any sample (each batch counts into a copy, merged by `add(_:)`).
    private let emptyAggregate: EvalAggregate
    /// Lines of the input that could not be read (counted in the summary).
    public var rejectedLines = 0
    /// The metric and type names report parts gave last, per evaluation position, and the
    /// evaluations read from the last part (`add(reportPart:…)`: reused, not made per sample).
    var partNames = ReportPartNames()
    var partEvals: [EvalRecord] = []

    /// Opens `evals.jsonl` and the streamed reports in `directory`.
    /// - Parameters:
    ///   - descriptors: the metrics (names, thresholds, gates), in config order.
    ///   - baselineEvals: a baseline run's `evals.jsonl`, compared with in the same pass.
    ///   - writesEvals: whether to write `evals.jsonl`; `false` when the caller writes the same
    ///     lines itself (a merge copying them by byte range).
    ///   - assemblesRows: `results.csv` and `junit.xml` come from a sharded run's workers
    ///     (`add(_:sample:)` with their pieces) instead of being streamed sample by sample.
    public convenience init(
        directory: URL, descriptors: [MetricCommon], maxErrorRate: Double? = nil, options: ReportOptions = ReportOptions(),
        baselineEvals: URL? = nil, events: EventBus? = nil, writesEvals: Bool = true, assemblesRows: Bool = false
    ) async throws {
        var comparison: RunComparison.Builder?
        if let baselineEvals { comparison = try await RunComparison.Builder(baseline: baselineEvals, events: events) }
        try self.init(
            directory: directory, descriptors: descriptors, maxErrorRate: maxErrorRate, options: options, baselineEvals: baselineEvals,
            comparison: comparison, writesEvals: writesEvals, assemblesRows: assemblesRows)
    }

    /// An output that compares with no baseline and writes no `evals.jsonl`, putting a sharded run's
    /// pieces together (`add(_:sample:)`), made without waiting: where a sharded run's worker
    /// makes the reports for the coordinator.
    public convenience init(assemblingPiecesIn directory: URL, descriptors: [MetricCommon], maxErrorRate: Double?, options: ReportOptions) throws {
        try self.init(
            directory: directory, descriptors: descriptors, maxErrorRate: maxErrorRate, options: options, baselineEvals: nil, comparison: nil,
            writesEvals: false, assemblesRows: true)
    }

    private init(
        directory: URL, descriptors: [MetricCommon], maxErrorRate: Double?, options: ReportOptions, baselineEvals: URL?,
        comparison: RunComparison.Builder?, writesEvals: Bool, assemblesRows: Bool
    ) throws {
        self.directory = directory
        self.baselineEvals = baselineEvals
        self.comparison = comparison
        evalsURL = directory.appendingPathComponent("evals.jsonl")
        writer = writesEvals ? try JSONLWriter(url: evalsURL) : nil
        reports = try EvalReportWriter(directory: directory, options: options, assemblesRows: assemblesRows)
        aggregate = EvalAggregate(metrics: descriptors)
        aggregate.maxErrorRate = maxErrorRate
        emptyAggregate = aggregate
    }

    /// Adds one sample (its run and its evaluations), in results order.
    public func add(_ sample: SampleEvaluation) throws {
        try add(sample, prepared: nil)
    }

    /// The bytes of one sample's outputs, made off the writing task (`prepare`), so that many
    /// samples are encoded at once while `add(_:prepared:)` only appends.
    public struct Prepared: Sendable {
        /// The `evals.jsonl` lines (`nil`: a record needs `JSONEncoder`, written by `add`).
        public var evalLines: [UInt8]?
        /// The `results.csv` rows (`nil`: made by `add`, or no CSV is written).
        public var csvRows: [UInt8]?
        /// The `junit.xml` test cases (`nil`: made by `add`, or no `junit.xml` is written).
        public var junit: JUnitReportWriter.Prepared?
    }

    /// What `prepare` should make for this output (no `evals.jsonl` lines when it writes none).
    public var preparing: Preparing { Preparing(csv: reports.writesCSV, junit: reports.writesJUnit, evalLines: writer != nil) }

    /// Which reports `prepare` makes bytes for.
    public struct Preparing: Sendable {
        public var csv: Bool
        public var junit: Bool
        /// Whether to encode the `evals.jsonl` lines.
        public var evalLines = true
    }

    /// Encodes one sample's `evals.jsonl` lines, CSV rows and JUnit test cases; safe on any task.
    public static func prepare(_ sample: SampleEvaluation, for preparing: Preparing) -> Prepared {
        var lines: [UInt8]? = preparing.evalLines ? [] : nil
        lines?.reserveCapacity(sample.evals.count * 320)
        for eval in sample.evals where lines != nil {
            if !FastRecordEncoding.append(eval, to: &lines!) { lines = nil } else { lines!.append(0x0A) }
        }
        var rows: [UInt8]?
        if preparing.csv {
            rows = []
            rows!.reserveCapacity(sample.evals.count * 160)
            CSVReportWriter.appendRows(for: sample, to: &rows!)
        }
        return Prepared(evalLines: lines, csvRows: rows, junit: preparing.junit ? JUnitReportWriter.prepare(sample) : nil)
    }

    /// Adds one sample with outputs made by `prepare` (`nil`: made here), in results order.
    public func add(_ sample: SampleEvaluation, prepared: Prepared?) throws {
        if let run = sample.run { aggregate.add(run, evals: sample.evals) } else { sample.evals.forEach { aggregate.add($0) } }
        if let lines = prepared?.evalLines {
            try writer?.write(lines: lines)
            if comparison != nil { for eval in sample.evals { comparison?.addCandidate(eval) } }
        } else {
            for eval in sample.evals {
                try writer?.write(eval)
                comparison?.addCandidate(eval)
            }
        }
        try reports.add(sample, csvRows: prepared?.csvRows, junit: prepared?.junit)
    }

    /// What `PreparedBatch` should make for this output now: `preparing`, the empty aggregate
    /// (the metrics listed) and how many samples the reports still keep. Taken when a batch is
    /// handed to its task; the reports only ever want fewer later, so the batch keeps enough.
    public var batchPreparing: BatchPreparing {
        let wanted = reports.wanted
        return BatchPreparing(
            preparing: preparing, aggregate: emptyAggregate, keepFailing: wanted.failing, keepPassing: wanted.passing,
            keepsEvery: comparison != nil)
    }

    /// Adds a batch of samples made by `PreparedBatch.append` (batches in results order): the same
    /// files as `add(_:)` of each of its samples in order.
    public func add(_ batch: PreparedBatch) throws {
        if let failure = batch.failure { throw failure }
        aggregate.merge(batch.aggregate)
        // `batchPreparing` asks for the lines exactly when there is a writer.
        try writer?.write(lines: batch.evalLines)
        if comparison != nil { for sample in batch.kept { for eval in sample.evals { comparison?.addCandidate(eval) } } }
        try reports.add(count: batch.count, csvRows: batch.csvRows, junit: batch.junit, kept: batch.kept)
    }

    /// The aggregate before any sample: the job's metrics listed, its run gate (where a sharded
    /// run's workers start theirs, `ReportPieceWriter`).
    public var startingAggregate: EvalAggregate { emptyAggregate }

    /// Adds every sample of a sharded run from its workers' pieces, put together (`assembly`):
    /// merges their aggregate, writes `results.csv` and `junit.xml` from their bytes, and counts
    /// each sample's outcome for `report.md` and `report.html`, asking `sample` for the whole
    /// sample at a dataset index only when one of them shows it. The same files as `add(_:)` of
    /// each sample in order. For an output made with `assemblesRows`, writing no `evals.jsonl` and
    /// comparing with no baseline, to which nothing was added yet.
    public func add(_ assembly: ReportPieceAssembly, sample: (Int) throws -> SampleEvaluation) throws {
        guard takesPieces else {
            throw ChatbotTesterError(.internal, "report pieces go to a fresh output that assembles its rows and writes no evaluations")
        }
        aggregate.merge(assembly.aggregate)
        if reports.options.formats.contains(.csv) { try assembly.writeCSV(to: directory.appendingPathComponent(ReportOptions.Format.csv.fileName)) }
        if reports.options.formats.contains(.junit) {
            try assembly.writeJUnit(to: directory.appendingPathComponent(ReportOptions.Format.junit.fileName), name: reports.options.title)
        }
        let shownPassing = shownPassing(in: assembly)
        try assembly.forEachOutcome { index, outcome in try reports.add(outcome: outcome, shownPassing: shownPassing) { try sample(index) } }
    }

    /// Whether this output can take a sharded run's pieces (`add(_:sample:)`): made with
    /// `assemblesRows`, writing no `evals.jsonl`, comparing with no baseline, nothing added yet —
    /// what another output of the same job, made with `init(assemblingPiecesIn:…)`, also writes.
    public var takesPieces: Bool { writer == nil && comparison == nil && reports.assemblesRows && reports.count == 0 }

    /// How many passing samples of `assembly` `report.html` shows. Every outcome is known: it shows
    /// the samples not passing first, so of the passing ones only those it has room for after them
    /// are read.
    private func shownPassing(in assembly: ReportPieceAssembly) -> Int {
        var notPassing = 0
        assembly.forEachOutcome { _, outcome in if outcome != .passed { notPassing += 1 } }
        return max(0, reports.options.htmlSampleCap - notPassing)
    }

    /// The dataset indexes of the samples `add(_:sample:)` of `assembly` asks for (those
    /// `report.md` and `report.html` show), in the order it asks: what a coordinator hands the
    /// worker that makes the reports in its stead, so that it reads only those.
    public func samplesShown(by assembly: ReportPieceAssembly) -> [Int] {
        let shownPassing = shownPassing(in: assembly)
        var kept = EvalReportWriter.KeptCounts(), indexes: [Int] = []
        assembly.forEachOutcome { index, outcome in
            let keeps = reports.keeps(outcome, shownPassing: shownPassing, kept: &kept)
            if keeps.markdown || keeps.html { indexes.append(index) }
        }
        return indexes
    }

    /// The names of the report files `finish()` leaves in the directory (`evals.jsonl` aside).
    public var reportFileNames: [String] { reports.options.formats.map(\.fileName).sorted() }

    /// The summary `add(_:sample:)` of `assembly` and then `finish()` return, without writing
    /// anything: what a coordinator whose worker made the reports reports itself.
    public func summary(of assembly: ReportPieceAssembly) -> EvalSummary {
        var aggregate = aggregate
        aggregate.merge(assembly.aggregate)
        return EvalSummary(aggregate: aggregate, rejectedLines: rejectedLines)
    }

    /// Closes `evals.jsonl` (fsync'd) and writes the remaining reports; returns the summary and
    /// the comparison, when a baseline was given.
    public func finish() throws -> (summary: EvalSummary, comparison: RunComparison?) {
        try writer?.close()
        let compared = comparison.map {
            var builder = $0
            return builder.finish(
                baselineLabel: baselineEvals!.deletingLastPathComponent().lastPathComponent, candidateLabel: directory.lastPathComponent)
        }
        let summary = try reports.finish(aggregate: aggregate, rejectedLines: rejectedLines, comparison: compared)
        return (summary, compared)
    }

    /// Closes `evals.jsonl` without writing reports (an evaluation abandoned half way).
    public func abandon() {
        try? writer?.close()
    }
}
