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
    ///   - line: the journal line's bytes (the record's JSON, its sample in place; no newline).
    ///   - index: the sample's dataset index.
    ///   - run: where the record's `run` value is in `line` (offsets from `line.startIndex`), when
    ///     the coordinator knows it (nil: the sink finds it, off the coordinator's actor).
    ///   - evals: where the record's `evals` array is in `line` (offsets from `line.startIndex`),
    ///     when known.
    ///   - reportPart: the report part its worker sent (`ClusterReportPart`, checked against the
    ///     record), when there is one.
    func journaled(line: Data, index: Int, run: Range<Int>?, evals: Range<Int>?, reportPart: Data?)
}
