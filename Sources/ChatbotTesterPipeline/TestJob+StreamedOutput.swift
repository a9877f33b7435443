import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterRunner
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `results.jsonl`, `evals.jsonl` and every report of a fresh scored `test` run, written while the
/// run plays, from the Runner's records as they are scored: nothing is read back at the end.
///
/// A record is added as soon as every record before it in dataset order has been. Records finish
/// nearly in order (at most `concurrency` are in flight), so the few that overtake wait in a
/// buffer of at most `limit` records. The files are written into a private directory inside the
/// output directory and moved into place when the run ends. When that cannot give the files the
/// journals would (the buffer would outgrow its bound because one case is far slower than those
/// after it, a write fails, the run is interrupted or fails), the directory is dropped
/// (`abandon`) and the final pass writes everything from the journals, as before.
final class StreamedTestOutput {
    /// The private directory's name inside the output directory.
    static let directoryName = StreamedOutputDirectory.name

    private let directory: URL
    private let target: URL
    private let output: EvaluationOutput
    private let results: JSONLWriter
    private let preparing: EvaluationOutput.Preparing
    /// Records that finished before one at an earlier position (by input position).
    private var waiting: ReorderBuffer<Waiting>
    /// Records written so far.
    private(set) var added = 0
    /// Set once this output cannot be used (the journals are then read instead).
    private(set) var isAbandoned = false

    private struct Waiting {
        var record: [UInt8]
        var sample: SampleEvaluation
    }

    /// Opens the files in `<output>/.streamed-output/` (a leftover one is removed first).
    /// - Parameter limit: the most records waiting for an earlier one before giving up.
    init(job: TestJob, limit: Int) async throws {
        target = job.outputDirectory
        directory = try StreamedOutputDirectory.create(in: job.outputDirectory)
        waiting = ReorderBuffer(limit: limit)
        results = try JSONLWriter(url: directory.appendingPathComponent("results.jsonl"), bufferLimit: 1 << 18)
        output = try await job.evaluationOutput(in: directory)
        preparing = output.preparing
    }

    /// Adds a scored record at input position `index`; `journalLine` is its journal line when known
    /// (its record bytes are what `results.jsonl` holds).
    func add(index: Int, journalLine: Data?, sample: SampleEvaluation) {
        guard !isAbandoned else { return }
        guard let run = sample.run, let record = Self.recordBytes(journalLine, run: run, index: index),
            waiting.insert(Waiting(record: record, sample: sample), at: index) == .accepted
        else { return abandon() }
        while let ready = waiting.popNext() { write(ready.record, ready.sample) }
    }

    private func write(_ record: [UInt8], _ sample: SampleEvaluation) {
        guard !isAbandoned else { return }
        do {
            var line = record
            line.append(0x0A)
            try results.write(lines: line)
            try output.add(sample, prepared: EvaluationOutput.prepare(sample, for: preparing))
            added += 1
        } catch {
            abandon()
        }
    }

    /// The record's JSON as the journal holds it: sliced from its journal line, or encoded again.
    static func recordBytes(_ journalLine: Data?, run: RunRecord, index: Int) -> [UInt8]? {
        guard let line = journalLine ?? (try? JournalLine.encode(run, index: index)) else { return nil }
        return JournalLine.recordBytes(of: line, index: index)
    }

    /// Writes what still waits (a run that stopped early leaves gaps), closes every file and moves
    /// them into the output directory. Returns nil, moving nothing, when this output was abandoned
    /// or does not hold exactly `expected` records (the run's recorded count).
    func finish(expected: Int) throws -> EvalSummary? {
        guard !isAbandoned else { return nil }
        while let (_, entry) = waiting.popFirstWaiting() { write(entry.record, entry.sample) }
        guard !isAbandoned, added == expected else {
            abandon()
            return nil
        }
        let summary: EvalSummary
        do {
            try results.close()
            summary = try output.finish().summary
        } catch {
            abandon()
            return nil
        }
        try StreamedOutputDirectory.moveFiles(of: directory, into: target)
        return summary
    }

    /// Gives up: closes and removes the private directory (the final pass writes everything).
    func abandon() {
        guard !isAbandoned else { return }
        isAbandoned = true
        waiting.removeAll()
        try? results.close()
        output.abandon()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension StreamedTestOutput {
    /// The waiting bound for a run of `concurrency`: a record may be overtaken by many times the
    /// records in flight before the streamed output gives up (a few MB at most).
    static func waitingLimit(concurrency: Int) -> Int {
        StreamedOutputDirectory.waitingLimit(concurrency: concurrency)
    }

    /// Removes the private directory a crashed session may have left in `outputDirectory`.
    static func removeLeftover(in outputDirectory: URL) {
        StreamedOutputDirectory.removeLeftover(in: outputDirectory)
    }
}
