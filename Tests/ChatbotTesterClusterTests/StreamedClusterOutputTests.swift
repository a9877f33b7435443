import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster
@testable import ChatbotTesterClusterPipeline

/// A fresh sharded `test` writes `results.jsonl`, `evals.jsonl` and every report while the run
/// plays, from each record as the coordinator journals it (`StreamedClusterOutput`): the files the
/// merge pass writes from the same journal, byte for byte. Whatever it cannot give exactly (a
/// resume, records that overtake too many others, a sample twice, a record without its report
/// part) leaves the merge pass to write them, as before.
@Suite(.serialized) struct StreamedClusterOutputTests {
    static let reportNames = ["summary.json", "results.csv", "junit.xml", "report.md", "report.html"]

    /// The quickstart job over `count` cases (the quickstart's, repeated with fresh ids), its bot
    /// answering after `latencyMs`.
    static func config(in directory: URL, count: Int, latencyMs: Int = 0) throws -> JobConfig {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let source = PipelineClusterTests.quickstart.deletingLastPathComponent().appendingPathComponent("data/quickstart.jsonl")
        let cases = try String(contentsOf: source, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        var lines: [String] = []
        for index in 0..<count {
            guard case .object(var object) = cases[index % cases.count] else { continue }
            object["id"] = .string("case-\(index)")
            lines.append(String(decoding: try JSONCoding.encoder().encode(JSONValue.object(object)), as: UTF8.self))
        }
        let dataset = directory.appendingPathComponent("cases.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: dataset, atomically: true, encoding: .utf8)
        let text = try String(contentsOf: PipelineClusterTests.quickstart, encoding: .utf8)
            .replacingOccurrences(of: "dataset: data/quickstart.jsonl", with: "dataset: \(dataset.path)")
            .replacingOccurrences(of: "  bot:\n    type: scripted\n", with: "  bot:\n    type: scripted\n    latencyMs: \(latencyMs)\n")
        let url = directory.appendingPathComponent("job.yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return try JobConfig.load(contentsOf: url)
    }

    static func stage(workers: Int = 2) -> ShardedRunStage {
        ShardedRunStage(workers: workers, workerCommand: .init(executable: ClusterTestSupport.hostPath, arguments: ["worker"]), samplesPerShard: 16)
    }

    /// What the run said about how its outputs were written: the streamed message, or the merge's
    /// with its reason; nil when neither was said (no streamed output was tried).
    static func outputMessages(_ recorder: RecordingEventSink) -> [String] {
        recorder.events(of: LogEvent.self).filter { $0.source == ShardedRunStage.outputSource }.map(\.message)
    }

    /// The outputs in `job`'s directory, then those the merge pass writes from the same journal:
    /// equal byte for byte (report.html but for its generation time).
    static func expectMergeGivesTheSameOutputs(_ job: TestJob, _ comment: Comment? = nil) async throws {
        let names = ["results.jsonl", "evals.jsonl"] + reportNames
        let before = try names.map { try Data(contentsOf: job.output($0)) }
        let spool = try ClusterSpool.open(at: job.output("spool"))
        let merged = try await MergePass.run(spool, job: job, scoring: true, reports: true, tallies: false)
        #expect(merged.merged == spool.manifest.sampleCount)
        for (position, name) in names.enumerated() {
            let after = try Data(contentsOf: job.output(name))
            if name == "report.html" {
                let scratch = job.output(".before.html")
                try before[position].write(to: scratch)
                defer { try? FileManager.default.removeItem(at: scratch) }
                #expect(try PipelineClusterTests.report(scratch) == PipelineClusterTests.report(job.output(name)), "\(name)")
            } else {
                #expect(!after.isEmpty && after == before[position], "\(name) differs from the merge's \(comment.map { "\($0)" } ?? "")")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: job.output(StreamedClusterOutput.directoryName).path))
    }

    /// `CHATBOT_TESTER_EARLY_LINE_RECORDS`: a whole number from 0 on, else a config error naming it.
    @Test func theEarlyLineRecordsVariableIsAWholeNumberOrAConfigError() throws {
        let name = ShardedRunStage.earlyLineRecordsVariable
        #expect(try ShardedRunStage.earlyLineRecords(environment: [:]) == nil)
        #expect(try ShardedRunStage.earlyLineRecords(environment: [name: " 0 "]) == 0)
        #expect(try ShardedRunStage.earlyLineRecords(environment: [name: "2048"]) == 2048)
        for bad in ["-1", "many", "1.5", ""] {
            #expect(throws: ChatbotTesterError.self, "\(bad)") { try ShardedRunStage.earlyLineRecords(environment: [name: bad]) }
            do {
                _ = try ShardedRunStage.earlyLineRecords(environment: [name: bad])
            } catch let error as ChatbotTesterError {
                #expect(error.code == .invalidConfig && error.message.contains(name), "\(error)")
            }
        }
    }

    @Test func aFreshShardedTestWritesItsOutputsWhileItPlays() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CT_KEEP"] == nil { try? FileManager.default.removeItem(at: directory) } }
        let config = try Self.config(in: directory, count: 300)
        let recorder = RecordingEventSink()
        let bus = EventBus()
        bus.subscribe(recorder)
        let job = try await TestJob.prepare(
            config: config, components: .builtin(), settings: JobSettings(outputDirectory: directory.appendingPathComponent("out").path), events: bus)
        // A leftover of a crashed session is replaced, never used.
        try FileManager.default.createDirectory(at: job.output(StreamedClusterOutput.directoryName), withIntermediateDirectories: true)
        try Data("stale\n".utf8).write(to: job.output("\(StreamedClusterOutput.directoryName)/results.jsonl"))
        let outcome = try await withTimeout(180) { try await job.test(stage: Self.stage()) }
        await bus.shutdown()
        #expect(outcome.run?.stopReason == .completed && outcome.evaluation != nil)
        // The merge pass did not run: the outputs were written while the run played, and the
        // workers wrote the lines of the records they journaled.
        let messages = Self.outputMessages(recorder)
        #expect(messages.count == 2, "\(messages)")
        #expect(messages.first?.hasPrefix("the workers wrote the lines of 300 records") == true, "\(messages)")
        #expect(messages.last == ShardedRunStage.streamedMessage)
        // The workers made the reports' pieces (protocol 12): the coordinator read no report part,
        // and made none itself; one of them put the pieces together (protocol 13).
        let pieces = recorder.events(of: LogEvent.self).filter { $0.source == ShardedRunStage.reportsSource }.map(\.message)
        #expect(
            pieces.count == 1 && pieces[0].hasPrefix(ShardedRunStage.piecesMessage) && !pieces[0].contains("itself")
                && pieces[0].hasSuffix(ShardedRunStage.reportsByWorkerMessage), "\(pieces)")
        let results = try String(contentsOf: job.output("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(results.count == 300)
        try await Self.expectMergeGivesTheSameOutputs(job)

        // Not streamed (`streamsOutputs: false`): the merge pass writes the same files.
        let merging = {
            var stage = Self.stage()
            stage.streamsOutputs = false
            return stage
        }()
        let other = try await TestJob.prepare(
            config: config, components: .builtin(), settings: JobSettings(outputDirectory: directory.appendingPathComponent("merged").path))
        let mergedOutcome = try await withTimeout(180) { try await other.test(stage: merging) }
        #expect(mergedOutcome.exitStatus == outcome.exitStatus)
        #expect(try PipelineClusterTests.lines(other.output("results.jsonl")) == PipelineClusterTests.lines(job.output("results.jsonl")))
    }

    /// Protocol 13 with workers that will not put the pieces together (`--refuse-reports`): the
    /// worker asked answers with why not, the coordinator makes the reports itself, says so, and the
    /// outputs are still the merge's, byte for byte.
    @Test func workersThatCannotMakeTheReportsLeaveThemToTheCoordinator() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.config(in: directory, count: 120)
        let recorder = RecordingEventSink()
        let bus = EventBus()
        bus.subscribe(recorder)
        let job = try await TestJob.prepare(
            config: config, components: .builtin(), settings: JobSettings(outputDirectory: directory.appendingPathComponent("out").path), events: bus)
        let stage = ShardedRunStage(
            workers: 2, workerCommand: .init(executable: ClusterTestSupport.hostPath, arguments: ["worker", "--refuse-reports"]), samplesPerShard: 16)
        let outcome = try await withTimeout(180) { try await job.test(stage: stage) }
        await bus.shutdown()
        #expect(outcome.run?.stopReason == .completed && outcome.evaluation != nil)
        let warnings = recorder.events(of: LogEvent.self).filter { $0.level == .warning }.map(\.message)
        #expect(
            warnings.contains { $0.hasPrefix("the coordinator makes the reports itself:") && $0.contains("does not make the reports") },
            "\(warnings)")
        let pieces = recorder.events(of: LogEvent.self).filter { $0.source == ShardedRunStage.reportsSource }.map(\.message)
        #expect(pieces.count == 1 && pieces[0].hasSuffix("the coordinator put them together into the reports"), "\(pieces)")
        #expect(Self.outputMessages(recorder).last == ShardedRunStage.streamedMessage)
        try await Self.expectMergeGivesTheSameOutputs(job)
    }

    /// A worker killed mid-run: its samples are played again by the others and journaled after
    /// records of later samples. The streamed output waits for them (or, past its bound, leaves
    /// the merge to write the files); either way the outputs are the merge's, each sample once.
    @Test func aWorkerKilledMidRunGivesTheMergedOutputs() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CT_KEEP"] == nil { try? FileManager.default.removeItem(at: directory) } }
        let config = try Self.config(in: directory, count: 240, latencyMs: 25)
        let recorder = RecordingEventSink()
        let pids = Locked<[String: Int]>([:])
        let killed = Locked(false)
        let killer = RecordingClusterSink { event in
            switch event {
            case .workerJoined(let id, let pid): pids.withLock { $0[id] = pid }
            case .progress(let id, _, let completed, _, _):
                guard completed >= 40, !killed.current, let pid = pids.withLock({ $0.removeValue(forKey: id) }) else { return }
                killed.withLock { $0 = true }
                kill(pid_t(pid), SIGKILL)
            default: break
            }
        }
        let bus = EventBus()
        bus.subscribe(recorder)
        bus.subscribe(killer)
        let job = try await TestJob.prepare(
            config: config, components: .builtin(), settings: JobSettings(outputDirectory: directory.appendingPathComponent("out").path), events: bus)
        let outcome = try await withTimeout(180) { try await job.test(stage: Self.stage()) }
        await bus.shutdown()
        #expect(killed.current && outcome.run?.stopReason == .completed)
        #expect(killer.events.current.contains { if case .workerLost = $0 { true } else { false } })
        // Streamed, the lines of the killed worker written by the coordinator from the journal (when
        // it reported every line it wrote), or merged from the journal (when it was killed in the
        // middle of a write or before it sent a frame, or the streamed output passed its bound).
        let messages = Self.outputMessages(recorder)
        let streamed = messages.count == 2 && messages[0].hasPrefix("the workers wrote the lines of 240 records") && messages[1] == ShardedRunStage.streamedMessage
        let merged = messages.count == 1 && messages[0].hasPrefix(ShardedRunStage.mergedMessage)
        #expect(streamed || merged, "\(messages)")
        let ids = try PipelineClusterTests.lines(job.output("results.jsonl")).map { line -> String in
            guard case .object(let object) = line, case .object(let sample)? = object["sample"], case .string(let id)? = sample["id"] else { return "?" }
            return id
        }
        #expect(ids == (0..<240).map { "case-\($0)" })
        try await Self.expectMergeGivesTheSameOutputs(job, "after a worker was killed")
    }

    /// A resumed run has records from an earlier session in the journal: no streamed output is
    /// tried (a crashed session's private directory is removed), the merge writes the files.
    @Test func aResumeIsMergedFromTheJournal() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CT_KEEP"] == nil { try? FileManager.default.removeItem(at: directory) } }
        let config = try Self.config(in: directory, count: 60)
        let out = directory.appendingPathComponent("out")
        let first = try await TestJob.prepare(config: config, components: .builtin(), settings: JobSettings(outputDirectory: out.path))
        _ = try await withTimeout(180) { try await first.test(stage: Self.stage()) }
        // A crash after 20 journal lines, leaving its streamed output half written.
        let journalURL = first.output("spool/journal.jsonl")
        let lines = try Data(contentsOf: journalURL).split(separator: 0x0A)
        var cut = Data()
        for line in lines.prefix(20) { cut.append(line); cut.append(0x0A) }
        try cut.write(to: journalURL)
        try FileManager.default.createDirectory(at: first.output(StreamedClusterOutput.directoryName), withIntermediateDirectories: true)
        try Data("half\n".utf8).write(to: first.output("\(StreamedClusterOutput.directoryName)/results.jsonl"))
        let recorder = RecordingEventSink()
        let bus = EventBus()
        bus.subscribe(recorder)
        var settings = JobSettings(outputDirectory: out.path)
        settings.resume = true
        let resumed = try await TestJob.prepare(config: config, components: .builtin(), settings: settings, events: bus)
        let outcome = try await withTimeout(180) { try await resumed.test(stage: Self.stage()) }
        await bus.shutdown()
        #expect(outcome.run?.resumed == 20 && outcome.run?.stopReason == .completed)
        #expect(Self.outputMessages(recorder).isEmpty)
        #expect(try PipelineClusterTests.lines(resumed.output("results.jsonl")).count == 60)
        try await Self.expectMergeGivesTheSameOutputs(resumed, "after a resume")
    }

    /// The workers start while the spool is written: when it cannot be written (a duplicate id),
    /// the run ends with the spool's error and the workers started meanwhile are stopped.
    @Test func aSpoolThatCannotBeWrittenStopsTheWorkersStartedMeanwhile() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = {
            var samples = ClusterTestSupport.samples(40)
            samples[30].id = samples[3].id
            return samples
        }()
        let options = ClusterTestSupport.options(workers: 2, spool: directory.appendingPathComponent("spool"))
        let failure = try await withTimeout(60) { () -> ChatbotTesterError? in
            do {
                _ = try await ClusterRun.run(samples: samples, setup: ClusterTestSupport.setup(), options: options)
                return nil
            } catch {
                return error as? ChatbotTesterError
            }
        }
        #expect(failure?.code == .invalidInput && failure?.message.contains("case-3") == true, "\(String(describing: failure))")
    }

