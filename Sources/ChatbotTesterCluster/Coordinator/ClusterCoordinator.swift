import ChatbotTesterCore
import Foundation

/// Runs a coordinator over a spool and a listener until every sample is journaled, then merges.
///
/// Workers may come and go at any time; a restarted coordinator on the same spool resumes from
/// the journal.
public enum ClusterCoordinator {
    /// Tunables.
    public struct Options: Sendable {
        public var machine: CoordinatorStateMachine.Configuration
        /// Seconds between journal fsyncs while records arrive (records are batched between syncs).
        public var journalSyncInterval: Double
        /// Seconds between clock ticks (heartbeats, lost-worker checks).
        public var tickInterval: Double
        /// Seconds to let workers leave after the last record before closing their connections.
        public var shutdownGrace: Double
        /// Play again the samples whose recorded result is an error (`--resume --retry-errors`).
        public var retryErrors = false
        /// Seconds between two progress events of one worker: the records a worker returns
        /// meanwhile are summed into its next one (every record is counted; the last ones are
        /// reported before the run's end).
        public var progressInterval: Double = 0.1
        /// Seconds the listener stays open after the run (at most `shutdownGrace`), so that a worker
        /// arriving just then is told to shut down instead of retrying. 0 when every worker is one
        /// this process started on a private socket (`ClusterRun`): those that are late are stopped
        /// by their supervisor, so the run waits for no one.
        public var lateWorkerWindow: Double = 0.5
        /// Sees each record as it is journaled (a sharded `test` writing its outputs while the run
        /// plays); nil: none.
        public var journalSink: (any ClusterJournalSink)?
        /// Keep the journal's index in memory as lines are appended (about 100 bytes per record),
        /// so that a merge right after the run takes it instead of scanning the journal (the SDK's
        /// `ClusterRun`). Off when the outputs are written as the run plays (`journalSink`: a
        /// sharded `test`): a merge then runs only after an interrupt or when that output gave
        /// up, and scans; the coordinator's memory then does not grow with the run.
        public var keepsJournalIndex = true
        /// Keep each journaled record's report part in the spool's side file (`journal.parts`), so
        /// that a merge feeds the parts to the reports instead of decoding the records (the SDK's
        /// `ClusterRun`, a resumed `test`). Off when the outputs are written as the run plays
        /// (`journalSink`): the sink takes the parts, and a merge, rare then, decodes the lines the
        /// side file has no part for (the side file is still cut to the journal, so what earlier
        /// sessions kept stays usable). Saves writing about a third of the journal's bytes again.
        public var keepsReportParts = true
        /// Offer the spool's journal to the workers (protocol 8): a worker that can open that very
        /// file (the same host and mount, the same user) appends its records' lines to it itself
        /// and sends only where they went, each record's index and its report part (a `journaled`
        /// frame); the coordinator reads the lines back to check them and feed `journalSink`, and
        /// never carries or appends their bytes. Only with a `journalSink` and neither index nor
        /// side file kept (a fresh sharded `test`): those record where the coordinator appended each
        /// line. A worker that cannot open the file sends its records as before.
        public var recordsJournaledByWorkers = false
        /// Name samples by their shard and index (`assignByReference`, protocol 10) to a worker
        /// that journals its records itself (its first `journaled` frame shows it opened the
        /// spool's journal: the same host, mount and user), which reads them from the spool's
        /// shards; the coordinator then neither reads the shards for it nor carries their bytes.
        /// Its first samples, and every sample of a worker that does not journal or handed some
        /// back unreadable, travel as bytes (`assign`).
        public var assignsByReference = true
        /// With workers writing their lines (protocol 11): `writeLines` orders for the complete
        /// prefix of the dataset go out while the run plays, once that prefix holds this many
        /// records not yet ordered and at least half as many as were ordered before (so a run of
        /// a million cases sends about ten); the end of the run then writes only the rest. 0:
        /// every order at the end.
        public var earlyLineRecords = 16_384
        /// The executor the coordinator's own tasks prefer — accepting workers, reading their frames,
        /// the clock, the journal's syncs, budget grants, shard reads; `nil` (the default): Swift's
        /// global concurrent pool. A process that runs a coordinator beside other busy work (a test
        /// host) can give it a thread of its own; call `run` from a task with the same preference.
        public var taskExecutor: (any TaskExecutor)?

        public init(
            machine: CoordinatorStateMachine.Configuration = .init(), journalSyncInterval: Double = 0.02, tickInterval: Double = 0.25,
            shutdownGrace: Double = 2
        ) {
            self.machine = machine
            self.journalSyncInterval = journalSyncInterval
            self.tickInterval = tickInterval
            self.shutdownGrace = shutdownGrace
        }
    }

    /// Serves `listener` until the spool's run is complete or stopped (budget, failure policy, or
    /// this task cancelled: an interrupt); returns what happened, with the stop reason.
    ///
    /// A spool still being written (`ClusterSpoolWriter.partialSpool`) is served as its shards are
    /// committed: workers are welcomed at once and handed samples from the first shard on (with
    /// `holdsShards`, from the moment the writer released them all); the run completes once the
    /// spool is complete and every sample journaled, and stops with the writer's error when the
    /// spool cannot be completed.
    ///
    /// - Parameter limits: the run's cost budget and failure policy (`run.budgetUSD`,
    ///   `run.failurePolicy`); what earlier sessions of this spool spent counts against the budget.
    /// - Throws: `.io` when the journal cannot be written or a spool file cannot be read (the run
    ///   stops; rerun to resume).
    public static func run(
        spool: ClusterSpool, listener: any ClusterListener, events: EventBus = EventBus(), options: Options = Options(),
        limits: RunLimits = RunLimits()
    ) async throws -> ClusterCoordinatorStats {
        let resume = try spool.resumeState(spending: limits.budgetUSD != nil, retryErrors: options.retryErrors, events: events)
        let journal = try FileJournal(url: spool.journalURL, mode: 0o600)
        var options = options
        if options.recordsJournaledByWorkers, options.journalSink != nil, !options.keepsJournalIndex, !options.keepsReportParts {
            let identity = try journal.fileIdentity()
            options.machine.recordJournal = ClusterMessage.RecordJournal(path: spool.journalURL.path, device: identity.device, inode: identity.inode)
            // Workers append to it too: a piece one of them left when killed mid-write must not
            // swallow the first line of what is appended next.
            journal.separatesWrites = true
        } else {
            options.machine.recordJournal = nil
        }
        // What the resume's scan seeded is dropped with it: the merge scans.
        if !options.keepsJournalIndex { spool.journalLog.invalidate() }
        spool.reportPartsLog.open(spool: spool.directory, journal: spool.journalURL)
        // Cut to the journal either way; closed at once, nothing more is appended to it.
        if !options.keepsReportParts { spool.reportPartsLog.close() }
        defer { spool.reportPartsLog.close() }
        let limits = RunLimits(budgetUSD: limits.budgetUSD, failurePolicy: limits.failurePolicy, spentUSD: resume.spentUSD)
        let driver = CoordinatorDriver(spool: spool, journal: journal, resume: resume, limits: limits, events: events, options: options)
        let stats = try await driver.run(listener: listener)
        // The journal is closed: the index kept while appending serves the merge.
        spool.journalLog.seal(spool.journalURL)
        return stats
    }
}

