import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Protocol 11: at the end of a run whose outputs stream, the workers write their records'
/// `results.jsonl` and `evals.jsonl` lines themselves, where the coordinator's prefix sum over
/// every frame says, and the coordinator copies none. Real workers over real sockets write
/// exactly the lines of the journal in dataset order; a worker that fails, lies about what it
/// wrote, or leaves, makes the sink give up (the merge then writes the files from the journal),
/// naming it, within bounded time.
@Suite(.serialized) struct WorkerWrittenLinesTests {
    /// A sink whose lines the workers write; it keeps each journaled line and its ranges, to say
    /// what the files must hold, and how the coordinator's phase ended.
    /// With a `reportsOrder` (protocol 13), it asks for the reports' pieces and hands that order to
    /// a worker once the lines are written, noting how each answer went (`reportsOutcomes`).
    final class LineSink: ClusterWorkerWrittenLines, @unchecked Sendable {
        let lineFiles: (results: URL, evals: URL?)
        let lines = Locked<[Int: (line: Data, run: Range<Int>, evals: [Range<Int>])]>([:])
        let outcomes = Locked<[String?]>([])
        let discarded = Locked<[String]>([])
        let order: Data?
        let reportsOutcomes = Locked<[String?]>([])
        private let directory: URL
        private let piecesMade = Locked(0)

        init(directory: URL, reportsOrder: Data? = nil) {
            self.directory = directory
            order = reportsOrder
            lineFiles = (directory.appendingPathComponent("results.jsonl"), directory.appendingPathComponent("evals.jsonl"))
        }

        var wantsReportPieces: Bool { order != nil }

        func piecesFile() -> String? {
            let made = piecesMade.withLock { count -> Int in
                count += 1
                return count
            }
            let path = directory.appendingPathComponent("pieces-\(made)").path
            return FileManager.default.createFile(atPath: path, contents: nil) ? path : nil
        }

        func reportsOrder() -> Data? { order }

        func reportsMade(failure: String?) {
            reportsOutcomes.withLock { $0.append(failure) }
        }

        func journaled(
            line: Data, sample: Data?, sampleRange: Range<Int>, index: Int, run: Range<Int>?, evals: Range<Int>?, evalElements: [Range<Int>]?,
            reportPart: Data?
        ) {
            guard let run else { return }
            lines.withLock { $0[index] = (line, run, evalElements ?? []) }
        }

        func discard(_ reason: String) {
            discarded.withLock { $0.append(reason) }
        }

        func linesWritten(failure: String?) {
            outcomes.withLock { $0.append(failure) }
        }

        /// What `results.jsonl` and `evals.jsonl` must hold: each journaled record's `run` value and
        /// evaluations, a line each, in dataset order.
        func expected() -> (results: Data, evals: Data) {
            var results = Data(), evals = Data()
            for (_, entry) in lines.current.sorted(by: { $0.key < $1.key }) {
                let start = entry.line.startIndex
                results.append(entry.line[(start + entry.run.lowerBound)..<(start + entry.run.upperBound)])
                results.append(0x0A)
                for element in entry.evals {
                    evals.append(entry.line[(start + element.lowerBound)..<(start + element.upperBound)])
                    evals.append(0x0A)
                }
            }
            return (results, evals)
        }
    }

    static func options(_ sink: LineSink, workers: Int) -> ClusterCoordinator.Options {
        var options = ClusterCoordinator.Options(machine: .init(heartbeatTimeout: 5, concurrency: 4, expectedWorkers: workers, prefetch: 8), shutdownGrace: 2)
        options.journalSink = sink
        options.keepsJournalIndex = false
        options.keepsReportParts = false
        options.recordsJournaledByWorkers = true
        // The coordinator's tasks, like the tests' own steps (`.timeBound`), on the time-bound
        // tests' thread: the rest of the suite cannot hold them back past their bounds.
        options.taskExecutor = DedicatedThreadExecutor.timeBoundTests
        return options
    }