    // MARK: The output alone, fed journal lines

    /// Journal lines of `LeanDataPathTests.records()` with their report parts.
    static func journaled() throws -> [(envelope: ClusterRecordEnvelope, record: ClusterRecord)] {
        try LeanDataPathTests.records().map { plain in
            let record = try ReportPartTests.withPart(plain)
            var envelope = try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: false))
            envelope.reportPart = record.reportPart
            return (envelope, record)
        }
    }

    /// Feeds `envelope` as the coordinator does; with `pieces`, as a record whose sample was left
    /// out (`null`) and the sample put back by the sink (the coordinator never builds the line).
    static func feed(_ output: StreamedClusterOutput, _ envelope: ClusterRecordEnvelope, part: Bool = true, ranges: Bool = true, pieces: Bool = false) {
        var record = envelope, sample: Data?
        if pieces {
            let bytes = envelope.bytes, start = bytes.startIndex, cut = envelope.sampleRange
            sample = Data(bytes[(start + cut.lowerBound)..<(start + cut.upperBound)])
            var omitted = Data(bytes[start..<(start + cut.lowerBound)])
            omitted.append(contentsOf: Array("null".utf8))
            omitted.append(bytes[(start + cut.upperBound)...])
            record = try! ClusterRecordEnvelope(scanning: omitted)
            #expect(record.sampleOmitted)
            #expect(record.splicingSample(sample!).bytes == bytes)
        }
        output.journaled(
            line: record.bytes, sample: sample, sampleRange: record.sampleRange, index: record.index, run: ranges ? record.runRange : nil,
            evals: ranges ? record.evalsRange : nil, evalElements: ranges && sample == nil ? record.evalRanges : nil, reportPart: part ? envelope.reportPart : nil)
    }

    static func job(_ directory: URL) async throws -> TestJob {
        try await TestJob.prepare(
            config: JobConfig.load(contentsOf: PipelineClusterTests.quickstart), components: .builtin(),
            settings: JobSettings(outputDirectory: directory.appendingPathComponent("out").path))
    }

    /// Records fed in any order come out in dataset order: each `run` value a results line and
    /// each evaluation an evals line, the bytes the journal holds.
    @Test func recordsComeOutInDatasetOrder() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = try await Self.job(directory)
        let output = try await StreamedClusterOutput(job: job, scoring: true, limit: 100)
        let journaled = try Self.journaled()
        // Some with where their `run` and `evals` are, some without (found from the line); most
        // in pieces (the sample put back by the sink), some whole.
        for position in [3, 1, 0, 2, 11, 4, 5, 6, 10, 7, 9, 8] {
            Self.feed(output, journaled[position].envelope, ranges: position % 2 == 0, pieces: position % 3 != 0)
        }
        let written = try await output.finish(expected: journaled.count)
        #expect(written?.evaluation != nil && output.abandonReason == nil)
        let encoder = JSONCoding.encoder()
        let results = try String(contentsOf: job.output("results.jsonl"), encoding: .utf8)
        #expect(results == journaled.map { String(decoding: try! encoder.encode($0.record.run), as: UTF8.self) + "\n" }.joined())
        let evals = try String(contentsOf: job.output("evals.jsonl"), encoding: .utf8)
        #expect(evals == journaled.flatMap(\.record.evals).map { String(decoding: try! encoder.encode($0), as: UTF8.self) + "\n" }.joined())
        for name in Self.reportNames { #expect(FileManager.default.fileExists(atPath: job.output(name).path), "\(name)") }
        #expect(!FileManager.default.fileExists(atPath: job.output(StreamedClusterOutput.directoryName).path))
    }

    /// With the workers writing the lines, the reports are finished as soon as the coordinator
    /// has ordered the lines (`linesOrdered`), while they are written: they are in the private
    /// directory before `linesWritten`, and `finish` moves them once the lines went well. A record
    /// that comes after the order, or lines that failed, give the output up.
    @Test func theReportsAreWrittenWhileTheWorkersWriteTheLines() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = try await Self.job(directory)
        let journaled = try Self.journaled()
        let privateDirectory = job.output(StreamedClusterOutput.directoryName)
        let output = try await StreamedClusterOutput(job: job, scoring: true, limit: 100, workersWriteLines: true)
        for position in journaled.indices.reversed() { Self.feed(output, journaled[position].envelope) }
        output.linesOrdered(records: journaled.count)
        // `abandonReason` waits for the output's queue: the reports were finished by then.
        #expect(output.abandonReason == nil)
        for name in Self.reportNames {
            #expect(FileManager.default.fileExists(atPath: privateDirectory.appendingPathComponent(name).path), "\(name)")
            #expect(!FileManager.default.fileExists(atPath: job.output(name).path), "\(name)")
        }
        output.linesWritten(failure: nil)
        let written = try await output.finish(expected: journaled.count)
        #expect(written?.evaluation?.aggregate.runs.samples == journaled.count)
        for name in Self.reportNames { #expect(FileManager.default.fileExists(atPath: job.output(name).path), "\(name)") }
        #expect(!FileManager.default.fileExists(atPath: privateDirectory.path))
        for name in Self.reportNames { try FileManager.default.removeItem(at: job.output(name)) }

        let late = try await StreamedClusterOutput(job: job, scoring: true, limit: 100, workersWriteLines: true)
        for position in 0..<(journaled.count - 1) { Self.feed(late, journaled[position].envelope) }
        late.linesOrdered(records: journaled.count - 1)
        Self.feed(late, journaled[journaled.count - 1].envelope)
        late.linesWritten(failure: nil)
        #expect(try await late.finish(expected: journaled.count - 1) == nil)
        #expect(late.abandonReason?.contains("after the run's lines were ordered") == true, "\(late.abandonReason ?? "nil")")

        let failed = try await StreamedClusterOutput(job: job, scoring: true, limit: 100, workersWriteLines: true)
        for position in journaled.indices { Self.feed(failed, journaled[position].envelope) }
        failed.linesOrdered(records: journaled.count)
        failed.linesWritten(failure: "worker w1 could not write")
        #expect(try await failed.finish(expected: journaled.count) == nil)
        #expect(failed.abandonReason == "worker w1 could not write")
        for name in Self.reportNames { #expect(!FileManager.default.fileExists(atPath: job.output(name).path), "\(name)") }
        #expect(!FileManager.default.fileExists(atPath: privateDirectory.path))
    }

    /// Each case it cannot write exactly gives the output up, moving nothing into the output
    /// directory: more records waiting than its bound, a sample twice, a record without its
    /// report part, fewer records than the run journaled.
    @Test func whatItCannotWriteExactlyGivesItUp() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = try await Self.job(directory)
        let journaled = try Self.journaled()
        func expectGivenUp(_ output: StreamedClusterOutput, expected: Int = journaled.count, _ why: String) async throws {
            #expect(try await output.finish(expected: expected) == nil)
            #expect(output.abandonReason?.contains(why) == true, "\(output.abandonReason ?? "nil")")
            #expect(!FileManager.default.fileExists(atPath: job.output("results.jsonl").path))
            #expect(!FileManager.default.fileExists(atPath: job.output(StreamedClusterOutput.directoryName).path))
        }
        // Overflow: three records wait for index 0 with a bound of 2.
        let overflow = try await StreamedClusterOutput(job: job, scoring: true, limit: 2)
        for position in [3, 2, 1, 0] { Self.feed(overflow, journaled[position].envelope) }
        try await expectGivenUp(overflow, "waited")
        // The same sample twice.
        let twice = try await StreamedClusterOutput(job: job, scoring: true, limit: 100)
        for position in [0, 1, 1] { Self.feed(twice, journaled[position].envelope) }
        try await expectGivenUp(twice, "twice")
        // No report part.
        let partless = try await StreamedClusterOutput(job: job, scoring: true, limit: 100)
        Self.feed(partless, journaled[0].envelope, part: false)
        try await expectGivenUp(partless, "report part")
        // Fewer records than journaled.
        let short = try await StreamedClusterOutput(job: job, scoring: true, limit: 100)
        for position in 0..<5 { Self.feed(short, journaled[position].envelope) }
        try await expectGivenUp(short, expected: 6, "5 records written, 6 journaled")
        // The writing queue too far behind: 128 records handed over at once, with room for 100.
        let behind = try await StreamedClusterOutput(job: job, scoring: true, limit: 1000, backlogLimit: 100)
        for position in 0..<StreamedClusterOutput.batchSize { Self.feed(behind, journaled[position % journaled.count].envelope) }
        try await expectGivenUp(behind, expected: StreamedClusterOutput.batchSize, "waited to be written")
        // Abandoned (an interrupt): nothing is moved; records fed later are ignored.
        let interrupted = try await StreamedClusterOutput(job: job, scoring: true, limit: 100)
        Self.feed(interrupted, journaled[0].envelope)
        await interrupted.abandon("interrupted")
        Self.feed(interrupted, journaled[1].envelope)
        try await expectGivenUp(interrupted, "interrupted")
    }
}
