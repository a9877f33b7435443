import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// Protocol 8 over real sockets and processes: workers that can open the spool's journal append
/// their records to it, others send them in frames, and the coordinator keeps one journal either
/// way; a frame naming lines that are not there is refused and the streamed outputs are given up.
@Suite(.serialized) struct WorkersJournalTests {
    /// A sink that keeps what the coordinator hands it.
    final class Sink: ClusterJournalSink, @unchecked Sendable {
        let lines = Locked<[Int: [Data]]>([:])
        let discarded = Locked<[String]>([])
        /// The threads the coordinator handed lines on (Linux: `/proc/thread-self/comm`).
        let threads = Locked<Set<String>>([])

        func journaled(
            line: Data, sample: Data?, sampleRange: Range<Int>, index: Int, run: Range<Int>?, evals: Range<Int>?, evalElements: [Range<Int>]?,
            reportPart: Data?
        ) {
            var whole = line
            if let sample {
                whole = line[line.startIndex..<(line.startIndex + sampleRange.lowerBound)] + sample + line[(line.startIndex + sampleRange.upperBound)...]
            }
            lines.withLock { $0[index, default: []].append(whole) }
            let thread = DedicatedThreadExecutor.currentThreadName
            threads.withLock { _ = $0.insert(thread) }
        }

        func discard(_ reason: String) {
            discarded.withLock { $0.append(reason) }
        }
    }

    static func options(_ sink: Sink) -> ClusterCoordinator.Options {
        var options = ClusterCoordinator.Options(machine: .init(concurrency: 4, expectedWorkers: 2, prefetch: 8))
        options.journalSink = sink
        options.keepsJournalIndex = false
        options.keepsReportParts = false
        options.recordsJournaledByWorkers = true
        // The coordinator's tasks, like the tests' own steps (`.timeBound`), on the time-bound
        // tests' thread: the rest of the suite cannot hold them back past their bounds.
        options.taskExecutor = DedicatedThreadExecutor.timeBoundTests
        return options
    }

