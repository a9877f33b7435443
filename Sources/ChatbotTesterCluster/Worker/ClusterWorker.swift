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
        /// Records per `records` frame at most.
        public var batchSize: Int
        /// A partial batch is sent after this many seconds.
        public var flushInterval: Double
        /// The worker's on-disk state (response cache…). `nil`: a fresh private directory
        /// (`mkdtemp`, 0700) made at welcome and removed on exit. A given directory is created 0700
        /// or, when it exists, must be owned by this user and closed to others — else the worker
        /// refuses to start (see `PrivateDirectory.verifyOrCreate`).
        public var stateDirectory: URL?

        public init(workerId: String? = nil, batchSize: Int = 64, flushInterval: Double = 0.05, stateDirectory: URL? = nil) {
            let workerId = workerId ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
            self.workerId = workerId
            self.batchSize = max(1, batchSize)
            self.flushInterval = flushInterval
            self.stateDirectory = stateDirectory
        }
    }

    /// How the worker ended.
    public struct Exit: Sendable, Hashable {
        /// Shards completed.
        public var shards: Int
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
    private var processing: Task<Void, Never>?
    private var heartbeat: Task<Void, Never>?
    private var flusher: Task<Void, Never>?
    private var batch: [ClusterRecord] = []
    private var shards = 0
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
                let message = try codec.decode(payload, peer: connection.peerDescription)
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
        processing?.cancel()
        building?.cancel()
        heartbeat?.cancel()
        flusher?.cancel()
        connection.close(reason: nil)
        if let freshStateDirectory { try? FileManager.default.removeItem(at: freshStateDirectory) }
        return ClusterWorker.Exit(shards: shards, records: records, failure: failure)
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
                let building = building
                processing = Task {
                    guard let processor = await building?.value else { return }
                    await self.process(assignment, with: processor)
                }
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

    private func process(_ assignment: ClusterMessage.Assignment, with processor: any ShardProcessor) async {
        let interval = options.flushInterval
        flusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(max(0.001, interval) * 1e9))
                self.flush()
            }
        }
        do {
            try await processor.process(assignment.samples) { record in
                await self.collect(record)
            }
            flusher?.cancel()
            guard !Task.isCancelled else { return }
            flush()
            shards += 1
            perform(machine.finishedShard())
        } catch {
            flusher?.cancel()
            perform(machine.failed(ChatbotTesterError.wrap(error)))
        }
    }

    private func collect(_ record: ClusterRecord) async {
        batch.append(record)
        if batch.count >= options.batchSize {
            flush()
            await connection.waitUntilWritable()
        }
    }

    private func flush() {
        guard !batch.isEmpty, !exited else { return }
        let out = batch
        batch = []
        records += out.count
        perform(machine.produced(out))
    }
}
