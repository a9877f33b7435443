import ChatbotTesterCore
import Foundation

/// Runs a worker over a connected `ClusterConnection`: hello, rebuild the job from `welcome`
/// through the host's registry, process assigned shards and stream records back in batches.
///
/// ```swift
/// var registry = BackendRegistry()
/// registry.register("my-company-llm") { options, context in try MyBackend(options) }
/// let connection = try await UVPipeConnection.connect(path: "/run/ct/coord.sock", loop: loop)
/// let exit = try await ClusterWorker.run(connection: connection, registry: registry, factory: ClusterProcessors.factory())
/// ```
public enum ClusterWorker {
    /// Tunables.
    public struct Options: Sendable {
        /// Shown in the coordinator's progress (default `host-pid`).
        public var workerId: String
        /// Records per `records` frame at most (records finished together share a frame).
        public var batchSize: Int
        /// While samples wait in its queue, how long a finished record may wait for others to share
        /// its frame (seconds; 20 ms by default: fewer, fuller frames for the coordinator to read);
        /// with nothing queued, records go at once.
        public var flushDelay: Double
        /// The worker's on-disk state (response cache…). `nil`: a fresh private directory
        /// (`mkdtemp`, 0700) made at welcome and removed on exit. A given directory is created 0700
        /// or, when it exists, must be owned by this user and closed to others — else the worker
        /// refuses to start (see `PrivateDirectory.verifyOrCreate`).
        public var stateDirectory: URL?
        /// Append records to the journal the coordinator offers (protocol 8) when this worker can
        /// open that very file (see `ClusterMessage.RecordJournal`): the coordinator then reads the
        /// lines back instead of receiving their bytes. `false`: always send records in frames.
        public var appendsToOfferedJournal = true
        /// The executor the worker's own tasks prefer — its lanes, its flusher, its heartbeat, the
        /// processor's build, its line writes; `nil` (the default): Swift's global concurrent pool.
        /// A process that runs a worker beside other busy work (a test host) can give it a thread of
        /// its own; `run` runs the worker under this preference.
        public var taskExecutor: (any TaskExecutor)?
        /// Run the worker's tasks on this many threads of its own (a `ThreadTaskExecutor` made for
        /// the run, stopped when it returns) instead of Swift's pool, which has one thread per
        /// core: a worker started beside others on one host takes its share of the cores (its
        /// coordinator says how many in `CHATBOT_TESTER_WORKER_THREADS`, which
        /// `ClusterWorkerHost.run` reads). Ignored when `taskExecutor` is set; `nil`: the pool.
        /// Taken within `threadsRange`.
        public var threads: Int?
        /// The thread counts a worker takes (`threads`, `CHATBOT_TESTER_WORKER_THREADS`, `worker --threads`).
        public static let threadsRange = 1...1024

        public init(workerId: String? = nil, batchSize: Int = 128, stateDirectory: URL? = nil, flushDelay: Double = 0.02) {
            let workerId = workerId ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
            self.workerId = workerId
            self.batchSize = max(1, batchSize)
            self.flushDelay = max(0, flushDelay)
            self.stateDirectory = stateDirectory
        }
    }

    /// How the worker ended.
    public struct Exit: Sendable, Hashable {
        /// Assignments received.
        public var assignments: Int
        /// Records sent.
        public var records: Int
        /// Why it stopped when not told to (`nil`: orderly shutdown).
        public var failure: String?
    }

    /// Runs until the coordinator says shutdown, the connection ends or the job cannot be built.
    public static func run(
        connection: any ClusterConnection, registry: BackendRegistry, factory: @escaping ShardProcessorFactory,
        events: EventBus = EventBus(), options: Options = Options()
    ) async -> Exit {
        var options = options
        var own: ThreadTaskExecutor?
        if options.taskExecutor == nil, let threads = options.threads {
            own = ThreadTaskExecutor(name: "worker", threads: min(Options.threadsRange.upperBound, max(Options.threadsRange.lowerBound, threads)))
            options.taskExecutor = own
        }
        defer { own?.shutdown() }
        let driver = WorkerDriver(connection: connection, registry: registry, factory: factory, events: events, options: options)
        // The driver's own hops (an actor's jobs go where the running task prefers) on the same
        // executor as its lanes.
        return await withTaskExecutorPreference(options.taskExecutor) { await driver.run() }
    }
}

