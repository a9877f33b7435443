import ChatbotTesterCore
import DequeModule
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

        public init(workerId: String? = nil, batchSize: Int = 64, stateDirectory: URL? = nil, flushDelay: Double = 0.02) {
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
        let driver = WorkerDriver(connection: connection, registry: registry, factory: factory, events: events, options: options)
        return await driver.run()
    }
}

/// The worker's I/O shell around `WorkerStateMachine`.
actor WorkerDriver {
    private let connection: any ClusterConnection
    private let registry: BackendRegistry
    private let factory: ShardProcessorFactory
    private let events: EventBus
    private let options: ClusterWorker.Options
    private let codec = ClusterMessageCodec()
    private var machine: WorkerStateMachine
    private var processor: (any ShardProcessor)?
    private var building: Task<(any ShardProcessor)?, Never>?
    private var processing: [Int: Task<Void, Never>] = [:]
    private var nextProcessing = 0
    /// Samples held and not started (played as slots free).
    private var queue: Deque<IndexedSample> = []
    /// How many samples may play at once (the latest `assign`'s `slots`; `nil`: all held).
    private var slots: Int?
    private var heartbeat: Task<Void, Never>?
    private var batch: [(id: String, bytes: Data)] = []
    private var flushScheduled = false
    private var assignments = 0
    private var records = 0
    private var failure: String?
    private var exited = false
    private let budgets: ClusterBudgetClient
    private var freshStateDirectory: URL?

    init(connection: any ClusterConnection, registry: BackendRegistry, factory: @escaping ShardProcessorFactory, events: EventBus, options: ClusterWorker.Options) {
        self.connection = connection
        self.registry = registry
        self.factory = factory
        self.events = events
        self.options = options
        self.machine = WorkerStateMachine(hello: ClusterMessage.Hello(workerId: options.workerId, pid: Int(getpid())))
        let codec = codec
        budgets = ClusterBudgetClient { [connection] message in
            if let payload = try? codec.encode(message) { connection.enqueue([payload]) }
        }
    }

    func run() async -> ClusterWorker.Exit {
        perform(machine.start())
        for await payload in connection.frames {
            do {
                let message = try codec.decodeAtWorker(payload, peer: connection.peerDescription)
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
        for task in processing.values { task.cancel() }
        building?.cancel()
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
                let budgets = budgets
                let context = ClusterWorkerContext(
                    events: events, makeRateBudget: { instance, _, _ in ClusterRateBudget(instance: instance, client: budgets) },
                    stateDirectory: stateDirectory)
                building = Task { () -> (any ShardProcessor)? in
                    do {
                        let built = try await factory(welcome.setup, registry, context)
                        self.built(built)
                        return built
                    } catch {
                        self.buildFailed(error)
                        return nil
                    }
                }
            case .process(let assignment):
                assignments += 1
                if let given = assignment.slots { slots = max(1, given) }
                queue.append(contentsOf: assignment.samples)
                pump()
            case .release:
                let ids = queue.map(\.sample.id)
                queue.removeAll()
                perform(machine.released(ids))
            case .sendRecords(let records):
                connection.enqueue([codec.encodeRecordsFrame(records)])
            case .granted(let grant):
                budgets.granted(grant)
            case .exit(let reason):
                exited = true
                if let reason { failure = reason }
                connection.close(reason: nil)
            }
        }
    }

    /// The configured state directory, verified private, or a fresh one.
    private func privateStateDirectory() throws -> URL {
        if let given = options.stateDirectory { return try PrivateDirectory.verifyOrCreate(given) }
        if let freshStateDirectory { return freshStateDirectory }
        let made = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-worker")
        freshStateDirectory = made
        return made
    }

    private func built(_ processor: any ShardProcessor) {
        self.processor = processor
    }

    private func buildFailed(_ error: any Error) {
        perform(machine.failed(ChatbotTesterError.wrap(error, code: .invalidConfig)))
    }

    private func startHeartbeat(every seconds: Double) {
        let connection = connection
        let codec = codec
        let interval = max(0.05, seconds)
        heartbeat = Task {
            guard let beat = try? codec.encode(.heartbeat) else { return }
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                connection.enqueue([beat])
            }
        }
    }

    /// Starts queued samples while slots are free, each in its own task.
    private func pump() {
        while !exited, processing.count < (slots ?? Int.max), let item = queue.popFirst() {
            let building = building
            let key = nextProcessing
            nextProcessing += 1
            processing[key] = Task {
                if let processor = await building?.value {
                    await self.process(item, with: processor)
                }
                self.processed(key)
            }
        }
    }

    private func processed(_ key: Int) {
        processing[key] = nil
        pump()
    }

    private func process(_ item: IndexedSample, with processor: any ShardProcessor) async {
        // The sample's records, encoded in its own task and collected once it is back on this
        // actor: one hop per sample, not one more per record.
        let encoded = Locked<[(id: String, bytes: Data)]>([])
        var failure: (any Error)?
        do {
            try await processor.process([item]) { record in
                // The sample stays out when it is the one assigned (the coordinator has its bytes).
                do {
                    let bytes = try record.recordsFrameUnit(omittingSample: record.run.sample == item.sample)
                    encoded.withLock { $0.append((record.sampleId, bytes)) }
                } catch {
                    await self.fail(ChatbotTesterError(.internal, "cannot encode the record of '\(record.sampleId)': \(error)"))
                }
            }
        } catch {
            failure = error
        }
        for record in encoded.current { await collect(record.id, record.bytes) }
        if let failure, !Task.isCancelled { perform(machine.failed(ChatbotTesterError.wrap(failure))) }
    }

    private func fail(_ error: ChatbotTesterError) {
        perform(machine.failed(error))
    }

    /// Queues a finished record; records finished while a send is pending share its frame (and,
    /// while samples wait in the queue, those finished within `flushDelay`). A frame goes at once
    /// when the samples still queued are fewer than the records it holds: the run's concurrency is
    /// counted at the coordinator, which assigns more only once it has the records, so holding
    /// them longer would leave this worker idle (at latency 0 and `run.concurrency` 32 over two
    /// workers, the full 20 ms halved the run's throughput).
    private func collect(_ id: String, _ bytes: Data) async {
        batch.append((id, bytes))
        if batch.count >= options.batchSize {
            flush()
            await connection.waitUntilWritable()
        } else if flushScheduled, queue.count < batch.count {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            let delay = queue.isEmpty ? 0 : options.flushDelay
            Task {
                if delay > 0 { try? await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
                self.flush()
            }
        }
    }

    private func flush() {
        flushScheduled = false
        guard !batch.isEmpty, !exited else { return }
        let out = batch
        batch = []
        records += out.count
        perform(machine.produced(sampleIds: out.map(\.id), records: out.map(\.bytes)))
    }
}
