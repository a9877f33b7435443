import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterPipeline
import ChatbotTesterRunner
import Foundation

/// A `--resume` continues a run whichever way it was played: the records journaled one way are
/// taken into the other way's journal before the run plays (`JobRunStage.adoptRunState`).
extension ShardedRunStage {
    /// A run played in one process, resumed over workers: its records (each case once, by the
    /// record-key rule, with the evaluations journaled for it) become the lines of the spool's
    /// journal, written beside it, made durable and renamed into place; the spool itself is then
    /// written from the dataset, keeping that journal, as for a run stopped while it spooled — and
    /// each line is checked against the manifest's id at its index. Then the one-process journals
    /// are removed. A record of a scored run whose evaluations were not journaled (a crash between
    /// the two journals) is left out: its case plays again.
    public func adoptRunState(playedTheOtherWay job: TestJob) async throws -> Bool {
        let spoolURL = spool ?? job.output("spool")
        let journal = spoolURL.appendingPathComponent("journal.jsonl")
        guard !ClusterSpool.exists(at: spoolURL), !FileManager.default.fileExists(atPath: journal.path) else {
            throw ChatbotTesterError(
                .invalidInput,
                "the output directory holds the records of a run played in one process (\(RunJournal.defaultKey)) and the spool \(spoolURL.path) holds another's: run it again without --resume, or remove the one not to continue",
                location: SourceLocation(source: spoolURL.path))
        }
        try FileManager.default.createDirectory(at: spoolURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let scored = FileManager.default.fileExists(atPath: job.output(TestJob.evalJournalKey).path)
        let adopting = spoolURL.appendingPathComponent("journal.jsonl.adopting")
        let writer = try JSONLWriter(url: adopting, bufferLimit: 1 << 18)
        // The journal's own mode (`FileJournal`): the records may hold what the bot said.
        chmod(adopting.path, 0o600)
        do {
            try await job.inProcessRecords { record in
                guard record.evals != nil || !scored else { return }
                let line = try ClusterRecord(sampleId: record.run.sampleId, index: record.index, run: record.run, evals: record.evals ?? [])
                    .wireBytes(omittingSample: false)
                try line.withUnsafeBytes { try writer.write(lines: Array($0) + [0x0A]) }
            }
            try writer.close()
        } catch {
            try? writer.close()
            try? FileManager.default.removeItem(at: adopting)
            throw error
        }
        guard rename(adopting.path, journal.path) == 0 else {
            throw ChatbotTesterError(.io, "cannot rename \(adopting.path)", location: SourceLocation(source: adopting.path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }
        for name in TestJob.inProcessRunState where FileManager.default.fileExists(atPath: job.output(name).path) {
            try FileManager.default.removeItem(at: job.output(name))
        }
        return true
    }

    /// A run played over workers, resumed in one process (`LocalRunStage(adoptingShardedRun:)`):
    /// the records of `<out>/spool/journal.jsonl`, in journal order, become the lines of the
    /// one-process journals (`TestJob.writeInProcessJournals`), where the resume applies the
    /// record-key rule and checks each line against the dataset; a line that cannot be read is
    /// left out (its case plays again). Then the spool and the workers' event logs are removed.
    @Sendable public static func adoptIntoThisProcess(_ job: TestJob) async throws {
        let journal = job.output(TestJob.shardedJournalKey)
        try await job.writeInProcessJournals { add in
            guard FileManager.default.fileExists(atPath: journal.path) else { return }
            let decoder = JSONCoding.decoder()
            for try await (_, bytes) in JSONL.lines(of: journal, includeUnterminated: false, maxLineBytes: nil) {
                guard let record = try? ClusterRecord.decode(journalLine: bytes, decoder: decoder), record.run.sampleId == record.sampleId
                else { continue }
                try await add(JournaledRecord(index: record.index, run: record.run, evals: record.evals))
            }
        }
        for name in TestJob.shardedRunState where FileManager.default.fileExists(atPath: job.output(name).path) {
            try FileManager.default.removeItem(at: job.output(name))
        }
    }
}