    /// Two real workers: each writes the lines of the records it journaled, and the files hold
    /// every record's lines in dataset order, exactly the journal's bytes.
    @Test(.timeBound, arguments: [0, 10])
    func realWorkersWriteEveryLineInDatasetOrder(earlyLineRecords: Int) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let spool = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("spool"), samples: ClusterTestSupport.samples(90), setup: ClusterTestSupport.setup(delayMs: 1),
            samplesPerShard: 10)
        let sink = LineSink(directory: directory)
        let events = EventBus()
        let recorder = RecordingEventSink()
        events.subscribe(recorder)
        let stats = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                var options = Self.options(sink, workers: 2)
                options.earlyLineRecords = earlyLineRecords
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) { [options] in
                    try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: options)
                }
                var workers: [UVProcess] = []
                for _ in 0..<2 { workers.append(try await UVProcess.spawn(executable: ClusterTestSupport.hostPath, arguments: ["worker", "--connect", path], loop: loop)) }
                let stats = try await withTaskCancellationHandler { try await coordinator.value } onCancel: { coordinator.cancel() }
                for worker in workers { _ = await worker.waitForExit() }
                return stats
            }
        }
        await events.shutdown()
        #expect(stats.journaled == 90 && stats.journaledByWorkers == 90)
        #expect(sink.outcomes.current.count == 1 && sink.outcomes.current.first == .some(nil), "\(sink.outcomes.current)")
        let expected = sink.expected()
        #expect(sink.lines.current.count == 90)
        #expect(try Data(contentsOf: sink.lineFiles.results) == expected.results)
        #expect(try Data(contentsOf: sink.lineFiles.evals!) == expected.evals)
        #expect(!expected.evals.isEmpty)
        let said = recorder.events(of: LogEvent.self).filter { $0.source == "cluster.output" }.map(\.message)
        let start = "the workers wrote the lines of 90 records (\(expected.results.count) bytes of results, \(expected.evals.count) of evaluations)"
        if earlyLineRecords == 0 {
            #expect(stats.earlyLinePlans == 0 && said == [start])
        } else {
            // Orders for the complete prefix went out while the run played (once it held 10, then
            // at least half of what was ordered: how many depends on how the frames came), and
            // the end ordered the rest.
            #expect(stats.earlyLinePlans >= 1, "\(stats.earlyLinePlans)")
            #expect(said == [start + " (\(stats.earlyLinePlans) of \(stats.earlyLinePlans + 1) orders sent while the run played)"], "\(said)")
        }
    }

    /// How the test's own worker answers `writeLines`.
    enum Answer {
        /// Writes the lines, as a worker does.
        case writes
        /// Says it could not.
        case fails
        /// Says it wrote one record fewer than asked.
        case miscounts
        /// Leaves without answering.
        case leaves
        /// Journals its first assignment, sends the frame and leaves before the run ends.
        case leavesAfterItsFirstRecords
        /// Appends its first assignment's lines to the journal and leaves without sending the frame.
        case leavesWithoutReportingItsLines
    }

    /// How the test's own worker answers `makeReports` (protocol 13).
    enum ReportsAnswer {
        /// Says it made them.
        case made
        /// Says it could not.
        case fails
        /// Leaves without answering.
        case leaves
        /// Sends `reportsMade` before it is asked, with its first records.
        case unasked
    }

    /// A worker played by the test over a real socket: it journals every sample it is given, as
    /// a worker does (its own newline first, then the lines, then a `journaled` frame), and
    /// answers `writeLines` as `answer` says and `makeReports` as `reports` says (noting each
    /// order in `reportOrders`). Returns the orders it got.
    static func playWorker(
        socket: String, loop: UVLoop, answer: Answer, reports: ReportsAnswer = .made, reportOrders: Locked<[Data]>? = nil
    ) async throws -> [ClusterMessage.WriteLines] {
        var connected: UVPipeConnection?
        for _ in 0..<600 where connected == nil {
            connected = try? await UVPipeConnection.connect(path: socket, loop: loop)
            if connected == nil { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        guard let worker = connected else { throw ChatbotTesterError(.io, "the coordinator never listened on \(socket)") }
        let codec = ClusterMessageCodec()
        worker.enqueue([try codec.encode(.hello(.init(workerId: "played", pid: Int(getpid()))))])
        var journal: String?
        var places = WorkerLinePlaces()
        var orders: [ClusterMessage.WriteLines] = []
        while let payload = await worker.receive() {
            switch try codec.decodeAtWorker(payload, peer: "coordinator") {
            case .welcome(let welcome):
                journal = welcome.recordJournal?.path
            case .assign(let assignment):
                guard let journal else { throw ChatbotTesterError(.proto, "no journal offered") }
                var units: [Data] = [], lines = Data([0x0A])
                for item in assignment.samples {
                    var run = RunRecord(sample: item.sample, target: "bot")
                    run.output = "answer to \(item.sample.id)"
                    let evals = [EvalRecord(sampleId: item.sample.id, metric: "contains", type: "contains", status: .scored, score: 1, passed: true)]
                    let (unit, line) = try ClusterRecord(sampleId: item.sample.id, index: item.index, run: run, evals: evals).journaledUnit()
                    units.append(unit)
                    lines.append(line)
                }
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: journal))
                let end = try handle.seekToEnd()
                try handle.write(contentsOf: lines)
                try handle.close()
                places.add(base: end + 1, units: units)
                if case .leavesWithoutReportingItsLines = answer {
                    worker.close(reason: nil)
                    return orders
                }
                worker.enqueue([codec.encodeJournaledFrame(base: end + 1, units: units)])
                if case .unasked = reports { worker.enqueue([try codec.encode(.reportsMade(.init()))]) }
                if case .leavesAfterItsFirstRecords = answer {
                    // Closed once the frame is written (no reason given).
                    worker.close(reason: nil)
                    return orders
                }
            case .writeLines(var order):
                orders.append(order)
                // Lines only: this worker keeps no report parts (its answer carries no pieces).
                order.pieces = nil
                var written = places.write(order, journal: journal)
                switch answer {
                case .writes: break
                case .fails: written = .init(records: 0, resultsBytes: 0, evalsBytes: 0, failure: "the disk is full")
                case .miscounts: written.records -= 1
                case .leaves, .leavesAfterItsFirstRecords, .leavesWithoutReportingItsLines:
                    worker.close(reason: nil)
                    return orders
                }
                worker.enqueue([try codec.encode(.linesWritten(written))])
            case .makeReports(let order):
                reportOrders?.withLock { $0.append(order.order) }
                switch reports {
                case .made, .unasked: worker.enqueue([try codec.encode(.reportsMade(.init()))])
                case .fails: worker.enqueue([try codec.encode(.reportsMade(.init(failure: "no room for report.html")))])
                case .leaves:
                    worker.close(reason: nil)
                    return orders
                }
            case .shutdown:
                worker.close(reason: nil)
                return orders
            default:
                break
            }
        }
        return orders
    }

    /// A run for a played worker in `directory`: its socket's path, a spool of `samples` cases in
    /// shards of 5, and the sink (handing a worker `reportsOrder` when given).
    static func playedRun(in directory: URL, samples: Int, reportsOrder: Data? = nil) throws -> (path: String, spool: ClusterSpool, sink: LineSink) {
        let spool = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("spool"), samples: ClusterTestSupport.samples(samples), setup: ClusterTestSupport.setup(), samplesPerShard: 5)
        return (directory.appendingPathComponent("c.sock").path, spool, LineSink(directory: directory, reportsOrder: reportsOrder))
    }

    /// Protocol 13: once every line is written, the coordinator hands the sink's order to the worker
    /// (kept until then) and ends the run with its answer: made, the sink is told so; could not, or
    /// left, the sink is told why (and makes the reports itself). A `reportsMade` nobody asked for
    /// is a protocol violation: the worker is closed, and the run goes on without it.
    @Test(.timeBound, arguments: [ReportsAnswer.made, .fails, .leaves, .unasked])
    func aWorkerAskedToMakeTheReportsAnswersOrTheSinkIsToldWhyNot(_ reports: ReportsAnswer) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let order = Data(#"{"put":"them together"}"#.utf8)
        let (path, spool, sink) = try Self.playedRun(in: directory, samples: 24, reportsOrder: order)
        var options = Self.options(sink, workers: 1)
        options.assignsByReference = false
        let reportOrders = Locked<[Data]>([])
        let events = EventBus()
        let recorder = RecordingClusterSink()
        events.subscribe(recorder)
        let stats = try await withTimeout(60) { [options] in
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) {
                    try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: options)
                }
                let orders = try await Self.playWorker(socket: path, loop: loop, answer: .writes, reports: reports, reportOrders: reportOrders)
                if case .unasked = reports {
                    // Closed at its first frame, asked for no lines: the run has no worker left.
                    #expect(orders.isEmpty)
                    coordinator.cancel()
                    _ = try? await coordinator.value
                    return ClusterCoordinatorStats?.none
                }
                return try await withTaskCancellationHandler { try await coordinator.value } onCancel: { coordinator.cancel() }
            }
        }
        await events.shutdown()
        switch reports {
        case .made, .fails, .leaves:
            #expect(stats?.stopReason == .completed && stats?.journaled == 24)
            #expect(sink.outcomes.current == [nil])
            #expect(reportOrders.current == [order])
            let outcomes = sink.reportsOutcomes.current
            #expect(outcomes.count == 1, "\(outcomes)")
            switch reports {
            case .made: #expect(outcomes.first == .some(nil))
            case .fails: #expect(outcomes.first??.contains("could not make them: no room for report.html") == true, "\(outcomes)")
            default: #expect(outcomes.first??.contains("left before it made them") == true, "\(outcomes)")
            }
        case .unasked:
            #expect(reportOrders.current.isEmpty && sink.reportsOutcomes.current.isEmpty)
            let closed = recorder.events.current.compactMap { event -> String? in
                if case .connectionClosed(_, let reason) = event { return reason }
                return nil
            }
            #expect(closed.contains { $0.contains("reportsMade without a makeReports") }, "\(closed)")
        }
    }

    /// A run of `samples` cases (handed out by value) with one worker, played by the test and
    /// answering `writeLines` as `answer` says: the coordinator's figures, the orders the worker
    /// got, and the sink.
    static func runAlone(in directory: URL, samples: Int, earlyLineRecords: Int = 0, answer: Answer) async throws
        -> (stats: ClusterCoordinatorStats, orders: [ClusterMessage.WriteLines], sink: LineSink)
    {
        let (path, spool, sink) = try Self.playedRun(in: directory, samples: samples)
        var options = Self.options(sink, workers: 1)
        options.assignsByReference = false
        options.earlyLineRecords = earlyLineRecords
        let (stats, orders) = try await withTimeout(60) { [options] in
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) { try await ClusterCoordinator.run(spool: spool, listener: listener, options: options) }
                let orders = try await Self.playWorker(socket: path, loop: loop, answer: answer)
                return (try await withTaskCancellationHandler { try await coordinator.value } onCancel: { coordinator.cancel() }, orders)
            }
        }
        return (stats, orders, sink)
    }

    /// One worker played by the test, answering `writeLines` each way: a worker that writes gets
    /// one order covering every sample, and the files hold the journal's lines; one that fails,
    /// miscounts or leaves makes the sink give up naming why, and the run still completes. With
    /// orders sent while the run plays (`earlyLineRecords` 8), the first covers a prefix only, the
    /// orders together cover every index once, and a failed or miscounted one lets the run go on
    /// and end before the sink gives up.
    @Test(
        .timeBound,
        arguments: zip([Answer.writes, .fails, .miscounts, .leaves, .writes, .fails, .miscounts], [0, 0, 0, 0, 8, 8, 8]))
    func aWorkersAnswerDecidesWhetherItsLinesAreUsed(_ answer: Answer, earlyLineRecords: Int) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = earlyLineRecords == 0 ? 24 : 40
        let (stats, orders, sink) = try await Self.runAlone(in: directory, samples: samples, earlyLineRecords: earlyLineRecords, answer: answer)
        #expect(stats.stopReason == .completed && stats.journaled == samples)
        if earlyLineRecords == 0 {
            #expect(orders.count == 1 && orders.first?.runs == [ClusterMessage.LineRun(first: 0, count: 24, resultsOffset: 0, evalsOffset: 0)])
        } else {
            // The first order covers a prefix: it went out before the run ended.
            #expect(stats.earlyLinePlans >= 1 && (orders.first?.runs.last).map { $0.first + $0.count < samples } == true, "\(orders)")
        }
        let first = orders.first?.runs.reduce(0) { $0 + $1.count } ?? 0
        let outcomes = sink.outcomes.current
        #expect(outcomes.count == 1, "\(outcomes)")
        switch answer {
        case .writes:
            #expect(outcomes.first == .some(nil))
            #expect(orders.count == stats.earlyLinePlans + 1 && orders.flatMap(\.runs).reduce(0) { $0 + $1.count } == samples)
            let expected = sink.expected()
            #expect(try Data(contentsOf: sink.lineFiles.results) == expected.results)
            #expect(try Data(contentsOf: sink.lineFiles.evals!) == expected.evals)
        case .fails:
            #expect(outcomes.first??.contains("could not write its lines: the disk is full") == true, "\(outcomes)")
        case .miscounts:
            #expect(outcomes.first??.contains("wrote \(first - 1) records") == true && outcomes.first??.contains("not \(first) (") == true, "\(outcomes)")
        case .leaves:
            #expect(outcomes.first??.contains("left before it wrote its lines") == true, "\(outcomes)")
        case .leavesAfterItsFirstRecords, .leavesWithoutReportingItsLines:
            Issue.record("not an argument of this test")
        }
    }

    /// A worker lost mid-run after it journaled records: the other worker writes its own lines,
    /// and the coordinator writes the lost one's from the journal — the files hold every record's
    /// lines in dataset order, and no merge pass is needed. `.leaves`: with orders sent while the
    /// run plays, the played worker leaves at its first one, unanswered; the coordinator writes its
    /// records of that prefix again, with its later ones.
    @Test(.timeBound, arguments: [Answer.leavesAfterItsFirstRecords, .leavesWithoutReportingItsLines, .leaves])
    func theLinesOfAWorkerThatLeftAreWrittenByTheCoordinator(_ answer: Answer) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (path, spool, sink) = try Self.playedRun(in: directory, samples: 40)
        let events = EventBus()
        let recorder = RecordingEventSink()
        events.subscribe(recorder)
        let options = {
            var options = Self.options(sink, workers: 1)
            options.assignsByReference = false
            if case .leaves = answer { options.earlyLineRecords = 8 }
            return options
        }()
        let (stats, orders) = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) {
                    try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: options)
                }
                // The played worker journals its first assignment (or more) and leaves; a real one plays the rest.
                let orders = try await Self.playWorker(socket: path, loop: loop, answer: answer)
                let real = try await UVProcess.spawn(executable: ClusterTestSupport.hostPath, arguments: ["worker", "--connect", path], loop: loop)
                let stats = try await withTaskCancellationHandler { try await coordinator.value } onCancel: { coordinator.cancel() }
                _ = await real.waitForExit()
                return (stats, orders)
            }
        }
        await events.shutdown()
        #expect(stats.journaled == 40 && stats.workersLost >= 1)
        if case .leaves = answer {
            // It got an order for a prefix while the run played, and left without answering it.
            #expect(stats.earlyLinePlans >= 1 && orders.count == 1 && (orders.first?.runs.last).map { $0.first + $0.count < 40 } == true, "\(orders)")
        }
        if case .leavesWithoutReportingItsLines = answer {
            // Lines in the journal that no frame reported: the streamed output is told and gives up
            // (the merge writes the files from the journal, the truth), naming where they are.
            let outcomes = sink.outcomes.current
            #expect(outcomes.count == 1 && outcomes.first??.contains("worker played") == true, "\(outcomes)")
            #expect(outcomes.first??.contains("bytes no frame reported (from offset 0)") == true, "\(outcomes)")
            #expect(sink.discarded.current.count == 1 && sink.discarded.current.first == outcomes.first ?? nil)
            return
        }
        #expect(sink.outcomes.current.count == 1 && sink.outcomes.current.first == .some(nil), "\(sink.outcomes.current)")
        #expect(sink.discarded.current.isEmpty, "\(sink.discarded.current)")
        let expected = sink.expected()
        #expect(sink.lines.current.count == 40)
        #expect(try Data(contentsOf: sink.lineFiles.results) == expected.results)
        #expect(try Data(contentsOf: sink.lineFiles.evals!) == expected.evals)
        let said = recorder.events(of: LogEvent.self).filter { $0.source == "cluster.output" }.map(\.message)
        #expect(said.count == 1 && said.first?.contains("the workers wrote the lines of 40 records") == true, "\(said)")
        // The played worker's records are those answered "answer to …" (the real worker echoes).
        let played = sink.lines.current.values.filter { String(decoding: $0.line, as: UTF8.self).contains("\"answer to case-") }.count
        #expect(played > 0 && played < 40)
        #expect(said.first?.hasSuffix("the coordinator wrote those of \(played) records of workers that had left") == true, "\(said)")
    }

    /// One worker appends to the journal and one sends its records' bytes (`--frames-only`): the
    /// coordinator journaled some records itself, which no worker can write, so the sink is told
    /// and gives up; nothing is asked of the workers.
    @Test(.timeBound) func recordsTheCoordinatorJournaledLeaveTheLinesToTheMerge() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let spool = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("spool"), samples: ClusterTestSupport.samples(60), setup: ClusterTestSupport.setup(delayMs: 20),
            samplesPerShard: 10)
        let sink = LineSink(directory: directory)
        // 20 ms a sample: the first worker alone needs about 0.6 s for all 60, time for the second
        // to start and take some even on a loaded machine (at 2 ms a sample, under a parallel test
        // run and a CI build, the first once played them all before the second had joined).
        let stats = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let coordinator = Task(executorPreference: DedicatedThreadExecutor.timeBoundTests) { try await ClusterCoordinator.run(spool: spool, listener: listener, options: Self.options(sink, workers: 2)) }
                let workers = [
                    try await UVProcess.spawn(executable: ClusterTestSupport.hostPath, arguments: ["worker", "--connect", path], loop: loop),
                    try await UVProcess.spawn(executable: ClusterTestSupport.hostPath, arguments: ["worker", "--connect", path, "--frames-only"], loop: loop),
                ]
                let stats = try await withTaskCancellationHandler { try await coordinator.value } onCancel: { coordinator.cancel() }
                for worker in workers { _ = await worker.waitForExit() }
                return stats
            }
        }
        #expect(stats.journaled == 60 && stats.journaledByWorkers < 60)
        let outcomes = sink.outcomes.current
        #expect(outcomes.count == 1 && outcomes.first??.contains("journaled without a worker that can write their lines") == true, "\(outcomes)")
        #expect(!FileManager.default.fileExists(atPath: sink.lineFiles.results.path))
    }
}

