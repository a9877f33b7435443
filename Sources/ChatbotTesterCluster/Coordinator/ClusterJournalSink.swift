import Foundation

/// Sees every record a coordinator journals, as it is journaled: what lets a sharded `test` write
/// its outputs while the run plays instead of merging the journal at the end (the pipeline's
/// streamed cluster output).
///
/// The coordinator calls it on its own actor, right after the record's line was appended to the
/// journal, once per journaled record (each sample at most once per session: duplicates are
/// dropped before they are journaled). It must be cheap and must not block: keep the bytes and
/// do the work elsewhere. The journal stays the truth: a sink never holds the only copy.
public protocol ClusterJournalSink: AnyObject, Sendable {
    /// A record was journaled.
    /// - Parameters:
    ///   - line: the record's bytes as its worker sent them (no newline). When `sample` is given,
    ///     the journal line is `line` with `line[sampleRange]` (offsets from `line.startIndex`)
    ///     replaced by `sample`: the coordinator does not build that line, a sink copies the pieces.
    ///   - sample: the sample's JSON the coordinator put back in place of `line[sampleRange]`
    ///     (the value of `run.sample`), or nil when `line` is the journal line as it is.
    ///   - sampleRange: where `run.sample`'s value is in `line`.
    ///   - index: the sample's dataset index.
    ///   - run: where the record's `run` value is in `line` (offsets from `line.startIndex`, before
    ///     the sample is put back), when the coordinator knows it (nil: the sink finds it, off the
    ///     coordinator's actor).
    ///   - evals: where the record's `evals` array is in `line` (as `run`), when known.
    ///   - evalElements: where each evaluation of `evals` is in `line` (as `run`), when known
    ///     (checked: they fill the array); nil: the sink finds them.
    ///   - reportPart: the report part its worker sent (`ClusterReportPart`, checked against the
    ///     record), when there is one.
    func journaled(
        line: Data, sample: Data?, sampleRange: Range<Int>, index: Int, run: Range<Int>?, evals: Range<Int>?, evalElements: [Range<Int>]?,
        reportPart: Data?)

    /// The journal holds, or may hold, a line this sink will not see: a worker that appends its
    /// records itself (`ClusterCoordinator.Options.recordsJournaledByWorkers`) wrote one the
    /// coordinator refused or dropped as a duplicate, or was lost with lines it may have written
    /// and not reported. The sink must give up (what it writes would differ from a merge of the
    /// journal); the merge writes everything. Called on the coordinator's actor; must not block.
    func discard(_ reason: String)
}

/// A journal sink whose `results.jsonl` and `evals.jsonl` lines the workers write (protocol 11),
/// so that the coordinator never copies them: it keeps only where each record's lines go
/// (`ClusterLinePlaces`) and asks each worker to write its records' lines there from the journal
/// lines it appended (`writeLines`: the dataset's complete prefix while the run plays, the rest at
/// its end, when the files take their final size), then syncs the files and says how it went
/// (`linesWritten(failure:)`) before the run returns.
///
/// The sink then writes neither file itself; it writes the rest (the reports) as records are
/// journaled. Whenever the workers cannot write every line — a record the coordinator journaled
/// itself, a worker lost or failing, a run interrupted or stopped with samples in flight — the
/// sink is told why and gives up, and the merge writes the files from the journal.
public protocol ClusterWorkerWrittenLines: ClusterJournalSink {
    /// Where the lines go: `results.jsonl`, and `evals.jsonl` when the run is scored (nil: none).
    var lineFiles: (results: URL, evals: URL?) { get }
    /// The end of the coordinator's write phase: nil when every line was written and synced,
    /// else why not. Called once, on the coordinator's actor, before its run returns; a run that
    /// fails before its end does not call it.
    func linesWritten(failure: String?)
    /// The coordinator has asked the workers for the lines of the run's `records` records (its
    /// write phase started): no record comes after this, and `linesWritten(failure:)` follows once
    /// they are written. The sink may finish meanwhile what does not read those files (the
    /// reports). Called at most once, on the coordinator's actor; must not block.
    func linesOrdered(records: Int)

    /// Whether the workers make the reports' pieces of the records they write (protocol 12): the
    /// coordinator then asks for them with every `writeLines` order (`piecesFile()`) and hands each
    /// answer's summary to `piecesWritten(_:path:)`. Read once, when the coordinator starts.
    var wantsReportPieces: Bool { get }
    /// A fresh, empty file for one order's pieces, which a worker writes (nil: the order asks
    /// for none). Called on the coordinator's actor; must not block for long.
    func piecesFile() -> String?
    /// A worker's summary of the pieces it wrote into `path` (its answer to one order). Called on
    /// the coordinator's actor; must not block.
    func piecesWritten(_ summary: Data, path: String)
    /// As `linesOrdered(records:)`, with where each record's line is in the journal at `journal`
    /// (`places`), for a sink that reads some of them back (the samples the reports keep).
    func linesOrdered(records: Int, places: ClusterLinePlaces, journal: URL)
    /// Once every line is written (`linesWritten(failure: nil)`) and the workers made the reports'
    /// pieces: what one of them should do to put the pieces together into the reports in this
    /// sink's stead (protocol 13: `makeReports`, carried out by the run's `ClusterReportPieceMaker`),
    /// or nil when the sink makes them itself. Called at most once, on the coordinator's actor.
    func reportsOrder() -> Data?
    /// How the worker sent `reportsOrder()`'s order did: nil when it made the reports, else why not
    /// (the sink then makes them itself). Called once after an order was sent, on the
    /// coordinator's actor, before its run returns; must not block.
    func reportsMade(failure: String?)
}

extension ClusterWorkerWrittenLines {
    /// Does nothing: a sink that finishes everything at the end needs no notice.
    public func linesOrdered(records: Int) {}
    /// No pieces: the sink reads each record's report part.
    public var wantsReportPieces: Bool { false }
    public func piecesFile() -> String? { nil }
    public func piecesWritten(_ summary: Data, path: String) {}
    /// `linesOrdered(records:)`.
    public func linesOrdered(records: Int, places: ClusterLinePlaces, journal: URL) { linesOrdered(records: records) }
    /// None: the sink makes its reports itself.
    public func reportsOrder() -> Data? { nil }
    public func reportsMade(failure: String?) {}
}