/// What a coordinator run did.
public struct ClusterCoordinatorStats: Sendable, Hashable {
    /// Samples in the run.
    public var total: Int
    /// Samples already journaled when the run started (a resume).
    public var resumed: Int
    /// Workers that connected.
    public var workersJoined: Int
    /// Workers lost mid-run.
    public var workersLost: Int
    /// Samples handed out again after their worker was lost.
    public var reassignments: Int
    /// Per worker id: samples it journaled first.
    public var samplesByWorker: [String: Int]
    /// Rate-budget grants handed to workers (one per rate-limited backend call).
    public var budgetGrants: Int = 0
    /// Why the run ended (`completed`: every sample journaled).
    public var stopReason: RunStopReason = .completed
    /// Samples journaled when the run ended (earlier sessions included).
    public var journaled: Int = 0
    /// Dollars spent by the whole run so far (earlier sessions included).
    public var spentUSD: Double = 0
    /// The statistics of every record the run keeps (earlier sessions included, each sample once
    /// by the record-key rule) with an example message per error code, summed as records are
    /// journaled from what each record says (`ClusterRunFacts`): what the run's summary reports.
    public var totals = ClusterRunTotals()
    /// Samples recorded as errors by earlier sessions and kept (not played again).
    public var keptErrors: Int = 0
    /// Samples given up: in flight when a stop's grace ran out, or refused by a backend that is
    /// down (a resume plays them).
    public var abandoned: Int = 0
    /// Records dropped because their sample was already recorded (at-least-once execution).
    public var duplicateRecords: Int = 0
    /// Records whose line a worker appended to the journal itself (`journaled` frames): the
    /// coordinator read them back rather than receiving and appending them.
    public var journaledByWorkers: Int = 0
    /// `writeLines` plans sent while the run played (protocol 11, `Options.earlyLineRecords`).
    public var earlyLinePlans: Int = 0
    /// Samples handed out by reference (`assignByReference`): their workers read them from the
    /// spool's shards.
    public var assignedByReference: Int = 0
    /// The dataset indexes of the samples the run counted as journaled (`journaled` of them,
    /// earlier sessions included). The journal may hold a line more: a worker that appended its
    /// record itself and was lost, or stopped, before the coordinator counted it — a merge from the
    /// journal finds it there (see `ShardedRunStage`).
    public var recordedIndexes = IndexSet()
}

