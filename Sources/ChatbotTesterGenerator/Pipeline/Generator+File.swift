import ChatbotTesterCore
import Foundation

extension Generator {
    /// Streams the samples into a JSONL dataset and returns the report.
    ///
    /// With `resume`, an existing file is kept: a torn last line (from a crash) is cut off, samples
    /// whose id is already there are skipped, model-backed units already written are not requested
    /// again, and new samples are appended. Without it the file is replaced.
    ///
    /// Lines are flushed after each model-backed sample and every `flushEvery` others, so a crash
    /// loses little; the file is fsynced at the end.
    @discardableResult
    public func write(to url: URL, resume: Bool = false, flushEvery: Int = 256) async throws -> GenerationReport {
        var state = ResumeState()
        if resume {
            try Self.cutTornTail(of: url)
            state = try await ResumeState.load(from: url)
        }
        // A generator model may quote a key it was sent: the cases are masked like every record.
        let writer = try JSONLWriter(url: url, append: resume, masker: .shared)
        var sinceFlush = 0
        do {
            for try await sample in samples(resume: state) {
                try writer.write(sample)
                sinceFlush += 1
                if sample.metadata["generationUnit"] != nil || sinceFlush >= flushEvery {
                    try writer.flush()
                    sinceFlush = 0
                }
            }
        } catch {
            try? writer.close()
            throw error
        }
        try writer.close()
        return report
    }

    /// Truncates a file after its last newline (a line cut short by a crash is dropped).
    static func cutTornTail(of url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        do {
            let handle = try FileHandle(forUpdating: url)
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            guard size > 0 else { return }
            var end = size
            let block: UInt64 = 4096
            while end > 0 {
                let start = end > block ? end - block : 0
                try handle.seek(toOffset: start)
                let data = try handle.read(upToCount: Int(end - start)) ?? Data()
                if let newline = data.lastIndex(of: 0x0A) {
                    let keep = start + UInt64(newline - data.startIndex) + 1
                    if keep < size { try handle.truncate(atOffset: keep) }
                    return
                }
                end = start
            }
            try handle.truncate(atOffset: 0)
        } catch {
            throw ChatbotTesterError(.io, "cannot repair \(url.path) for resuming", location: SourceLocation(source: url.path), cause: error)
        }
    }
}