    /// One worker appends to the journal, the other (`--frames-only`) sends its records: every
    /// sample is journaled once, the lines the sink saw are the journal's, byte for byte, and the
    /// coordinator counted the lines the workers wrote.
    @Test(.timeBound) func aWorkerThatAppendsAndOneThatSendsKeepOneJournal() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let samples = ClusterTestSupport.samples(60)
        let spool = try ClusterSpool.prepare(at: directory.appendingPathComponent("spool"), samples: samples, setup: ClusterTestSupport.setup(delayMs: 2), samplesPerShard: 10)
        let sink = Sink()
        let host = ClusterTestSupport.hostPath
        let stats = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) { try await ClusterCoordinator.run(spool: spool, listener: listener, options: Self.options(sink)) }
                // What a worker killed in the middle of its write leaves: part of a line, no newline.
                // The coordinator has opened the journal (cutting a torn tail) once the spool is served.
                var waited = 0
                while !FileManager.default.fileExists(atPath: spool.journalURL.path), waited < 500 {
                    try await Task.sleep(nanoseconds: 10_000_000)
                    waited += 1
                }
                try await Task.sleep(nanoseconds: 50_000_000)
                let torn = try FileHandle(forWritingTo: spool.journalURL)
                try torn.seekToEnd()
                try torn.write(contentsOf: Data(#"{"evals":[{"metric":"m","sampleId":"case-7","sta"#.utf8))
                try torn.close()
                let appending = try await UVProcess.spawn(executable: host, arguments: ["worker", "--connect", path, "--worker-id", "appends"], loop: loop)
                let sending = try await UVProcess.spawn(
                    executable: host, arguments: ["worker", "--connect", path, "--worker-id", "sends", "--frames-only"], loop: loop)
                let stats = try await coordinator.value
                _ = await appending.waitForExit()
                _ = await sending.waitForExit()
                listener.close()
                return stats
            }
        }
        #expect(stats.journaled == 60)
        #expect(sink.discarded.withLock { $0 }.isEmpty)
        // `Options.taskExecutor`: the coordinator ran on the executor it was given.
        #expect(sink.threads.withLock { $0 } == ["test-timed"])
        // The torn piece is a line of its own (each write starts on a new line), skipped as damaged;
        // every record is whole, and a merge of the journal gives each sample once.
        let all = try Data(contentsOf: spool.journalURL).split(separator: 0x0A).map { Data($0) }
        #expect(all.first == Data(#"{"evals":[{"metric":"m","sampleId":"case-7","sta"#.utf8))
        let journal = Array(all.dropFirst())
        #expect(journal.count == 60)
        let seen = sink.lines.withLock { $0 }
        #expect(seen.count == 60 && seen.values.allSatisfy { $0.count == 1 })
        #expect(Set(seen.values.map { $0[0] }) == Set(journal))
        #expect(try spool.mergedRecords().map(\.sampleId) == samples.map(\.id))
        // Both ways were taken (each worker has a share of the concurrency), and the count is exact.
        let byAppending = stats.samplesByWorker["appends"] ?? -1
        #expect(stats.journaledByWorkers == byAppending && byAppending > 0 && byAppending < 60, "\(stats.samplesByWorker), \(stats.journaledByWorkers)")
        // Once its first frame showed it journals, the appending worker was handed samples by
        // reference (protocol 10); its first ones, and all of the other's, as bytes.
        #expect(stats.assignedByReference > 0 && stats.assignedByReference < byAppending, "\(stats.assignedByReference) of \(byAppending)")
        // Each line is a record of the sample at its index, its sample the spool's bytes.
        let spooled = try spool.manifest.shards.flatMap { try spool.sampleLines(ofShard: $0.id) }
        #expect(spooled.count == 60)
        for line in journal {
            let record = try ClusterRecord.decode(journalLine: line)
            #expect(record.sampleId == samples[record.index].id)
            #expect(line.range(of: spooled[record.index].sample) != nil, "sample \(record.index) written as the spool holds it")
        }
    }

    /// A worker past its hello that sends a `journaled` frame naming bytes the journal does not
    /// hold is closed with a reason naming the frame; the sink is told to give up, and a real
    /// worker completes the run with every sample once.
    @Test(.timeBound) func aFrameNamingLinesThatAreNotThereIsRefusedAndTheOutputsGoToTheMerge() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let samples = ClusterTestSupport.samples(20)
        let spool = try ClusterSpool.prepare(at: directory.appendingPathComponent("spool"), samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 5)
        let sink = Sink()
        let recording = RecordingClusterSink()
        let events = EventBus()
        events.subscribe(recording)
        let host = ClusterTestSupport.hostPath
        let stats = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) { try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: Self.options(sink)) }
                let forger = try await UVPipeConnection.connect(path: path, loop: loop)
                forger.enqueue([try ClusterMessageCodec().encode(.hello(.init(workerId: "forger", pid: 1)))])
                // The welcome offers the journal.
                guard let payload = await forger.receive(), case .welcome(let welcome) = try ClusterMessageCodec().decode(payload, peer: "c") else {
                    throw ChatbotTesterError(.proto, "expected welcome")
                }
                #expect(welcome.recordJournal?.path == spool.journalURL.path)
                let record = ClusterRecord(sampleId: samples[0].id, index: 0, run: RunRecord(sample: samples[0], target: "bot"), evals: [])
                let (unit, _) = try record.journaledUnit()
                forger.enqueue([ClusterMessageCodec().encodeJournaledFrame(base: 1 << 20, units: [unit])])
                var received = 0
                while await forger.receive() != nil, received < 100 { received += 1 }
                let worker = try await UVProcess.spawn(executable: host, arguments: ["worker", "--connect", path], loop: loop)
                let stats = try await coordinator.value
                _ = await worker.waitForExit()
                listener.close()
                return stats
            }
        }
        await events.shutdown()
        #expect(stats.journaled == 20)
        let reasons = recording.events.current.compactMap { if case .connectionClosed(_, let reason) = $0 { reason } else { nil } }
        #expect(reasons.contains { $0.contains("journaled frame names bytes") }, "\(reasons)")
        #expect(sink.discarded.withLock { $0 }.contains { $0.contains("refused") })
        let journal = try Data(contentsOf: spool.journalURL).split(separator: 0x0A)
        #expect(journal.count == 20)
    }

    /// Log events, as they are emitted.
    final class LogSink: EventSink, @unchecked Sendable {
        let messages = Locked<[String]>([])
        func receive(_ envelope: EventEnvelope) async {
            guard let log = envelope.event as? LogEvent else { return }
            messages.withLock { $0.append(log.message) }
        }
    }

    /// A shard damaged before the run: the worker that journals is handed its samples by reference,
    /// cannot read them (the digest differs) and hands them back; the coordinator, sending it their
    /// bytes from then on, reads the shard itself and ends the run naming the file, as a run
    /// without references does.
    @Test(.timeBound) func aShardAWorkerCannotReadByReferenceEndsTheRunNamingIt() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let samples = ClusterTestSupport.samples(60)
        let spool = try ClusterSpool.prepare(at: directory.appendingPathComponent("spool"), samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 10)
        let shard = spool.directory.appendingPathComponent(spool.manifest.shards[4].file)
        var data = try Data(contentsOf: shard)
        let at = data.range(of: Data("question".utf8))!
        data.replaceSubrange(at, with: Data("QUESTION".utf8))
        try data.write(to: shard)
        let logs = LogSink()
        let events = EventBus()
        events.subscribe(logs)
        let host = ClusterTestSupport.hostPath
        let failure: ChatbotTesterError? = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) { try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: Self.options(Sink())) }
                let worker = try await UVProcess.spawn(executable: host, arguments: ["worker", "--connect", path, "--worker-id", "w"], loop: loop)
                let result = await coordinator.result
                _ = await worker.waitForExit()
                listener.close()
                if case .failure(let error) = result { return error as? ChatbotTesterError }
                return nil
            }
        }
        await events.shutdown()
        #expect(failure?.code == .invalidInput)
        #expect(failure?.location?.source == shard.path)
        let messages = logs.messages.withLock { $0 }
        #expect(messages.contains { $0.contains("could not read samples by reference") && $0.contains(shard.path) }, "\(messages)")
    }
}