/// `ClusterLinePlaces`: the coordinator's table of where each record's lines go, and the orders
/// it makes of it.
@Suite struct ClusterLinePlacesTests {
    @Test func runsFollowTheWorkersAndTheGapsAndOffsetsArePrefixSums() throws {
        var places = ClusterLinePlaces()
        // Index 3 is never journaled (a run stopped by its budget leaves gaps).
        let table: [(index: Int, worker: Int, results: Int, evals: Int)] = [
            (0, 1, 10, 5), (1, 1, 11, 0), (2, 2, 12, 7), (4, 2, 13, 8), (5, 2, 14, 9), (6, 1, 15, 1),
        ]
        for row in table.shuffled() { places.place(index: row.index, worker: row.worker, resultsBytes: row.results, evalsBytes: row.evals) }
        let plan = try #require(places.plan(results: "/r", evals: "/e"))
        #expect(plan.records == 6 && plan.resultsBytes == 75 && plan.evalsBytes == 30)
        #expect(
            plan.orders[1] == [
                .init(results: "/r", evals: "/e", runs: [.init(first: 0, count: 2, resultsOffset: 0, evalsOffset: 0), .init(first: 6, count: 1, resultsOffset: 60, evalsOffset: 29)])
            ])
        #expect(
            plan.orders[2] == [
                .init(results: "/r", evals: "/e", runs: [.init(first: 2, count: 1, resultsOffset: 21, evalsOffset: 5), .init(first: 4, count: 2, resultsOffset: 33, evalsOffset: 12)])
            ])
        #expect(plan.expected[1] == .init(records: 3, resultsBytes: 36, evalsBytes: 6))
        #expect(plan.expected[2] == .init(records: 3, resultsBytes: 39, evalsBytes: 24))
        // Not scored: no evaluations are written, their offsets stay 0.
        let unscored = try #require(places.plan(results: "/r", evals: nil))
        #expect(unscored.evalsBytes == 0 && unscored.orders[2]?.first?.runs.last?.evalsOffset == 0 && unscored.orders[2]?.first?.evals == nil)
        // Many runs go in several orders.
        let chunked = try #require(places.plan(results: "/r", evals: "/e", maxRunsPerOrder: 1))
        #expect(chunked.orders[1]?.count == 2 && chunked.orders[2]?.count == 2)
    }

    @Test func aRecordNoWorkerCanWriteOrOnePlacedTwiceLeavesNoPlan() {
        var places = ClusterLinePlaces()
        places.place(index: 0, worker: 1, resultsBytes: 10, evalsBytes: 0)
        #expect(places.plan(results: "/r", evals: nil) != nil)
        places.place(index: 0, worker: 2, resultsBytes: 10, evalsBytes: 0)
        #expect(places.unplaced == 1 && places.plan(results: "/r", evals: nil) == nil)
        var other = ClusterLinePlaces()
        other.unplace()
        #expect(other.plan(results: "/r", evals: nil) == nil)
        var bad = ClusterLinePlaces()
        bad.place(index: -1, worker: 1, resultsBytes: 10, evalsBytes: 0)
        bad.place(index: 1, worker: 0, resultsBytes: 10, evalsBytes: 0)
        #expect(bad.unplaced == 2 && bad.placed == 0)
    }

    /// The coordinator's end phase on its own: files made at their size, answers added up per
    /// worker across its orders, every way it gives up named.
    /// The records of workers that left go to the coordinator's own part, in dataset order with
    /// their journal places; the others' orders and every offset stay a prefix sum over all.
    @Test func theRecordsOfWorkersThatLeftAreWrittenHere() throws {
        var places = ClusterLinePlaces()
        // Worker 2 left; its records at 1, 2 and 4.
        let table: [(index: Int, worker: Int, results: Int, evals: Int)] = [(0, 1, 10, 3), (1, 2, 11, 4), (2, 2, 12, 5), (3, 1, 13, 6), (4, 2, 14, 7)]
        for row in table {
            places.place(index: row.index, worker: row.worker, resultsBytes: row.results, evalsBytes: row.evals, line: (1000 * row.index)..<(1000 * row.index + 200))
        }
        #expect(places.workers == [1, 2])
        let plan = try #require(places.plan(results: "/r", evals: "/e", writtenHere: [2]))
        #expect(plan.orders.keys.sorted() == [1])
        #expect(plan.orders[1]?.first?.runs == [.init(first: 0, count: 1, resultsOffset: 0, evalsOffset: 0), .init(first: 3, count: 1, resultsOffset: 33, evalsOffset: 12)])
        #expect(plan.here == [.init(first: 1, count: 2, resultsOffset: 10, evalsOffset: 3), .init(first: 4, count: 1, resultsOffset: 46, evalsOffset: 18)])
        #expect(plan.hereLines == [1000..<1200, 2000..<2200, 4000..<4200])
        #expect(plan.hereExpected == .init(records: 3, resultsBytes: 37, evalsBytes: 16))
        #expect(plan.expected[1] == .init(records: 2, resultsBytes: 23, evalsBytes: 9))
        #expect(plan.resultsBytes == 60 && plan.evalsBytes == 25 && plan.records == 5)
        // A record of a worker that left whose line is not known cannot be written here.
        var unknown = ClusterLinePlaces()
        unknown.place(index: 0, worker: 3, resultsBytes: 10, evalsBytes: 0)
        #expect(unknown.plan(results: "/r", evals: nil, writtenHere: [3]) == nil)
        #expect(unknown.plan(results: "/r", evals: nil) != nil)
    }

    /// `writeHere` copies each line's `run` value and evaluations from the journal to their
    /// offsets; a line that is not where the plan says is refused, naming its place.
    @Test func theCoordinatorsPartIsCopiedFromTheJournal() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var journal = Data("\n".utf8)
        var places = ClusterLinePlaces()
        var expectedResults = Data(), expectedEvals = Data()
        for index in 0..<3 {
            var run = RunRecord(sample: TestSample(id: "c\(index)", input: "q\(index)"), target: "bot")
            run.output = "answer \(index)"
            let evals = (0..<index).map { EvalRecord(sampleId: "c\(index)", metric: "m\($0)", type: "contains", status: .scored, score: 1, passed: true) }
            let (_, line) = try ClusterRecord(sampleId: "c\(index)", index: index, run: run, evals: evals).journaledUnit()
            let start = journal.count
            journal.append(line)
            places.place(
                index: index, worker: 7, resultsBytes: try JSONCoding.encoder().encode(run).count + 1,
                evalsBytes: try evals.reduce(0) { $0 + (try JSONCoding.encoder().encode($1).count + 1) }, line: start..<journal.count)
            expectedResults.append(try JSONCoding.encoder().encode(run))
            expectedResults.append(0x0A)
            for eval in evals {
                expectedEvals.append(try JSONCoding.encoder().encode(eval))
                expectedEvals.append(0x0A)
            }
        }
        let journalURL = directory.appendingPathComponent("journal.jsonl")
        try journal.write(to: journalURL)
        let results = directory.appendingPathComponent("results.jsonl"), evals = directory.appendingPathComponent("evals.jsonl")
        let plan = try #require(places.plan(results: results.path, evals: evals.path, writtenHere: [7]))
        #expect(plan.orders.isEmpty && plan.here.count == 1)
        var phase = try ClusterLinePhase(plan: plan, results: results, evals: evals, now: 0)
        #expect(phase.awaits(ClusterLinePhase.here) && phase.stillWriting.isEmpty)
        let written = ClusterLinePhase.writeHere(plan, journal: journalURL, results: results, evals: evals)
        #expect(written == plan.hereExpected)
        #expect(phase.answered(written, from: ClusterLinePhase.here, peer: "the coordinator") == .workerDone(ClusterLinePhase.here))
        #expect(phase.complete && ClusterLinePhase.finish(phase.takeFiles(), failure: nil) == nil)
        #expect(try Data(contentsOf: results) == expectedResults)
        #expect(try Data(contentsOf: evals) == expectedEvals)
        // A plan pointing one byte off: refused, naming the place.
        var shifted = plan
        shifted.hereLines[1] = (shifted.hereLines[1].lowerBound + 1)..<(shifted.hereLines[1].upperBound + 1)
        let refused = ClusterLinePhase.writeHere(shifted, journal: journalURL, results: results, evals: evals)
        #expect(refused.failure?.contains("at \(shifted.hereLines[1].lowerBound)") == true, "\(refused)")
    }

    @Test func theLinePhaseAddsUpAnswersAndNamesWhyItGivesUp() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var places = ClusterLinePlaces()
        for (index, worker) in [(0, 1), (1, 2), (2, 1), (3, 2)] { places.place(index: index, worker: worker, resultsBytes: 10 + index, evalsBytes: index) }
        let results = directory.appendingPathComponent("results.jsonl"), evals = directory.appendingPathComponent("evals.jsonl")
        let plan = try #require(places.plan(results: results.path, evals: evals.path, maxRunsPerOrder: 1))
        var phase = try ClusterLinePhase(plan: plan, results: results, evals: evals, now: 100)
        #expect(try FileManager.default.attributesOfItem(atPath: results.path)[.size] as? Int == 46)
        #expect(try FileManager.default.attributesOfItem(atPath: evals.path)[.size] as? Int == 6)
        #expect(plan.orders.mapValues(\.count) == [1: 2, 2: 2] && phase.records == 4 && phase.isFinal)
        #expect(phase.awaits(1) && phase.awaits(2) && !phase.awaits(3) && phase.stillWriting == [1, 2])
        #expect(phase.expired(now: 129.9) == nil && phase.expired(now: 130.1)?.contains("within 30 s") == true)
        #expect(phase.left(3, peer: "w3") == nil && phase.left(1, peer: "w1") == "w1 left before it wrote its lines")
        // Worker 1 answers its two orders (index 0, then 2): done after the second.
        #expect(phase.answered(.init(records: 1, resultsBytes: 10, evalsBytes: 0), from: 1, peer: "w1") == .wait)
        #expect(phase.answered(.init(records: 1, resultsBytes: 12, evalsBytes: 2), from: 1, peer: "w1") == .workerDone(1))
        #expect(!phase.complete && phase.stillWriting == [2] && phase.left(1, peer: "w1") == nil)
        // Worker 2 miscounts, or fails: the phase gives up, naming it and the figures.
        var miscounted = phase
        #expect(miscounted.answered(.init(records: 1, resultsBytes: 11, evalsBytes: 1), from: 2, peer: "w2") == .wait)
        #expect(miscounted.answered(.init(records: 1, resultsBytes: 13, evalsBytes: 2), from: 2, peer: "w2") == .fail("w2 wrote 2 records (24 + 3 bytes), not 2 (24 + 4)"))
        var failed = phase
        #expect(failed.answered(.init(records: 0, resultsBytes: 0, evalsBytes: 0, failure: "disk full"), from: 2, peer: "w2") == .fail("w2 could not write its lines: disk full"))
        #expect(phase.answered(.init(records: 1, resultsBytes: 11, evalsBytes: 1), from: 2, peer: "w2") == .wait)
        #expect(phase.answered(.init(records: 1, resultsBytes: 13, evalsBytes: 3), from: 2, peer: "w2") == .workerDone(2))
        #expect(phase.complete && ClusterLinePhase.finish(phase.takeFiles(), failure: nil) == nil)
        #expect(phase.takeFiles().isEmpty, "the files are handed over once")
        // A phase that gave up keeps the reason; the files cannot be made in a missing directory.
        var other = try ClusterLinePhase(plan: plan, results: results, evals: nil, now: 0)
        #expect(ClusterLinePhase.finish(other.takeFiles(), failure: "why") == "why")
        #expect(throws: (any Error).self) {
            try ClusterLinePhase(plan: plan, results: directory.appendingPathComponent("no/results.jsonl"), evals: nil, now: 0)
        }
    }

    /// Orders sent while the run plays: the prefix's plan, then the last plan for the rest with
    /// offsets that go on from it; answers count across both, a worker is done only once the last
    /// plan is in, nothing expires before it, and a worker that left with orders unanswered has its
    /// records of that prefix written again by the coordinator.
    @Test func ordersWhileTheRunPlaysAddUpWithTheLastPlan() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var places = ClusterLinePlaces()
        // Indexes 0-3 arrive first (prefix 4); 5 before 4 (prefix stays 4 until 4 comes).
        for (index, worker) in [(0, 1), (1, 2), (2, 1), (3, 2), (5, 1)] {
            places.place(index: index, worker: worker, resultsBytes: 10 + index, evalsBytes: index, line: (100 * index)..<(100 * index + 50))
        }
        #expect(places.prefix == 4)
        let results = directory.appendingPathComponent("results.jsonl"), evals = directory.appendingPathComponent("evals.jsonl")
        let early = try #require(places.plan(results: results.path, evals: evals.path, from: 0, upTo: places.prefix))
        #expect(early.records == 4 && early.resultsBytes == 46 && early.evalsBytes == 6)
        #expect(early.orders[1]?.first?.runs.map(\.first) == [0, 2] && early.orders[2]?.first?.runs.map(\.first) == [1, 3])
        var phase = try ClusterLinePhase(results: results, evals: evals)
        phase.add(early)
        #expect(!phase.isFinal && phase.expired(now: 1e9) == nil && phase.earlyPlans == 1)
        // Worker 1 answers its early order: it goes on playing (not done).
        #expect(phase.answered(.init(records: 2, resultsBytes: 22, evalsBytes: 2), from: 1, peer: "w1") == .wait)
        #expect(!phase.awaits(1) && phase.awaits(2))
        places.place(index: 4, worker: 2, resultsBytes: 14, evalsBytes: 4, line: 400..<450)
        #expect(places.prefix == 6)
        // The last plan starts where the early one ended: offsets go on from 46 and 6.
        let last = try #require(places.plan(results: results.path, evals: evals.path, from: 4))
        #expect(last.records == 2 && last.resultsBytes == 46 + 14 + 15 && last.evalsBytes == 6 + 4 + 5)
        // Started where the early plan left the files, the walk skips the indexes below 4: the same plan.
        let start = ClusterLinePlaces.Start(after: early, index: 4)
        #expect(places.plan(results: results.path, evals: evals.path, from: 4, start: start) == last)
        #expect(places.plan(results: results.path, evals: nil, from: 4, start: start) == places.plan(results: results.path, evals: nil, from: 4))
        // A start at another index is not used.
        #expect(places.plan(results: results.path, evals: evals.path, from: 4, start: .init(index: 3, resultsOffset: 0, evalsOffset: 0)) == last)
        #expect(last.orders[2]?.first?.runs == [ClusterMessage.LineRun(first: 4, count: 1, resultsOffset: 46, evalsOffset: 6)])
        #expect(last.orders[1]?.first?.runs == [ClusterMessage.LineRun(first: 5, count: 1, resultsOffset: 60, evalsOffset: 10)])
        try FileManager.default.removeItem(at: results)
        try phase.finish(with: last, now: 100)
        #expect(phase.isFinal && phase.expired(now: 131) != nil && phase.records == 6)
        // Worker 2 owes its early order and its last one; worker 1 its last one.
        #expect(phase.answered(.init(records: 1, resultsBytes: 15, evalsBytes: 5), from: 1, peer: "w1") == .workerDone(1))
        #expect(phase.answered(.init(records: 2, resultsBytes: 24, evalsBytes: 4), from: 2, peer: "w2") == .wait)
        #expect(phase.answered(.init(records: 1, resultsBytes: 14, evalsBytes: 4), from: 2, peer: "w2") == .workerDone(2))
        #expect(phase.complete)
        _ = ClusterLinePhase.finish(phase.takeFiles(), failure: "test")
        // Worker 2 leaves with its early order unanswered: the last plan writes its records of the
        // prefix again, here, and its later ones too; worker 1's early records are not ordered again.
        var left = try ClusterLinePhase(results: results, evals: evals)
        left.add(early)
        #expect(left.forget(2) && !left.forget(3))
        let rewritten = try #require(places.plan(results: results.path, evals: evals.path, writtenHere: [2], from: 4, rewrittenHere: [2]))
        // Records below `from` written again here need the walk from 0: the start is not used.
        #expect(places.plan(results: results.path, evals: evals.path, writtenHere: [2], from: 4, rewrittenHere: [2], start: start) == rewritten)
        #expect(
            rewritten.here == [
                ClusterMessage.LineRun(first: 1, count: 1, resultsOffset: 10, evalsOffset: 0),
                ClusterMessage.LineRun(first: 3, count: 2, resultsOffset: 33, evalsOffset: 3),
            ] && rewritten.hereExpected.records == 3)
        #expect(rewritten.hereLines == [100..<150, 300..<350, 400..<450])
        #expect(rewritten.orders.keys.sorted() == [1] && rewritten.orders[1]?.first?.runs.map(\.first) == [5])
        _ = ClusterLinePhase.finish(left.takeFiles(), failure: "test")
    }

    /// `writeLines` travels as four numbers a run; a run that is not after the one before, is
    /// empty or negative is refused naming the field.
    @Test func writeLinesRoundTripsAndAMalformedRunIsRefused() throws {
        let codec = ClusterMessageCodec()
        let order = ClusterMessage.WriteLines(
            results: "/out/.streamed-output/results.jsonl", evals: nil,
            runs: [.init(first: 0, count: 3, resultsOffset: 0, evalsOffset: 0), .init(first: 7, count: 1, resultsOffset: 300, evalsOffset: 0)])
        for message in [ClusterMessage.writeLines(order), .linesWritten(.init(records: 4, resultsBytes: 400, evalsBytes: 0, failure: "x"))] {
            #expect(try codec.decode(codec.encode(message), peer: "p") == message)
        }
        let text = String(decoding: try codec.encode(.writeLines(order)), as: UTF8.self)
        #expect(text.contains(#""runs":[0,3,0,0,7,1,300,0]"#))
        for runs in ["[0,3,0,0,2,1,0,0]", "[0,0,0,0]", "[0,1,-5,0]", "[0,1,0]", "[-1,1,0,0]"] {
            let payload = Data(#"{"body":{"results":"/r","runs":\#(runs)},"type":"writeLines"}"#.utf8)
            #expect(throws: ChatbotTesterError.self, "\(runs)") { try codec.decode(payload, peer: "p") }
        }
    }
}

