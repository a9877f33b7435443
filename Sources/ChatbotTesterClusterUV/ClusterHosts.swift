import CLibUV
import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

/// Hosts a worker process: connect to a coordinator socket and run shards until told to stop.
///
/// An SDK user's own executable hosts a worker with its own registrations:
/// ```swift
/// var registry = BackendRegistry()
/// registry.register("my-company-llm") { options, context in try MyBackend(options, context) }
/// let exit = try await ClusterWorkerHost.run(connect: "/run/chatbot-tester/coordinator.sock",
///                                            registry: registry, factory: ClusterProcessors.factory())
/// ```
public enum ClusterWorkerHost {
    /// Set in the environment of workers a coordinator starts itself (`ClusterRun`): such a worker
    /// ignores SIGINT, so a Ctrl-C in the terminal reaches the coordinator, which stops the run and
    /// lets its workers finish the samples they hold.
    public static let coordinatorPIDVariable = "CHATBOT_TESTER_COORDINATOR_PID"
    /// How many threads a worker runs its tasks on (`ClusterWorker.Options.threads`) when its
    /// options do not say: set by a coordinator that starts several workers on its host
    /// (`ClusterRun`) to each one's share of the cores, so the workers do not each keep a thread
    /// per core waking the others'.
    public static let threadsVariable = "CHATBOT_TESTER_WORKER_THREADS"

    /// Connects (retrying for `connectTimeout` seconds while nothing listens yet) and runs.
    ///
    /// - Parameter events: the bus the worker and its processor emit on (the pipeline's processor
    ///   subscribes its event log there: see `PipelineShardProcessor`). Without one, the host makes
    ///   a bus and shuts it down before returning, so every sink on it is flushed; a caller that
    ///   passes its own calls `shutdown()` on it when done.
    public static func run(
        connect path: String, registry: BackendRegistry, factory: @escaping ShardProcessorFactory, events: EventBus? = nil,
        options: ClusterWorker.Options = .init(), connectTimeout: Double = 30
    ) async throws -> ClusterWorker.Exit {
        let environment = ProcessInfo.processInfo.environment
        if environment[coordinatorPIDVariable] != nil { signal(SIGINT, SIG_IGN) }
        var options = options
        if options.threads == nil && options.taskExecutor == nil { options.threads = try threads(environment: environment) }
        let bus = events ?? EventBus()
        let result: Result<ClusterWorker.Exit, any Error>
        do {
            result = .success(try await UVLoop.withLoop { loop in
                let connection = try await connectRetrying(path: path, loop: loop, timeout: connectTimeout)
                return await ClusterWorker.run(connection: connection, registry: registry, factory: factory, events: bus, options: options)
            })
        } catch {
            result = .failure(error)
        }
        if events == nil { await bus.shutdown() }
        return try result.get()
    }

    /// The threads `threadsVariable` asks for; nil when it is not set.
    ///
    /// - Throws: `invalidConfig` naming the variable when it is not a whole number in
    ///   `ClusterWorker.Options.threadsRange`.
    public static func threads(environment: [String: String]) throws -> Int? {
        guard let text = environment[threadsVariable] else { return nil }
        let range = ClusterWorker.Options.threadsRange
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), ClusterWorker.Options.threadsRange.contains(value) else {
            throw ChatbotTesterError(
                .invalidConfig, "\(threadsVariable) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text.prefix(40))'",
                location: SourceLocation(field: threadsVariable))
        }
        return value
    }

    /// The `threadsVariable` a coordinator gives each of `workers` workers it starts on a host
    /// with `cores` cores (by default the cores this process may use, `AvailableCores.count`):
    /// their share (at least one), or nil — Swift's pool, a thread per core — for a single worker.
    public static func threadsShare(workers: Int, cores: Int = AvailableCores.count) -> Int? {
        guard workers > 1 else { return nil }
        return max(1, cores / workers)
    }

    static func connectRetrying(path: String, loop: UVLoop, timeout: Double) async throws -> UVPipeConnection {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            do {
                return try await UVPipeConnection.connect(path: path, loop: loop)
            } catch let error as ChatbotTesterError where error.code == .transport && !error.message.contains("refused coordinator") {
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
    }
}

/// Hosts a coordinator: listen on a socket and serve a spool until its run is complete.
public enum ClusterCoordinatorHost {
    /// The environment variable that keeps a coordinator's tasks off its libuv loop (`0`); `1`, or
    /// unset, runs them there.
    public static let loopVariable = "CHATBOT_TESTER_COORDINATOR_ON_LOOP"

    /// Whether a coordinator with `options` runs its tasks on its libuv loop's thread (`UVLoop` as
    /// their executor): when the options name no executor of their own and `loopVariable` is not
    /// `0`. Each frame a worker sends then reaches the coordinator on the thread that read it, and
    /// what it sends back leaves from there — no hand-over to a thread of the pool and back per
    /// frame. A value other than `0` or `1` is a config error naming the variable.
    public static func runsOnLoop(_ options: ClusterCoordinator.Options, environment: [String: String]) throws -> Bool {
        switch environment[loopVariable]?.trimmingCharacters(in: .whitespaces) {
        case nil, "1": return options.taskExecutor == nil
        case "0": return false
        case let other?:
            throw ChatbotTesterError(
                .invalidConfig, "\(loopVariable) must be 0 or 1, not '\(other.prefix(40))'", location: SourceLocation(field: loopVariable))
        }
    }

    /// `options`, with `loop` as their tasks' executor when `runsOnLoop` says so.
    public static func options(
        _ options: ClusterCoordinator.Options, on loop: UVLoop, environment: [String: String]
    ) throws -> ClusterCoordinator.Options {
        var options = options
        if try runsOnLoop(options, environment: environment) { options.taskExecutor = loop }
        return options
    }

    /// Serves `spool` on `socketPath`; returns when every sample is journaled or a stop rule of
    /// `limits` (cost budget, failure policy: the coordinator's `RunLimits`, as every coordinator
    /// path applies them) stops the run (then merge).
    public static func serve(
        socketPath: String, spool: ClusterSpool, events: EventBus = EventBus(), options: ClusterCoordinator.Options = .init(),
        limits: RunLimits = RunLimits()
    ) async throws -> ClusterCoordinatorStats {
        try await UVLoop.withLoop { loop in
            let options = try Self.options(options, on: loop, environment: ProcessInfo.processInfo.environment)
            let listener = try await UVPipeListener.listen(path: socketPath, loop: loop) { reason in
                events.emit(ClusterTesterEvent(.connectionClosed(peer: socketPath, reason: reason)))
            }
            do {
                let stats = try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: options, limits: limits)
                listener.close()
                return stats
            } catch {
                listener.close()
                throw error
            }
        }
    }
}