/// The worker's I/O shell around `WorkerStateMachine` (the protocol) and `WorkerLaneMachine` (the
/// per-sample path: lanes, batches, the flusher; see `WorkerDriver+Lanes.swift`).
actor WorkerDriver {
    let connection: any ClusterConnection
    private let registry: BackendRegistry
    private let factory: ShardProcessorFactory
    private let events: EventBus
    private let options: ClusterWorker.Options
    /// `options.taskExecutor`: what the worker's own tasks prefer.
    nonisolated let executor: (any TaskExecutor)?
    private let codec = ClusterMessageCodec()
    private var machine: WorkerStateMachine
    private var building: Task<(any ShardProcessor)?, Never>?
    /// What the lanes share, under one lock (they run off this actor).
    let lanes: Locked<WorkerLanes>
    private var flusher: Task<Void, Never>?
    private var heartbeat: Task<Void, Never>?
    private var assignments = 0
    private var records = 0
    private var failure: String?
    private var exited = false
    private let budgets: ClusterBudgetClient
    private let breakers: ClusterBreakerClient
    private var freshStateDirectory: URL?
    /// The journal this worker appends its records to (protocol 8), when offered and usable.
    private var recordJournal: WorkerRecordJournal?
    /// Reads the samples of `assignByReference` frames from the spool beside that journal
    /// (protocol 10); nil while this worker does not journal.
    private var shardReader: WorkerShardReader?
    /// Where the lines this worker appended to the journal are (protocol 11: it may be asked to
    /// write them into the run's outputs at the end).
    private var linePlaces = WorkerLinePlaces()
    /// Where this worker keeps its records' report parts when the coordinator may ask for the
    /// reports' pieces (protocol 12, `Welcome.reportPieces`); nil otherwise.
    private var partSpill: WorkerPartSpill?
    /// Where `writeLines` orders are carried out, in the order they came.
    private let lineWriter = DispatchQueue(label: "chatbot-tester.worker-lines")

    init(connection: any ClusterConnection, registry: BackendRegistry, factory: @escaping ShardProcessorFactory, events: EventBus, options: ClusterWorker.Options) {
        self.connection = connection
        self.registry = registry
        self.factory = factory
        self.events = events
        self.options = options
        self.executor = options.taskExecutor
        self.machine = WorkerStateMachine(hello: ClusterMessage.Hello(workerId: options.workerId, pid: Int(getpid())))
        self.lanes = Locked(WorkerLanes(machine: WorkerLaneMachine(batchSize: options.batchSize, flushDelay: options.flushDelay)))
        let codec = codec
        let send: @Sendable (ClusterMessage) -> Void = { [connection] message in
            if let payload = try? codec.encode(message) { connection.enqueue([payload]) }
        }
        budgets = ClusterBudgetClient(send: send)
        breakers = ClusterBreakerClient(send: send)
    }

    func run() async -> ClusterWorker.Exit {
        perform(machine.start())
        for await payload in connection.frames {
            do {
                var message = try codec.decodeAtWorker(payload, peer: connection.peerDescription)
                if case .assignByReference(let assignment) = message {
                    // Read from the spool here; what cannot be read goes back to the coordinator,
                    // which then sends this worker the samples' bytes.
                    guard let samples = readByReference(assignment) else { continue }
                    message = .assign(ClusterMessage.Assignment(samples: samples, slots: assignment.slots))
                }
                perform(machine.received(message))
            } catch {
                perform(machine.failed(ChatbotTesterError.wrap(error, code: .proto)))
            }
            if exited { break }
        }
        if !exited && failure == nil {
            failure = connection.closeReason ?? "the coordinator closed the connection"
        }
        budgets.close()
        breakers.close()
        stopLanes(cancelling: true)
        building?.cancel()
        flusher?.cancel()
        heartbeat?.cancel()
        connection.close(reason: nil)
        if let freshStateDirectory { try? FileManager.default.removeItem(at: freshStateDirectory) }
        return ClusterWorker.Exit(assignments: assignments, records: records, failure: failure)
    }

    private func perform(_ actions: [WorkerStateMachine.Action]) {
        for action in actions {
            switch action {
            case .send(let message):
                do {
                    connection.enqueue([try codec.encode(message)])
                } catch {
                    failure = "cannot encode \(message.typeName): \(error)"
                }
            case .build(let welcome):
                startHeartbeat(every: welcome.heartbeatSeconds)
                let stateDirectory: URL
                do {
                    stateDirectory = try privateStateDirectory()
                } catch {
                    buildFailed(error)
                    continue
                }
                let factory = factory, registry = registry
                let budgets = budgets, breakers = breakers
                let context = ClusterWorkerContext(
                    events: events, makeRateBudget: { instance, _, _ in ClusterRateBudget(instance: instance, client: budgets) },
                    makeCircuitBreaker: { instance, settings in ClusterCircuitBreaker(instance: instance, settings: settings, client: breakers) },
                    stateDirectory: stateDirectory, workerId: options.workerId)
                // The offered journal, opened before any lane starts; why it is not used goes to the
                // worker's log once the processor (which may subscribe that log) is built.
                var notUsed: LogEvent?
                if options.appendsToOfferedJournal, let offer = welcome.recordJournal {
                    switch WorkerRecordJournal.open(offer) {
                    case .success(let journal):
                        recordJournal = journal
                        shardReader = WorkerShardReader(journalPath: offer.path)
                    case .failure(let why): notUsed = LogEvent(.info, "records travel in frames: \(why.message)", source: offer.path)
                    }
                }
                if let journal = recordJournal, welcome.reportPieces == true {
                    do {
                        // Beside the journal (the run's storage), else in the private state directory.
                        partSpill = try (try? WorkerPartSpill(in: URL(fileURLWithPath: journal.path).deletingLastPathComponent()))
                            ?? WorkerPartSpill(in: stateDirectory)
                    } catch {
                        // Orders asking for pieces are then answered with why not (the merge writes the reports).
                        events.emit(LogEvent(.warning, "report parts are not kept: \(error)", source: "cluster.output"))
                    }
                }
                let events = events, journalNotUsed = notUsed
                let building = Task(executorPreference: executor) { () -> (any ShardProcessor)? in
                    do {
                        let processor = try await factory(welcome.setup, registry, context)
                        if let journalNotUsed { events.emit(journalNotUsed) }
                        return processor
                    } catch {
                        await self.buildFailed(error)
                        return nil
                    }
                }
                self.building = building
                let journals = recordJournal != nil
                lanes.withLock {
                    $0.building = building
                    $0.machine.handBackAtFirstFailure = welcome.handBackQueueAtFirstFailure ?? false
                    $0.journalsRecords = journals
                    $0.samplesAsWritten = welcome.samplesAsWritten ?? false
                }
                if flusher == nil { flusher = Self.startFlusher(self) }
            case .process(let assignment):
                assignments += 1
                let starts = lanes.withLock { $0.machine.assigned(assignment.samples, slots: assignment.slots) }
                for item in starts { startLane(with: item) }
            case .release:
                let ids = lanes.withLock { $0.machine.release() }
                perform(machine.released(ids))
            case .sendRecords(let records):
                connection.enqueue([codec.encodeRecordsFrame(records)])
            case .sendFrame(let frame):
                connection.enqueue([frame])
            case .granted(let grant):
                budgets.granted(grant)
            case .breaker(let breaker):
                breakers.received(breaker)
            case .writeLines(let order):
                // Copying the lines reads and writes files for seconds on a large run: done on a
                // queue of this worker's (one order after another), off the pool and off this actor.
                linePlaces.sortForWriting()
                let places = linePlaces, journal = recordJournal?.path, codec = codec, connection = connection, events = events
                let queue = lineWriter, spill = partSpill, building = building
                Task(executorPreference: executor) {
                    let maker = order.pieces == nil ? nil : await building?.value?.reportPieceMaker
                    let pieces = maker.flatMap { maker in spill.map { WorkerLinePlaces.Pieces(maker: maker, spill: $0) } }
                    // `write` throws nothing: a failure is in its answer.
                    let written = (try? await BlockingIO.run(on: queue) { places.write(order, journal: journal, pieces: pieces) }) ?? ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
                    if let failure = written.failure {
                        events.emit(
                            LogEvent(.warning, "could not write the lines asked for (the coordinator merges them from the journal): \(failure)", source: "cluster.output"))
                    }
                    if let payload = try? codec.encode(.linesWritten(written)) { connection.enqueue([payload]) }
                }
            case .makeReports(let order):
                // Reading pieces and samples and writing the reports: on the lines' queue, off the
                // pool and off this actor, after every order to write lines.
                let journal = recordJournal?.path, codec = codec, connection = connection, events = events
                let queue = lineWriter, building = building
                Task(executorPreference: executor) {
                    var failure: String?
                    if let maker = await building?.value?.reportPieceMaker, let journal {
                        do {
                            try await BlockingIO.run(on: queue) { try maker.makeReports(order.order, journal: journal) }
                        } catch {
                            failure = "\(error)"
                        }
                    } else {
                        failure = "this worker makes no report pieces"
                    }
                    if let failure {
                        events.emit(LogEvent(.warning, "could not make the reports (the coordinator makes them): \(failure)", source: "cluster.output"))
                    }
                    if let payload = try? codec.encode(.reportsMade(ClusterMessage.ReportsMade(failure: failure))) { connection.enqueue([payload]) }
                }
            case .exit(let reason):
                exited = true
                if let reason { failure = reason }
                stopLanes(cancelling: false)
                connection.close(reason: nil)
            }
        }
    }

    /// The samples of `assignment`, read from the spool's shards; nil when they cannot be read (they
    /// are handed back, saying why, and the reason goes to this worker's log).
    private func readByReference(_ assignment: ClusterMessage.AssignmentByReference) -> [IndexedSample]? {
        var why = "this worker does not read the spool (it was not offered the journal, or could not open it)"
        do {
            if let samples = try shardReader?.samples(of: assignment) { return samples }
        } catch {
            why = error.description
        }
        events.emit(LogEvent(.warning, "samples assigned by reference could not be read; they go back to the coordinator: \(why)", source: "spool"))
        perform(machine.released(assignment.samples.map(\.id), unreadable: why))
        return nil
    }

    /// The configured state directory, verified private, or a fresh one.
    private func privateStateDirectory() throws -> URL {
        if let given = options.stateDirectory { return try PrivateDirectory.verifyOrCreate(given) }
        if let freshStateDirectory { return freshStateDirectory }
        let made = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-worker")
        freshStateDirectory = made
        return made
    }

    private func buildFailed(_ error: any Error) {
        perform(machine.failed(ChatbotTesterError.wrap(error, code: .invalidConfig)))
    }

    private func startHeartbeat(every seconds: Double) {
        let connection = connection
        let codec = codec
        let interval = max(0.05, seconds)
        heartbeat = Task(executorPreference: executor) {
            guard let beat = try? codec.encode(.heartbeat) else { return }
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                connection.enqueue([beat])
            }
        }
    }

    /// Starts a lane playing `item` (and then whatever it takes next).
    private func startLane(with item: IndexedSample) {
        let key = lanes.withLock { $0.nextLane() }
        let task = Self.makeLane(self, key: key, first: item)
        lanes.withLock { $0.started(key, task) }
    }

    /// Nothing more starts; `cancelling` also cancels the samples playing and the flusher.
    private func stopLanes(cancelling: Bool) {
        let (waiter, tasks) = lanes.withLock { lanes in
            lanes.machine.stop()
            return (lanes.wakeFlusher(), cancelling ? lanes.takeTasks() : [])
        }
        waiter?.resume()
        for task in tasks { task.cancel() }
    }

    /// A sample's processing failed beyond a per-sample error.
    func fail(_ error: ChatbotTesterError) {
        perform(machine.failed(error))
    }

    /// Hands back queued samples, unasked (after the frame carrying the worker's first failure).
    func handBackQueue(_ ids: [String]) {
        guard !exited else { return }
        perform(machine.released(ids))
    }

    /// Sends finished records as one frame.
    func send(_ frame: [WorkerEncodedRecord]) {
        guard !frame.isEmpty, !exited else { return }
        records += frame.count
        // Records whose lines this worker appends itself, and the others (all of them when it does
        // not journal; a backend-down record otherwise), each kind in its own frame.
        let journaled = frame.filter { $0.line != nil }
        let sent = journaled.isEmpty ? frame : frame.filter { $0.line == nil }
        if !journaled.isEmpty {
            guard let recordJournal else { return fail(ChatbotTesterError(.internal, "records encoded for a journal this worker does not hold")) }
            do {
                let base = try recordJournal.append(journaled.map { $0.line ?? Data() })
                // With the reports' pieces asked for, each part's body stays here (spilled) and the
                // frame carries the facts alone.
                let units = linePlaces.add(base: base, units: journaled.map(\.bytes), spill: partSpill)
                perform(machine.produced(sampleIds: journaled.map(\.sampleId), frame: codec.encodeJournaledFrame(base: base, units: units)))
            } catch {
                return fail(ChatbotTesterError.wrap(error, code: .io))
            }
        }
        if !sent.isEmpty { perform(machine.produced(sampleIds: sent.map(\.sampleId), records: sent.map(\.bytes))) }
    }
}