/// `WorkerLinePlaces`: a worker copies exactly its lines' `run` values and evaluations from the
/// journal, and refuses an index it did not journal or a line that is not the one it appended.
@Suite struct WorkerLinePlacesTests {
    /// The record of index `index` as a worker journals it (`index % 3` evaluations): its unit and its line.
    static func journaled(_ index: Int, input: String, output: String) throws -> (unit: Data, line: Data) {
        var run = RunRecord(sample: TestSample(id: "s\(index)", input: input), target: "bot")
        run.output = output
        let evals = (0..<(index % 3)).map { EvalRecord(sampleId: "s\(index)", metric: "m\($0)", type: "contains", status: .scored, score: 1, passed: true) }
        return try ClusterRecord(sampleId: "s\(index)", index: index, run: run, evals: evals).journaledUnit()
    }

    /// A journal holding `count` records appended as a worker appends them, two frames, and the
    /// places the worker noted.
    static func journal(in directory: URL, count: Int) throws -> (url: URL, places: WorkerLinePlaces, lines: [Data], units: [Data]) {
        let url = directory.appendingPathComponent("journal.jsonl")
        var file = Data("{\"torn\n".utf8)
        var places = WorkerLinePlaces()
        var lines: [Data] = [], units: [Data] = []
        for frame in [0..<(count / 2), (count / 2)..<count] {
            file.append(0x0A)
            let base = UInt64(file.count)
            var frameUnits: [Data] = []
            for index in frame.reversed() {
                let (unit, line) = try Self.journaled(index, input: "q \(index) \u{e9}", output: "a \"quoted\" answer \(index)")
                frameUnits.append(unit)
                file.append(line)
                lines.append(line)
                units.append(unit)
            }
            places.add(base: base, units: frameUnits)
        }
        try file.write(to: url)
        return (url, places, lines, units)
    }

