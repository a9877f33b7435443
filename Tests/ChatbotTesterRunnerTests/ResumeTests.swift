import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@Suite struct ResumeTests {
    /// A backend that answers after a short, cancellable pause, so some samples are in flight when
    /// the run is interrupted.
    private func slowBackend() -> RecordingBackend {
        RecordingBackend { request, _ in
            try await Task.sleep(for: .milliseconds(2))
            return ChatResponse(content: "answer to \(request.tags["sampleId"]!)", costUSD: 0.001)
        }
    }

    @Test func interruptedRunResumesToExactlyTheIdsOfAnUninterruptedRun() async throws {
        let input = samples(120)

        // Reference: an uninterrupted run.
        let reference = try temporaryStore()
        let full = Runner(
            target: slowBackend(), targetName: "bot", options: RunnerOptions(concurrency: 6),
            journal: RunJournal(store: reference))
        let fullSummary = try await full.run(SampleSequence(input)).finish()
        #expect(fullSummary.ok == 120)
        try await ResultsWriter.write(store: reference)
        let referenceIDs = try await resultRecords(reference).map(\.sampleId)
        #expect(referenceIDs == input.map(\.id))

        // Interrupted: the consuming task is cancelled after 30 records.
        let store = try temporaryStore()
        let runner = Runner(
            target: slowBackend(), targetName: "bot", options: RunnerOptions(concurrency: 6, syncEvery: 1000),
            journal: RunJournal(store: store))
        let execution = runner.run(SampleSequence(input))
        let consumer = Task {
            var seen: [String] = []
            for try await record in execution {
                seen.append(record.sampleId)
                if seen.count == 30 { withUnsafeCurrentTask { $0?.cancel() } }
            }
            return seen
        }
        let consumed = try await consumer.value
        let interrupted = await execution.summary
        #expect(interrupted.stopReason == .cancelled)
        #expect(consumed.count == 30)
        let journaled = try await journaledIDs(store)
        // Everything handed to the consumer was journaled first; nothing cancelled was journaled.
        #expect(Set(consumed).isSubset(of: Set(journaled)))
        #expect(journaled.count == interrupted.statistics.recorded)
        #expect(journaled.count < 120)
        #expect(Set(journaled).count == journaled.count)

        // A crash tears the last line: simulate a partial write after the synced journal.
        let url = try store.url(for: RunJournal.defaultKey)
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"index":119,"record":{"sampleId":"s119","sta"#.utf8))
        try handle.close()

        // Resume: only the rest is played; every id is journaled exactly once.
        let resumedBackend = slowBackend()
        let resumedRunner = Runner(
            target: resumedBackend, targetName: "bot", options: RunnerOptions(concurrency: 6),
            journal: RunJournal(store: store))
        let resumed = try await resumedRunner.run(SampleSequence(input), resume: true).finish()
        #expect(resumed.stopReason == .completed)
        #expect(resumed.resumed == journaled.count)
        #expect(resumed.skipped == journaled.count)
        #expect(resumed.played == 120 - journaled.count)
        #expect(resumedBackend.requests.count == 120 - journaled.count)
        #expect(resumed.ok == 120)
        #expect(abs(resumed.costUSD - fullSummary.costUSD) < 1e-9)
        let all = try await journaledIDs(store)
        #expect(all.count == 120)
        #expect(Set(all) == Set(input.map(\.id)))

        // Results: the same ids as the uninterrupted run, in dataset order, each once.
        let report = try await ResultsWriter.write(store: store)
        #expect(report.records == 120 && report.duplicates == 0 && report.malformed == 0)
        #expect(try await resultRecords(store).map(\.sampleId) == referenceIDs)

        // Resuming a finished run plays nothing and writes nothing.
        let again = try await resumedRunner.run(SampleSequence(input), resume: true).finish()
        #expect(again.played == 0 && again.skipped == 120 && again.ok == 120)
        #expect(try await journaledIDs(store).count == 120)
    }

    @Test func leavingTheLoopEarlyCancelsAndKeepsJournaledRecords() async throws {
        let store = try temporaryStore()
        let runner = Runner(
            target: slowBackend(), targetName: "bot", options: RunnerOptions(concurrency: 4), journal: RunJournal(store: store))
        let execution = runner.run(SampleSequence(samples(200)))
        var consumed: [String] = []
        for try await record in execution {
            consumed.append(record.sampleId)
            if consumed.count == 10 { break }
        }
        let summary = await execution.summary
        #expect(summary.stopReason == .cancelled)
        let journaled = try await journaledIDs(store)
        #expect(Set(consumed).isSubset(of: Set(journaled)))
        #expect(journaled.count == summary.statistics.recorded)
        let scan = try await RunJournal(store: store).scan()
        #expect(scan.statistics.error == 0)
    }

    @Test func malformedJournalLinesAreSkippedAndReported() async throws {
        let store = try temporaryStore()
        let runner = Runner(target: RecordingBackend(), targetName: "bot", journal: RunJournal(store: store))
        _ = try await runner.run(SampleSequence(samples(5))).finish()
        let url = try store.url(for: RunJournal.defaultKey)
        var text = try String(contentsOf: url, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines[2] = "not json at all"
        text = lines.joined(separator: "\n")
        try text.write(to: url, atomically: true, encoding: .utf8)

        let scan = try await RunJournal(store: store).scan()
        #expect(scan.malformedCount == 1 && scan.malformedLines == [3])
        #expect(scan.completedIDs.count == 4)

        let recorder = EventRecorder()
        let bus = EventBus()
        bus.subscribe(recorder)
        let backend = RecordingBackend()
        let resumed = try await Runner(target: backend, targetName: "bot", events: bus, journal: RunJournal(store: store))
            .run(SampleSequence(samples(5)), resume: true).finish()
        await bus.shutdown()
        #expect(backend.requests.count == 1)
        #expect(resumed.ok == 5)
        #expect(recorder.events(RunJournalMalformedEvent.self).first?.count == 1)
        let report = try await ResultsWriter.write(store: store)
        #expect(report.records == 5 && report.malformed == 1)
        #expect(try await resultRecords(store).map(\.sampleId) == samples(5).map(\.id))
    }

    @Test func resultsAreWrittenInDatasetOrderThroughSpilledChunks() async throws {
        let store = try temporaryStore()
        let backend = RecordingBackend { request, _ in
            let id = Int(request.tags["sampleId"]!.dropFirst())!
            for _ in 0..<(id % 7) * 5 { await Task.yield() }
            return ChatResponse(content: "ok")
        }
        let runner = Runner(
            target: backend, targetName: "bot", options: RunnerOptions(concurrency: 8), journal: RunJournal(store: store))
        _ = try await runner.run(SampleSequence(samples(100))).finish()
        let report = try await ResultsWriter.write(store: store, chunkSize: 7)
        #expect(report.spilledChunks == 15)
        #expect(report.records == 100)
        #expect(try await resultRecords(store).map(\.sampleId) == samples(100).map(\.id))
        #expect(try await store.list(prefix: "results.jsonl.sort/").isEmpty)
    }

    @Test func aFreshRunReplacesAnOldJournal() async throws {
        let store = try temporaryStore()
        let runner = Runner(target: RecordingBackend(), targetName: "bot", journal: RunJournal(store: store))
        _ = try await runner.run(SampleSequence(samples(5))).finish()
        _ = try await runner.run(SampleSequence(samples(3, prefix: "t"))).finish()
        #expect(try await journaledIDs(store).sorted() == ["t0", "t1", "t2"])
    }

    @Test func budgetCountsWhatEarlierSessionsSpent() async throws {
        let store = try temporaryStore()
        let backend = RecordingBackend { _, _ in ChatResponse(content: "ok", costUSD: 0.25) }
        let options = RunnerOptions(concurrency: 1, budgetUSD: 1.0)
        let first = try await Runner(target: backend, targetName: "bot", options: options, journal: RunJournal(store: store))
            .run(SampleSequence(samples(10))).finish()
        #expect(first.stopReason == .budgetExceeded && first.ok == 4)
        let second = try await Runner(target: backend, targetName: "bot", options: options, journal: RunJournal(store: store))
            .run(SampleSequence(samples(10)), resume: true).finish()
        #expect(second.stopReason == .budgetExceeded)
        #expect(second.played == 0)
        #expect(backend.requests.count == 4)
    }
    /// A journal checked against its input (`RunJournal.input`): a line whose id is not the input's
    /// case at its position — edited by hand, moved, or past the input's end — counts as not
    /// journaled (a warning names its line), its case plays again, and `ResultsWriter` given the
    /// same ids leaves it out; without the input both would take it.
    @Test func aResumeCheckedAgainstItsInputSkipsLinesOfOtherCases() async throws {
        let store = try temporaryStore()
        let input = samples(6)
        _ = try await Runner(target: RecordingBackend(), targetName: "bot", journal: RunJournal(store: store)).run(SampleSequence(input)).finish()
        let url = try store.url(for: RunJournal.defaultKey)
        var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        let s0 = try #require(lines.firstIndex { $0.hasPrefix(#"{"index":0,"#) })
        let s1 = try #require(lines.firstIndex { $0.hasPrefix(#"{"index":1,"#) })
        lines[s0] = lines[s0].replacingOccurrences(of: #""s0""#, with: #""z0""#)
        lines.append(lines[s1].replacingOccurrences(of: #"{"index":1,"#, with: #"{"index":4,"#))
        lines.append(lines[s1].replacingOccurrences(of: #"{"index":1,"#, with: #"{"index":9,"#))
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)

        var ids = IDsByPosition()
        for sample in input { ids.append(sample.id) }
        let unchecked = try await RunJournal(store: store).scan()
        #expect(unchecked.completedIDs.contains("z0") && unchecked.foreignCount == 0)
        let scan = try await RunJournal(store: store, input: ids).scan()
        #expect(scan.foreignCount == 3)
        #expect(scan.foreignLines.map(\.line) == [s0 + 1, 7, 8])
        #expect(scan.foreignLines.map(\.sampleId) == ["z0", "s1", "s1"] && scan.foreignLines.map(\.index) == [0, 4, 9])
        #expect(!scan.completedIDs.contains("z0") && !scan.completedIDs.contains("s0") && scan.statistics.recorded == 5)

        let bus = EventBus()
        let recorder = EventRecorder()
        bus.subscribe(recorder)
        let backend = RecordingBackend()
        let resumed = try await Runner(target: backend, targetName: "bot", events: bus, journal: RunJournal(store: store, input: ids))
            .run(SampleSequence(input), resume: true).finish()
        await bus.shutdown()
        #expect(resumed.played == 1 && backend.requests.count == 1 && resumed.resumed == 5)
        let warnings = recorder.events(LogEvent.self).filter { $0.level == .warning }.map { "\($0.source ?? ""): \($0.message)" }
        #expect(warnings.count == 3)
        #expect(warnings.first?.hasPrefix("\(RunJournal.defaultKey):\(s0 + 1): journal line \(s0 + 1) holds case 'z0'") == true, "\(warnings)")
        let report = try await ResultsWriter.write(store: store, input: ids)
        #expect(report.foreign == 3 && report.records == 6)
        #expect(try await resultRecords(store).map(\.sampleId) == input.map(\.id))
    }
}