/// The coordinator's I/O shell around `CoordinatorStateMachine`.
actor CoordinatorDriver {
    private let spool: ClusterSpool
    private let journal: FileJournal
    private let events: EventBus
    private let options: ClusterCoordinator.Options
    private let codec = ClusterMessageCodec()
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private var machine: CoordinatorStateMachine
    private var connections: [Int: any ClusterConnection] = [:]
    private var joinedAt: [String: Double] = [:]
    private var nextId = 1
    /// Connections we closed with a reported reason.
    private var reported: Set<Int> = []
    private var failure: (any Error)?
    /// Set once the run is over; `run` waits for it.
    private var finish = OneShotSlot<Void, Never>()
    private var finished: Bool { finish.isSet }
    private var stats: ClusterCoordinatorStats
    private let budgets: ClusterBudgetServer
    /// Per worker id: progress not reported yet (records summed since its last progress event)
    /// and when its last one went out.
    private var pendingProgress: [String: ClusterEvent] = [:]
    private var progressReportedAt: [String: Double] = [:]

    /// Shard lines loaded for assignments, by shard id (a few shards at a time), in dataset order.
    private var loadedShards: [Int: [ClusterSpool.SampleLine]] = [:]
    private var loadOrder: [Int] = []
    /// Shard reads under way, by shard id.
    private var loadingShards: [Int: Task<[ClusterSpool.SampleLine], any Error>] = [:]
    /// The bytes of every sample handed out and not journaled yet, by dataset index: put back into
    /// records that travel without their sample.
    private var heldSamples: [Int: Data] = [:]
    /// `options.keepsJournalIndex`.
    private let keepsIndex: Bool
    /// Whether workers were offered the journal (`journaled` frames).
    private let workersJournal: Bool
    /// Lines workers appended since the last sync (the next tick fsyncs the file for them).
    private var workerLinesPending = false
    /// Connections whose worker journals its records itself: handed samples by reference.
    private var readsShards: Set<Int> = []
    /// Connections whose worker could not read samples by reference: handed their bytes.
    private var linesOnly: Set<Int> = []
    /// The sink whose `results.jsonl` and `evals.jsonl` lines the workers write at the end
    /// (protocol 11), when the workers journal their records.
    private let lineSink: (any ClusterWorkerWrittenLines)?
    /// Whether the workers make the reports' pieces (protocol 12: the sink wants them).
    private let reportPieces: Bool
    /// Per worker connection: the pieces file of each of its orders not answered yet (nil: the
    /// order named none), in the order sent (a worker answers its orders one after another).
    private var piecesFiles: [Int: [String?]] = [:]
    /// With the workers making the pieces: the workers that wrote every line asked of them, kept
    /// (not told to leave) until the reports are made, since one of them may be asked to make them
    /// (protocol 13).
    private var keptForReports: Set<Int> = []
    /// The worker asked to make the reports, and until when the coordinator waits for its answer.
    private var reportsAsked: (id: Int, peer: String, deadline: Double, started: Double)?
    /// Where each journaled record's lines go (with a `lineSink`).
    private var places = ClusterLinePlaces()
    /// The journal's bytes the workers' `journaled` frames covered (each write: its leading newline
    /// and its lines), and the workers lost meanwhile: at the end, a lost worker's loss matters to
    /// the streamed output only when the journal holds bytes no frame reported (with a `lineSink`).
    private var reportedJournal = IndexSet()
    private var lostWorkers: [String] = []
    /// Where the coordinator writes its own part of the lines and then syncs the files, in order.
    private nonisolated let lineQueue = DispatchQueue(label: "chatbot-tester.coordinator-lines")
    /// The workers writing their lines, from the first order sent while the run plays
    /// (`orderEarlyLines`) or from the end of the run (`startLinePhase`).
    private var linePhase: ClusterLinePhase?
    private var linePhaseStarted = false
    /// The indexes below this were ordered while the run played.
    private var orderedThrough = 0
    /// Where the orders sent while the run played left the files (at `orderedThrough`).
    private var orderedStart: ClusterLinePlaces.Start?
    /// Why the lines cannot be written as the workers were asked while the run played (the sink is
    /// told at the end); its answers are then ignored.
    private var earlyLinesFailure: String?
    /// No more orders go out before the end (a worker of the prefix had left).
    private var earlyLinesStopped = false
    /// Workers that left before they answered an order sent while the run played: the end has the
    /// coordinator write their records again, from the journal.
    private var leftWithEarlyOrders: Set<Int> = []

    init(spool: ClusterSpool, journal: FileJournal, resume: ClusterSpool.ResumeState, limits: RunLimits, events: EventBus, options: ClusterCoordinator.Options) {
        let journaled = resume.journaled
        self.spool = spool
        self.journal = journal
        self.events = events
        self.options = options
        self.keepsIndex = options.keepsJournalIndex
        self.workersJournal = options.machine.recordJournal != nil
        let lineSink = options.machine.recordJournal != nil ? options.journalSink as? any ClusterWorkerWrittenLines : nil
        self.lineSink = lineSink
        self.reportPieces = lineSink?.wantsReportPieces ?? false
        self.origin = clock.now
        self.budgets = ClusterBudgetServer(registry: spool.setup.registry)
        var configuration = options.machine
        configuration.reportPieces = reportPieces
        self.machine = CoordinatorStateMachine(
            manifest: spool.manifest, journaled: journaled, setup: spool.setup, limits: limits, configuration: configuration,
            spoolComplete: !spool.isPartial)
        self.stats = ClusterCoordinatorStats(
            total: spool.manifest.sampleCount, resumed: journaled.count, workersJoined: 0, workersLost: 0, reassignments: 0, samplesByWorker: [:])
        stats.totals = resume.totals
        stats.keptErrors = resume.keptErrors
    }

    private var now: Double {
        let elapsed = clock.now - origin
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    func run(listener: any ClusterListener) async throws -> ClusterCoordinatorStats {
        // A spool whose shards are held until its source is checked says how many samples it
        // serves once it knows (`follow`).
        if spool.feed?.holds != true { events.emit(ClusterTesterEvent(.runStarted(total: stats.total, resumed: stats.resumed))) }
        await perform(machine.start())
        let acceptor = Task(executorPreference: options.taskExecutor) {
            while let connection = await listener.accept() {
                await self.add(connection)
            }
        }
        let ticker = Task(executorPreference: options.taskExecutor) {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(self.options.tickInterval * 1e9))
                await self.tick()
            }
        }
        // The fsync runs on the journal's own queue, off the cooperative pool; appends go on
        // meanwhile into its buffer, in order.
        let syncer = Task(executorPreference: options.taskExecutor) {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(self.options.journalSyncInterval * 1e9))
                await self.syncJournal()
            }
        }
        // A spool being written: its shards join the run as they are committed.
        let follower = spool.feed.map { feed in Task(executorPreference: options.taskExecutor) { await self.follow(feed) } }
        await withTaskCancellationHandler {
            await waitUntilFinished()
        } onCancel: {
            // An interrupt: stop starting samples, let those in flight finish (within the grace).
            Task(executorPreference: options.taskExecutor) { await self.stop(.cancelled) }
        }
        ticker.cancel()
        syncer.cancel()
        follower?.cancel()
        // Everything journaled must be durable before the run counts as done.
        let closing: Result<Void, any Error>
        do {
            try await journal.close()
            closing = .success(())
        } catch {
            closing = .failure(error)
        }
        // Let workers read `shutdown` and leave, then close whoever is left. The listener stays
        // open a moment, so a worker arriving just now is told to shut down instead of retrying.
        let finishedAt = now
        let deadline = finishedAt + options.shutdownGrace
        while (!connections.isEmpty || now < finishedAt + min(options.lateWorkerWindow, options.shutdownGrace)) && now < deadline {
            do { try await Task.sleep(nanoseconds: 20_000_000) } catch { break }
        }
        listener.close()
        acceptor.cancel()
        for connection in connections.values { connection.close(reason: nil) }
        if let failure { throw failure }
        try closing.get()
        flushProgress(olderThan: nil)
        stats.journaled = machine.completedCount
        stats.recordedIndexes = IndexSet()
        for range in machine.recordedRanges { stats.recordedIndexes.insert(integersIn: range) }
        stats.spentUSD = machine.runLimits.spentUSD
        stats.abandoned = machine.abandonedCount
        stats.duplicateRecords = machine.duplicateCount
        events.emit(ClusterTesterEvent(.runFinished(total: stats.total, journaled: stats.journaled, reason: stats.stopReason.rawValue)))
        return stats
    }

    /// Takes the shards of a spool being written as they are committed, until it is complete (or
    /// fails: the run then fails with the writer's error).
    private func follow(_ feed: SpoolShardFeed) async {
        do {
            while let update = try await feed.next() {
                if let total = update.total {
                    stats.total = total
                    if feed.holds { events.emit(ClusterTesterEvent(.runStarted(total: total, resumed: stats.resumed))) }
                }
                await perform(machine.spooled(manifestShards: update.shards, complete: update.total != nil))
                if update.total != nil { return }
            }
        } catch is CancellationError {
            // The run is over.
        } catch {
            fail(error)
            // Nothing more is handed out: the workers need not finish what they hold.
            for connection in connections.values { connection.close(reason: nil) }
        }
    }

    /// Stops starting samples (an interrupt, or a caller's decision).
    func stop(_ reason: RunStopReason) async {
        await perform(machine.stop(reason))
    }

    private func waitUntilFinished() async {
        if finished { return }
        _ = await withCheckedContinuation { (waiter: OneShotSlot<Void, Never>.Waiter) in
            if let outcome = finish.wait(waiter) { waiter.resume(returning: outcome) }
        }
    }

    private func markFinished() {
        finish.set(.success(()))?.resume()
    }

    private func add(_ connection: any ClusterConnection) async {
        let id = nextId
        nextId += 1
        connections[id] = connection
        await perform(machine.connected(id, now: now))
        Task(executorPreference: options.taskExecutor) { await self.read(connection, id: id) }
    }

    /// Hands each frame of `connection` to `frame`, on this actor: the loop is isolated to it, so
    /// a frame costs no hop off and back.
    private func read(_ connection: any ClusterConnection, id: Int) async {
        for await payload in connection.frames {
            await frame(payload, from: id)
        }
        await closed(id)
    }

    private func frame(_ payload: Data, from id: Int) async {
        guard let connection = connections[id] else { return }
        do {
            // Records are scanned, not decoded: their bytes go to the journal as received.
            switch try codec.decodeIncoming(payload, peer: connection.peerDescription) {
            case .records(let records):
                if let missing = records.first(where: { $0.sampleOmitted && heldSamples[$0.index] == nil }) {
                    await perform(machine.violation(id, reason: "record for sample '\(missing.sampleId)' leaves its sample out, and no such sample is held"))
                    return
                }
                await perform(machine.received(records: records, from: id, now: now))
            case .journaled(let batch):
                let records = try readBack(batch, from: id, peer: connection.peerDescription)
                let actions = machine.received(records: records, from: id, now: now)
                let kept = actions.reduce(0) { count, action in
                    if case .journal(let journaled) = action { return count + journaled.count }
                    return count
                }
                if kept < records.count {
                    discardSink("\(records.count - kept) of the records \(connection.peerDescription) journaled were refused or dropped")
                }
                if options.assignsByReference && workersJournal { readsShards.insert(id) }
                await perform(actions)
            case .message(let message):
                if case .linesWritten(let answer) = message {
                    await linesAnswered(answer, from: id, peer: connection.peerDescription)
                    return
                }
                if case .reportsMade(let answer) = message {
                    guard reportsAsked?.id == id else {
                        return await perform(machine.violation(id, reason: "reportsMade without a makeReports to answer"))
                    }
                    return reportsAnswered(failure: answer.failure.map { "\(connection.peerDescription) could not make them: \($0.prefix(2000))" })
                }
                if case .released(let released) = message, let why = released.unreadable, linesOnly.insert(id).inserted {
                    events.emit(
                        LogEvent(
                            .warning,
                            "\(connection.peerDescription) could not read samples by reference (\(why.prefix(2000))); it is sent their bytes from now on",
                            source: spool.directory.path))
                }
                await perform(machine.received(message, from: id, now: now))
            }
        } catch {
            // A refused `journaled` frame leaves its lines in the journal.
            discardSink("a frame of \(connection.peerDescription) was refused")
            await perform(machine.violation(id, reason: ChatbotTesterError.wrap(error, code: .proto).description))
        }
    }

    // MARK: The workers write their lines (protocol 11)

    /// Notes where a journaled record's lines go: its worker writes them at the end (or the
    /// coordinator, from the journal, when that worker has left), unless the coordinator appended
    /// it (then no worker can, and the merge writes the files).
    private func place(_ record: ClusterRecordEnvelope) {
        guard record.journaledByWorker, let worker = record.journaledBy else { return places.unplace() }
        var evals = 0
        for element in record.evalRanges { evals += element.count + 1 }
        places.place(index: record.index, worker: worker, resultsBytes: record.runRange.count + 1, evalsBytes: evals, line: record.journalLine)
    }

    /// The run's end, when the workers write their lines: makes the files at their final size and
    /// sends each worker that journaled records its `writeLines` orders (the workers it sends
    /// none are told to leave as usual); the lines of workers that have left it writes itself, from
    /// the journal. Tells the sink why not when the lines cannot all be written: a run interrupted
    /// or with samples abandoned in flight, a record the coordinator journaled. Does nothing after
    /// a failure (the run fails; the sink is never called).
    private func startLinePhase(_ reason: RunStopReason) {
        guard let sink = lineSink, !linePhaseStarted else { return }
        linePhaseStarted = true
        func giveUp(_ why: String?) {
            // Orders sent while the run played: their files are closed, their answers ignored.
            if linePhase != nil {
                earlyLinesFailure = earlyLinesFailure ?? why ?? "the run failed"
                closeEarlyFiles()
            }
            if let why { sink.linesWritten(failure: why) }
        }
        guard failure == nil else { return giveUp(nil) }
        if let why = earlyLinesFailure { return sink.linesWritten(failure: why) }
        guard reason != .cancelled else { return giveUp("the run was interrupted") }
        guard machine.abandonedCount == 0 else { return giveUp("\(machine.abandonedCount) samples were abandoned in flight") }
        let files = sink.lineFiles
        // The lines of workers that have left (lost mid-run) are written here, from the journal.
        let gone = places.workers.filter { connections[$0] == nil }
        guard places.unplaced == 0 else {
            return giveUp("\(places.unplaced) records were journaled without a worker that can write their lines")
        }
        if let first = lostWorkers.first, let why = unreportedJournal() {
            let reason = "worker \(first) was lost\(lostWorkers.count > 1 ? " (and \(lostWorkers.count - 1) more)" : ""), and \(why)"
            discardSink(reason)
            return giveUp(reason)
        }
        guard
            let plan = places.plan(
                results: files.results.path, evals: files.evals?.path, writtenHere: gone, from: orderedThrough, rewrittenHere: leftWithEarlyOrders,
                start: orderedStart)
        else {
            return giveUp("records of a worker that has left have no known place in the journal")
        }
        do {
            if var phase = linePhase {
                try phase.finish(with: plan, now: now)
                linePhase = phase
            } else {
                linePhase = try ClusterLinePhase(plan: plan, results: files.results, evals: files.evals, now: now)
            }
        } catch {
            return giveUp("cannot make the files: \(error)")
        }
        if let why = sendOrders(plan, sink: sink) { return endLinePhase(failure: why) }
        // The sink writes its reports while the lines are written.
        sink.linesOrdered(records: machine.completedCount, places: places, journal: spool.journalURL)
        if !plan.here.isEmpty {
            let journal = spool.journalURL, queue = lineQueue
            Task(executorPreference: options.taskExecutor) {
                let written = (try? await BlockingIO.run(on: queue) { ClusterLinePhase.writeHere(plan, journal: journal, results: files.results, evals: files.evals) })
                    ?? ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0, failure: "the write did not run")
                await self.hereWritten(written)
            }
        }
        if linePhase?.complete == true { endLinePhase(failure: nil) }
    }

    /// While the run plays: once the complete prefix of the dataset holds enough records not yet
    /// ordered (`Options.earlyLineRecords`), sends their workers `writeLines` orders for them, so
    /// the end of the run has only the rest to write. Stops for good (the end then orders the rest)
    /// when a worker of that prefix has left; does nothing when the lines go to the merge anyway.
    private func orderEarlyLines() {
        guard let sink = lineSink, !linePhaseStarted, !earlyLinesStopped, earlyLinesFailure == nil, failure == nil, options.earlyLineRecords > 0,
            places.unplaced == 0
        else { return }
        let ready = places.prefix - orderedThrough
        guard ready >= max(options.earlyLineRecords, orderedThrough / 2) else { return }
        let files = sink.lineFiles
        guard
            let plan = places.plan(
                results: files.results.path, evals: files.evals?.path, from: orderedThrough, upTo: places.prefix, start: orderedStart),
            plan.orders.keys.allSatisfy({ connections[$0] != nil })
        else {
            earlyLinesStopped = true
            return
        }
        do {
            var phase = try linePhase ?? ClusterLinePhase(results: files.results, evals: files.evals)
            phase.add(plan)
            linePhase = phase
        } catch {
            earlyLinesFailure = "cannot make the files: \(error)"
            return
        }
        orderedThrough = places.prefix
        orderedStart = ClusterLinePlaces.Start(after: plan, index: places.prefix)
        stats.earlyLinePlans += 1
        if let why = sendOrders(plan, sink: sink) {
            // The run goes on; the merge writes the outputs at the end.
            earlyLinesFailure = why
            closeEarlyFiles()
        }
    }

    /// Sends each worker its orders of `plan`, each naming a fresh pieces file when the workers
    /// make the reports' pieces. Why not, when an order cannot be encoded (none is sent then: an
    /// order never sent would be waited for until the phase's deadline).
    private func sendOrders(_ plan: ClusterLinePlaces.Plan, sink: any ClusterWorkerWrittenLines) -> String? {
        var frames: [(Int, [Data])] = []
        for (worker, orders) in plan.orders.sorted(by: { $0.key < $1.key }) {
            guard connections[worker] != nil else { continue }
            var encoded: [Data] = []
            for var order in orders {
                if reportPieces {
                    order.pieces = sink.piecesFile()
                    piecesFiles[worker, default: []].append(order.pieces)
                }
                do {
                    encoded.append(try codec.encode(.writeLines(order)))
                } catch {
                    return "cannot encode the writeLines order of worker connection \(worker): \(error)"
                }
            }
            frames.append((worker, encoded))
        }
        for (worker, encoded) in frames { connections[worker]?.enqueue(encoded) }
        return nil
    }

    /// Gives up the orders sent while the run played: closes their files (nothing is synced; the
    /// merge writes the outputs) and ignores their answers.
    private func closeEarlyFiles() {
        guard var phase = linePhase, !phase.isFinal else { return }
        linePhase = nil
        let files = phase.takeFiles()
        lineQueue.async { for handle in files { try? handle.close() } }
    }

    /// Why the journal holds lines no `journaled` frame reported (a worker lost in the middle of a
    /// write, or before it sent the frame of what it wrote); nil when every byte of it is inside a
    /// reported write.
    private func unreportedJournal() -> String? {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: spool.journalURL.path)[.size] as? NSNumber)?.intValue else {
            return "the journal's size cannot be read"
        }
        guard size > 0 else { return nil }
        if reportedJournal.contains(integersIn: 0..<size) { return nil }
        let gaps = IndexSet(integersIn: 0..<size).subtracting(reportedJournal)
        return "the journal holds \(gaps.count) bytes no frame reported (from offset \(gaps.first ?? 0))"
    }

    /// The coordinator's own part of the line phase is written (or why not).
    private func hereWritten(_ answer: ClusterMessage.LinesWritten) {
        guard linePhase?.awaits(ClusterLinePhase.here) == true else { return }
        switch linePhase?.answered(answer, from: ClusterLinePhase.here, peer: "the coordinator") {
        case .workerDone:
            if linePhase?.complete == true { endLinePhase(failure: nil) }
        case .fail(let why):
            endLinePhase(failure: why)
        case .wait, nil:
            break
        }
    }

    /// A worker's `linesWritten`: once every order of every worker is answered with what it was
    /// asked to write, the files are synced and the run ends.
    private func linesAnswered(_ answer: ClusterMessage.LinesWritten, from id: Int, peer: String) async {
        // Answers to orders given up while the run played.
        if earlyLinesFailure != nil && linePhase == nil { return }
        guard linePhase?.awaits(id) == true else {
            return await perform(machine.violation(id, reason: "linesWritten without a writeLines to answer"))
        }
        if reportPieces, var files = piecesFiles[id], !files.isEmpty {
            let path = files.removeFirst()
            piecesFiles[id] = files
            if let path, let summary = answer.pieces, answer.failure == nil { lineSink?.piecesWritten(summary, path: path) }
        }
        switch linePhase?.answered(answer, from: id, peer: peer) {
        case .workerDone(let id):
            if reportPieces {
                keptForReports.insert(id)
            } else if let payload = try? codec.encode(.shutdown) {
                connections[id]?.enqueue([payload])
            }
            if linePhase?.complete == true { endLinePhase(failure: nil) }
        case .fail(let why):
            if linePhase?.isFinal == false {
                // While the run plays: it goes on, and the merge writes the outputs at the end.
                earlyLinesFailure = why
                closeEarlyFiles()
            } else {
                endLinePhase(failure: why)
            }
        case .wait, nil:
            break
        }
    }

    /// Ends the write phase: syncs and closes the files (on `BlockingIO`'s queue: an fsync of
    /// gigabytes of lines must not hold one of the cooperative pool's threads), then tells the
    /// sink how it went, tells the workers (those still writing too) to leave, and ends the run.
    private func endLinePhase(failure: String?) {
        guard var phase = linePhase else { return }
        linePhase = nil
        let files = phase.takeFiles()
        Task(executorPreference: options.taskExecutor) {
            // On the queue the coordinator's own part of the lines is written on: after it.
            let why = (try? await BlockingIO.run(on: self.lineQueue) { ClusterLinePhase.finish(files, failure: failure) }) ?? failure
            await self.linesEnded(phase, why: why)
        }
    }

    /// The rest of `endLinePhase`, once the files are synced and closed.
    private func linesEnded(_ phase: ClusterLinePhase, why: String?) {
        if why == nil, let plan = phase.plan {
            let here = phase.recordsHere
            let adopted = here == 0 ? "" : "; the coordinator wrote those of \(here) records of workers that had left"
            let early = phase.earlyPlans == 0 ? "" : " (\(phase.earlyPlans) of \(phase.earlyPlans + 1) orders sent while the run played)"
            events.emit(
                LogEvent(
                    .debug,
                    "the workers wrote the lines of \(places.placed) records (\(plan.resultsBytes) bytes of results, \(plan.evalsBytes) of evaluations)\(early)\(adopted)",
                    source: "cluster.output"))
        }
        lineSink?.linesWritten(failure: why)
        if let payload = try? codec.encode(.shutdown) {
            for id in phase.stillWriting { connections[id]?.enqueue([payload]) }
        }
        if why == nil, askForReports() { return }
        releaseKept()
        markFinished()
    }

    // MARK: A worker makes the reports (protocol 13)

    /// Asks one of the workers kept after writing their lines to put the reports' pieces together
    /// (`makeReports`), when the sink has an order for it; tells the others to leave. Whether one
    /// was asked (the run then ends with its answer, `reportsAnswered`).
    private func askForReports() -> Bool {
        guard failure == nil, let sink = lineSink, let id = keptForReports.sorted().first(where: { connections[$0] != nil }),
            let connection = connections[id], let order = sink.reportsOrder()
        else { return false }
        guard let payload = try? codec.encode(.makeReports(ClusterMessage.MakeReports(order: order))) else {
            sink.reportsMade(failure: "the makeReports order cannot be encoded")
            return false
        }
        keptForReports.remove(id)
        releaseKept()
        // As the lines' deadline: generous, and growing with the run (the pieces are copied whole).
        reportsAsked = (id, connection.peerDescription, now + 30 + Double(machine.completedCount) / 10_000, now)
        connection.enqueue([payload])
        return true
    }

    /// How the reports went: the answer of the worker asked (`failure` nil: it made them), or why
    /// it gave none (it left, or took too long); the sink is told, the worker leaves, the run ends.
    private func reportsAnswered(failure why: String?) {
        guard let asked = reportsAsked else { return }
        reportsAsked = nil
        lineSink?.reportsMade(failure: why)
        if let payload = try? codec.encode(.shutdown) { connections[asked.id]?.enqueue([payload]) }
        if let why { events.emit(LogEvent(.warning, "the coordinator makes the reports itself: \(why)", source: "cluster.output")) }
        markFinished()
    }

    /// Tells the workers kept for the reports to leave.
    private func releaseKept() {
        guard !keptForReports.isEmpty, let payload = try? codec.encode(.shutdown) else { return }
        for id in keptForReports.sorted() { connections[id]?.enqueue([payload]) }
        keptForReports = []
    }

    /// The records of a `journaled` frame, their lines read back from the journal (one read for the
    /// frame) and each checked against what the frame says of it.
    private func readBack(_ batch: ClusterJournaledRecords, from id: Int, peer: String) throws -> [ClusterRecordEnvelope] {
        guard workersJournal else {
            throw ChatbotTesterError(.proto, "a journaled frame, but this run offered no journal", location: SourceLocation(source: peer, field: "journaled"))
        }
        let span = batch.span
        let bytes: Data
        do {
            bytes = try journal.read(span)
        } catch {
            throw ChatbotTesterError(.proto, "journaled frame names bytes \(span) of the journal: \(error)", location: SourceLocation(source: peer, field: "journaled"))
        }
        let start = bytes.startIndex - span.lowerBound
        // The worker wrote a newline of its own before the frame's lines.
        if span.lowerBound > 0 { reportedJournal.insert(integersIn: (span.lowerBound - 1)..<span.upperBound) }
        var records: [ClusterRecordEnvelope] = []
        records.reserveCapacity(batch.items.count)
        for position in batch.items.indices {
            let line = batch.items[position].line
            do {
                records.append(try ClusterRecordEnvelope(journaledLine: bytes[(start + line.lowerBound)..<(start + line.upperBound)], item: batch.items[position], by: id))
            } catch let error as ClusterRecordEnvelope.ShapeError {
                throw ChatbotTesterError(
                    .proto, "refused journaled record at \(line.lowerBound) of the journal: \(error.message)",
                    location: SourceLocation(source: peer, field: "journaled[\(position)].\(error.field)"))
            }
        }
        return records
    }

    /// Tells the sink the journal holds lines it will not see (see `ClusterJournalSink.discard`).
    private func discardSink(_ reason: String) {
        guard workersJournal else { return }
        options.journalSink?.discard(reason)
    }

    private func closed(_ id: Int) async {
        guard let connection = connections.removeValue(forKey: id) else { return }
        keptForReports.remove(id)
        if reportsAsked?.id == id { reportsAnswered(failure: "\(connection.peerDescription) left before it made them") }
        if linePhase?.isFinal == false {
            // Its orders of the run so far are written again at the end, by the coordinator.
            if linePhase?.forget(id) == true { leftWithEarlyOrders.insert(id) }
        } else if let why = linePhase?.left(id, peer: connection.peerDescription) {
            endLinePhase(failure: why)
        }
        if reported.remove(id) == nil, connection.closedForViolation, let reason = connection.closeReason {
            // Closed by the transport itself (oversized frame); EOF and I/O errors are reported as lost workers.
            events.emit(ClusterTesterEvent(.connectionClosed(peer: connection.peerDescription, reason: reason)))
        }
        await perform(machine.disconnected(id, reason: connection.closeReason))
    }

    private func tick() async {
        flushProgress(olderThan: options.progressInterval)
        if let why = linePhase?.expired(now: now) { endLinePhase(failure: why) }
        if let asked = reportsAsked, now >= asked.deadline {
            reportsAnswered(failure: "\(asked.peer) did not make them within \(Int(asked.deadline - asked.started)) s")
        }
        await perform(machine.tick(now: now))
    }

    /// Reports the progress held back for each worker whose last report is at least `age` seconds
    /// old (all of it when `age` is nil).
    private func flushProgress(olderThan age: Double?) {
        for (workerId, event) in pendingProgress where age.map({ now - (progressReportedAt[workerId] ?? 0) >= $0 }) ?? true {
            pendingProgress[workerId] = nil
            progressReportedAt[workerId] = now
            emit(event)
        }
    }

    private func syncJournal() async {
        guard journal.hasPendingLines || workerLinesPending else { return }
        // Whatever workers appended so far is in the file: this fsync covers it.
        workerLinesPending = false
        do {
            try await journal.sync()
        } catch {
            fail(error)
        }
    }

    private func fail(_ error: any Error) {
        guard !finished else { return }
        failure = error
        markFinished()
    }

    private func perform(_ actions: [CoordinatorStateMachine.Action]) async {
        // The run's last batch: workers that write their lines are told to leave once they have.
        let finishing: RunStopReason? =
            lineSink != nil && !linePhaseStarted
            ? actions.lazy.compactMap { action -> RunStopReason? in
                if case .finished(let reason) = action { return reason }
                return nil
            }.first : nil
        for action in actions {
            switch action {
            case .send(let id, let message):
                if case .shutdown = message, let finishing {
                    startLinePhase(finishing)
                    if linePhase?.awaits(id) == true { continue }
                }
                guard let connection = connections[id], let payload = try? codec.encode(message) else { continue }
                connection.enqueue([payload])
            case .assign(let id, let refs):
                // After a failure (a damaged shard, say) nothing more is handed out.
                guard !finished, let connection = connections[id] else { continue }
                if readsShards.contains(id), !linesOnly.contains(id), let assignment = byReference(refs, slots: machine.slots(for: id)) {
                    stats.assignedByReference += refs.count
                    connection.enqueue([codec.encodeAssignByReference(assignment)])
                    continue
                }
                do {
                    var lines: [Data] = []
                    lines.reserveCapacity(refs.count)
                    for ref in refs {
                        let line = try await sample(ref)
                        heldSamples[ref.index] = line.sample
                        lines.append(line.line)
                    }
                    // The shard may have been read off the actor meanwhile: look again.
                    guard !finished, let connection = connections[id] else { continue }
                    connection.enqueue([codec.encodeAssign(lines: lines, slots: machine.slots(for: id))])
                } catch {
                    fail(error)
                }
            case .journal(let records):
                do {
                    // Each record borrowed from the array, not copied out of it (an envelope holds a
                    // dozen references: a copy and its release per record showed in profiles).
                    for position in records.indices { try journalRecord(records[position]) }
                    if lineSink != nil { orderEarlyLines() }
                } catch {
                    spool.journalLog.invalidate()
                    spool.reportPartsLog.invalidate()
                    fail(error)
                }
            case .close(let id, let reason):
                guard let connection = connections[id] else { continue }
                if let reason {
                    // A worker closed for a fault may have journaled lines it did not report.
                    discardSink("\(connection.peerDescription) was closed: \(reason)")
                    reported.insert(id)
                    events.emit(ClusterTesterEvent(.connectionClosed(peer: connection.peerDescription, reason: reason)))
                }
                connection.close(reason: reason)
            case .grantBudget(let id, let request):
                guard let connection = connections[id] else { continue }
                let budgets = budgets, codec = codec
                stats.budgetGrants += 1
                Task(executorPreference: options.taskExecutor) {
                    do {
                        try await budgets.acquire(request)
                        connection.enqueue([try codec.encode(.budgetGrant(.init(requestId: request.requestId, backend: request.backend)))])
                    } catch {
                        // Cancelled: the run is over.
                    }
                }
            case .report(let event):
                record(event)
            case .finished(let reason):
                stats.stopReason = reason
                startLinePhase(reason)
                // With workers writing their lines, the run ends once they have.
                if linePhase == nil { markFinished() }
            }
        }
    }

    /// Counts and journals one record of a `.journal` action (the worker appended its line
    /// already, or the coordinator appends it now), and hands it to the sink.
    private func journalRecord(_ record: borrowing ClusterRecordEnvelope) throws {
        // The sample travels one way only: its bytes go back into the record here.
        let held = heldSamples.removeValue(forKey: record.index)
        if lineSink != nil { place(record) }
        if record.journaledByWorker {
            // Its line is in the journal already (the worker appended it).
            if !stats.totals.add(reportedBy: record) { stats.totals.add(try ClusterRunFacts(scanningRunOf: copy record)) }
            workerLinesPending = true
            stats.journaledByWorkers += 1
            // A sink whose workers make the reports' pieces reads nothing of a record as it comes.
            if reportPieces { return }
            options.journalSink?.journaled(
                line: record.bytes, sample: nil, sampleRange: record.sampleRange, index: record.index, run: record.runRange,
                evals: record.evalsRange, evalElements: record.evalRanges, reportPart: record.reportPart)
            return
        }
        guard record.sampleOmitted, var held else {
            if !stats.totals.add(reportedBy: record) { stats.totals.add(try ClusterRunFacts(scanningRunOf: copy record)) }
            try journal.appendNow(record.bytes)
            // Where the line went, so the merge need not scan the journal for it.
            if keepsIndex { spool.journalLog.appended(record) }
            spool.reportPartsLog.appended(record)
            options.journalSink?.journaled(
                line: record.bytes, sample: nil, sampleRange: record.sampleRange, index: record.index, run: record.runRange,
                evals: record.evalsRange, evalElements: record.evalRanges.isEmpty ? nil : record.evalRanges, reportPart: record.reportPart)
            return
        }
        // A case the spool holds as the dataset wrote it goes back encoded, as one
        // process writes it (a worker journaling its lines encodes it itself).
        if spool.manifest.samplesAsWritten == true { held = try ClusterSpool.encodedSample(asWritten: held) }
        // The line is never built: its pieces (the record around the sample, and the
        // sample) are copied once, into the journal's buffer; the sink gets them too.
        let shape = record.splicedShape(sampleCount: held.count)
        if !stats.totals.add(reportedBy: record) { stats.totals.add(try ClusterRunFacts(scanningRunOf: record.splicingSample(held))) }
        let bytes = record.bytes, start = bytes.startIndex, cut = record.sampleRange
        try journal.appendNow(bytes[start..<(start + cut.lowerBound)], held, bytes[(start + cut.upperBound)...])
        if keepsIndex { spool.journalLog.appended(record, count: shape.count) }
        spool.reportPartsLog.appended(record, count: shape.count)
        options.journalSink?.journaled(
            line: bytes, sample: held, sampleRange: cut, index: record.index, run: record.runRange, evals: record.evalsRange,
            evalElements: nil, reportPart: record.reportPart)
    }

    /// `refs` named by shard and index, with each shard they are in as the manifest records it;
    /// nil when a shard is not known (then the samples travel as bytes, and loading the shard names
    /// the fault).
    private func byReference(_ refs: [CoordinatorStateMachine.SampleRef], slots: Int?) -> ClusterMessage.AssignmentByReference? {
        var shards: [ClusterMessage.ShardReference] = []
        for ref in refs where !shards.contains(where: { $0.id == ref.shardId }) {
            guard let shard = spool.shard(ref.shardId) else { return nil }
            shards.append(ClusterMessage.ShardReference(shard))
        }
        return ClusterMessage.AssignmentByReference(
            shards: shards, samples: refs.map { ClusterMessage.SampleReference(index: $0.index, id: $0.id) }, slots: slots)
    }

    /// One sample of the spool, loading its shard when it is not loaded yet (the last few stay).
    /// The shard file is read, hashed and scanned off the cooperative pool; one read per shard
    /// even when several assignments wait for it.
    private func sample(_ ref: CoordinatorStateMachine.SampleRef) async throws -> ClusterSpool.SampleLine {
        let shard: [ClusterSpool.SampleLine]
        if let cached = loadedShards[ref.shardId] {
            shard = cached
        } else {
            let load: Task<[ClusterSpool.SampleLine], any Error>
            if let pending = loadingShards[ref.shardId] {
                load = pending
            } else {
                let spool = spool, shardId = ref.shardId
                load = Task(executorPreference: options.taskExecutor) { try await spool.sampleLinesOffPool(ofShard: shardId) }
                loadingShards[ref.shardId] = load
            }
            let result = await load.result
            loadingShards[ref.shardId] = nil
            shard = try result.get()
            if loadedShards[ref.shardId] == nil {
                loadedShards[ref.shardId] = shard
                loadOrder.append(ref.shardId)
                if loadOrder.count > 4 { loadedShards[loadOrder.removeFirst()] = nil }
            }
        }
        // A shard's lines are its samples in dataset order, one per index from its first.
        let position = ref.index - (shard.first?.index ?? 0)
        guard shard.indices.contains(position), case let found = shard[position], found.index == ref.index, found.id == ref.id else {
            throw ChatbotTesterError(
                .invalidInput, "shard \(ref.shardId) has no sample '\(ref.id)' at index \(ref.index): the spool was changed after it was planned",
                location: SourceLocation(source: spool.directory.path))
        }
        return found
    }

    private func record(_ event: ClusterEvent) {
        switch event {
        case .workerJoined(let workerId, _):
            stats.workersJoined += 1
            joinedAt[workerId] = now
        case .workerLost(let workerId, _, let requeued):
            // It may have journaled lines it did not report: with workers writing the lines, the
            // journal is checked at the end (`unreportedJournal`); else the streamed output gives up.
            if lineSink == nil {
                discardSink("worker \(workerId) was lost")
            } else {
                lostWorkers.append(workerId)
            }
            stats.workersLost += 1
            stats.reassignments += requeued
            // Its last records are reported before its loss.
            if let pending = pendingProgress.removeValue(forKey: workerId) {
                progressReportedAt[workerId] = now
                emit(pending)
            }
        case .progress(let workerId, let added, let completed, let total, let mine):
            stats.samplesByWorker[workerId, default: 0] += added
            // At most one progress event per worker per `progressInterval`: records arriving
            // sooner are summed into the next (a frame of records is one event at most).
            var summed = added
            if case .progress(_, let earlier, _, _, _) = pendingProgress[workerId] { summed += earlier }
            let pending = ClusterEvent.progress(workerId: workerId, added: summed, completed: completed, total: total, workerCompleted: mine)
            if now - (progressReportedAt[workerId] ?? -.infinity) < options.progressInterval {
                pendingProgress[workerId] = pending
                return
            }
            pendingProgress[workerId] = nil
            progressReportedAt[workerId] = now
            emit(pending)
            return
        case .runFinished, .stopping, .abandoned:
            flushProgress(olderThan: nil)
        default:
            break
        }
        events.emit(ClusterTesterEvent(event))
    }

    /// Emits `event` (a progress event with its worker's rate since it joined).
    private func emit(_ event: ClusterEvent) {
        var rate: Double?
        if case .progress(let workerId, _, _, _, let mine) = event, let start = joinedAt[workerId], now > start {
            rate = Double(mine) / (now - start)
        }
        events.emit(ClusterTesterEvent(event, workerSamplesPerSecond: rate))
    }
}