    @Test func aWorkerWritesItsRunsValuesAndEvaluationsAtTheirOffsets() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (journal, places, _, _) = try Self.journal(in: directory, count: 10)
        // The whole files, each record's lines in dataset order, from the decoded records.
        let records = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").dropFirst().map { text in
            let line = Data(text.utf8)
            return try JSONByteScanner.members(ofObject: line).reduce(into: [String: Data]()) { map, member in
                map[member.name] = line[member.value]
            }
        }
        let ordered = records.sorted { Int(String(decoding: $0["index"]!, as: UTF8.self))! < Int(String(decoding: $1["index"]!, as: UTF8.self))! }
        var results = Data(), evals = Data()
        for record in ordered {
            results.append(record["run"]!)
            results.append(0x0A)
            let array = record["evals"]!
            for element in try JSONByteScanner.elements(ofArray: array) {
                evals.append(array[(array.startIndex + element.lowerBound)..<(array.startIndex + element.upperBound)])
                evals.append(0x0A)
            }
        }
        // This worker journaled 2..<5 and 7..<10 of them (the rest belong to another): it writes
        // only those, at the offsets given, into files of their final size.
        var offsets: [(Int, Int)] = [(0, 0)]
        for record in ordered {
            let last = offsets.last!
            let evalCount = try JSONByteScanner.elements(ofArray: record["evals"]!).reduce(0) { $0 + $1.count + 1 }
            offsets.append((last.0 + record["run"]!.count + 1, last.1 + evalCount))
        }
        let resultsURL = directory.appendingPathComponent("results.jsonl"), evalsURL = directory.appendingPathComponent("evals.jsonl")
        try Data(repeating: 0x2A, count: results.count).write(to: resultsURL)
        try Data(repeating: 0x2A, count: evals.count).write(to: evalsURL)
        let order = ClusterMessage.WriteLines(
            results: resultsURL.path, evals: evalsURL.path,
            runs: [
                .init(first: 2, count: 3, resultsOffset: offsets[2].0, evalsOffset: offsets[2].1),
                .init(first: 7, count: 3, resultsOffset: offsets[7].0, evalsOffset: offsets[7].1),
            ])
        let written = places.write(order, journal: journal.path)
        #expect(written.failure == nil, "\(written)")
        #expect(written.records == 6)
        let gotResults = try Data(contentsOf: resultsURL), gotEvals = try Data(contentsOf: evalsURL)
        #expect(written.resultsBytes == (offsets[5].0 - offsets[2].0) + (offsets[10].0 - offsets[7].0))
        #expect(gotResults[offsets[2].0..<offsets[5].0] == results[offsets[2].0..<offsets[5].0])
        #expect(gotResults[offsets[7].0..<offsets[10].0] == results[offsets[7].0..<offsets[10].0])
        #expect(gotResults[0..<offsets[2].0].allSatisfy { $0 == 0x2A } && gotResults[offsets[5].0..<offsets[7].0].allSatisfy { $0 == 0x2A })
        #expect(gotEvals[offsets[2].1..<offsets[5].1] == evals[offsets[2].1..<offsets[5].1])
        #expect(gotEvals[offsets[7].1..<offsets[10].1] == evals[offsets[7].1..<offsets[10].1])
        // Not scored: no evaluations file, none written.
        let unscored = places.write(.init(results: resultsURL.path, evals: nil, runs: [.init(first: 0, count: 1, resultsOffset: 0, evalsOffset: 0)]), journal: journal.path)
        #expect(unscored.failure == nil && unscored.evalsBytes == 0 && unscored.records == 1)
    }

    /// Orders that come while the run plays sort only the records added since the last order and
    /// merge them with the sorted ones: frames whose indexes interleave, sorted after each frame,
    /// write the same bytes as all of them sorted at once, and as an unsorted copy.
    @Test func sortingAsFramesComeWritesTheSameBytesAsSortingOnce() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let frames = [[5, 1, 9], [0, 8, 2], [7, 3, 6, 4], [11, 10]]
        var file = Data(), once = WorkerLinePlaces(), asTheyCome = WorkerLinePlaces(), unsorted = WorkerLinePlaces()
        for frame in frames {
            file.append(0x0A)
            let base = UInt64(file.count)
            var units: [Data] = []
            for index in frame {
                let (unit, line) = try Self.journaled(index, input: "q \(index)", output: "answer \(index)")
                units.append(unit)
                file.append(line)
            }
            once.add(base: base, units: units)
            unsorted.add(base: base, units: units)
            asTheyCome.add(base: base, units: units)
            asTheyCome.sortForWriting()
        }
        once.sortForWriting()
        let journal = directory.appendingPathComponent("journal.jsonl")
        try file.write(to: journal)
        var outputs: [Data] = []
        // Never sorted: `write` sorts a copy of its own.
        for (name, places) in [("once", once), ("as-they-come", asTheyCome), ("unsorted", unsorted)] {
            let results = directory.appendingPathComponent("results-\(name).jsonl"), evals = directory.appendingPathComponent("evals-\(name).jsonl")
            try Data().write(to: results)
            try Data().write(to: evals)
            let written = places.write(
                .init(results: results.path, evals: evals.path, runs: [.init(first: 0, count: 12, resultsOffset: 0, evalsOffset: 0)]), journal: journal.path)
            #expect(written.failure == nil && written.records == 12, "\(name): \(written)")
            outputs.append(try Data(contentsOf: results) + Data([0]) + Data(contentsOf: evals))
        }
        #expect(Set(outputs).count == 1)
        // Dataset order: s0's line first, s11's last.
        let text = String(decoding: outputs[0], as: UTF8.self)
        #expect(text.hasPrefix(#"{"#) && text.range(of: "answer 0")!.lowerBound < text.range(of: "answer 1\"")!.lowerBound)
        #expect(text.range(of: "answer 10")!.lowerBound < text.range(of: "answer 11")!.lowerBound)
    }

    /// The journal is read through a bounded window: a window far smaller than a line, or than the
    /// journal, and lines that come back out of journal order give the same bytes.
    @Test func aSmallWindowOnTheJournalWritesTheSameBytes() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var (journal, places, _, _) = try Self.journal(in: directory, count: 40)
        let order = { (results: URL, evals: URL) in
            ClusterMessage.WriteLines(
                results: results.path, evals: evals.path,
                runs: [.init(first: 0, count: 40, resultsOffset: 0, evalsOffset: 0)])
        }
        var outputs: [Data] = []
        for span in [4 << 20, 700, 64, 1] {
            let results = directory.appendingPathComponent("results-\(span).jsonl"), evals = directory.appendingPathComponent("evals-\(span).jsonl")
            try Data().write(to: results)
            try Data().write(to: evals)
            places.windowSpan = span
            let written = places.write(order(results, evals), journal: journal.path)
            #expect(written.failure == nil && written.records == 40, "span \(span): \(written)")
            outputs.append(try Data(contentsOf: results) + Data([0]) + Data(contentsOf: evals))
            // The first write sorts a copy of its own; the others use the order sorted once.
            places.sortForWriting()
        }
        #expect(outputs[0].count > 40 * 100)
        #expect(Set(outputs).count == 1)
        // The window itself: any range, in any order, is the file's bytes; past the end is refused.
        let bytes = try Data(contentsOf: journal)
        let fd = open(journal.path, O_RDONLY)
        defer { close(fd) }
        let window = WorkerLinePlaces.JournalWindow(fd: fd, path: journal.path, size: bytes.count, span: 100, behind: 10)
        var random = SeededGenerator(seed: 9)
        for _ in 0..<300 {
            let start = Int(random.next() % UInt64(bytes.count)), length = Int(random.next() % UInt64(min(400, bytes.count - start) + 1))
            let got = try window.line(at: UInt64(start), length: length)
            #expect(Data(got) == bytes[start..<(start + length)])
        }
        #expect(throws: (any Error).self) { try window.line(at: UInt64(bytes.count - 2), length: 3) }
        #expect(throws: (any Error).self) { try window.line(at: UInt64(bytes.count + 1), length: 0) }
    }

    @Test func anIndexItDidNotJournalOrALineThatChangedIsRefused() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (journal, places, _, _) = try Self.journal(in: directory, count: 6)
        let results = directory.appendingPathComponent("results.jsonl")
        try Data().write(to: results)
        let missing = places.write(.init(results: results.path, evals: nil, runs: [.init(first: 4, count: 3, resultsOffset: 0, evalsOffset: 0)]), journal: journal.path)
        #expect(missing.failure?.contains("index 6 is not one this worker journaled") == true, "\(missing)")
        let noJournal = places.write(.init(results: results.path, evals: nil, runs: [.init(first: 0, count: 1, resultsOffset: 0, evalsOffset: 0)]), journal: nil)
        #expect(noJournal.failure?.contains("did not append to the journal") == true)
        // A line rewritten in place (same size, other bytes): not the line this worker appended.
        var changed = try Data(contentsOf: journal)
        changed[changed.count - 1] = UInt8(ascii: " ")
        try changed.write(to: journal)
        let rewritten = places.write(.init(results: results.path, evals: nil, runs: [.init(first: 3, count: 3, resultsOffset: 0, evalsOffset: 0)]), journal: journal.path)
        #expect(rewritten.failure?.contains("is not the one this worker appended") == true, "\(rewritten)")
        // The journal cut short: the lines are no longer where they were appended.
        let handle = try FileHandle(forWritingTo: journal)
        try handle.truncate(atOffset: 40)
        try handle.close()
        let cut = places.write(.init(results: results.path, evals: nil, runs: [.init(first: 0, count: 6, resultsOffset: 0, evalsOffset: 0)]), journal: journal.path)
        #expect(cut.failure?.contains("is past the end of \(journal.path) (40 bytes)") == true, "\(cut)")
        // A file that is a symbolic link is not followed.
        let link = directory.appendingPathComponent("link.jsonl")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: results)
        let linked = places.write(.init(results: link.path, evals: nil, runs: [.init(first: 0, count: 1, resultsOffset: 0, evalsOffset: 0)]), journal: journal.path)
        #expect(linked.failure?.contains("cannot open") == true, "\(linked)")
    }
}
