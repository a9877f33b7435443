import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester worker --connect PATH`: runs shards for a coordinator until it says shutdown.
/// `chatbot-tester worker --store URL [--shard INDEX]`: plays and scores one shard of an indexed
/// run (`plan`), with no coordinator.
///
/// Backends and metrics are rebuilt from the job config (the coordinator's, or the plan's), with
/// every built-in type; secrets (`{env: NAME}`) are resolved from this process' environment. To add your own
/// types, host a worker from your own executable with `ClusterWorkerHost.run`.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run shards for a coordinator, or one shard of an indexed run.",
        discussion: """
            With --connect: exit 0 after the coordinator's shutdown, 3 when no coordinator could be \
            reached or it was lost. With --store (the shard: --shard, else JOB_COMPLETION_INDEX, else \
            SLURM_ARRAY_TASK_ID): exit 0 the shard is done (every case journaled); 1 a failure a retry \
            may fix (the store or network), retry; 2 a config error (no plan, an index outside it, a \
            damaged spool, this environment expands the config differently from the plan), do not \
            retry; 3 a stop rule ended it (this index's share of the budget or failure policy, the \
            target down), do not retry; 143 interrupted (SIGTERM, Ctrl-C), retry: it resumes. \
            Progress goes to standard error as `test`'s; every event of the attempt is logged to \
            events/shard-NNNNN/<attempt>.jsonl in the store.
            """)

    @Option(help: "The coordinator's Unix socket.") var connect: String?
    @Option(help: "The name shown in the coordinator's progress (default: host-pid).") var workerId: String?
    @Option(help: "Seconds to keep retrying while the coordinator is not listening yet.") var connectTimeout = 30.0
    @Option(
        help: """
            With --connect: run this worker's cases on N threads of its own (default: \(ClusterWorkerHost.threadsVariable), which a \
            coordinator starting several workers sets to each one's share of the cores; else one per core).
            """)
    var threads: Int?
    @Option(help: "An indexed run's store (s3://bucket/prefix, file:///path or a directory), as given to `plan`.") var store: String?
    @Option(help: "With --store: the shard index (default: JOB_COMPLETION_INDEX, else SLURM_ARRAY_TASK_ID).") var shard: Int?
    @Flag(help: "With --store: play again the cases earlier attempts on this index recorded as errors (a success replaces the error).")
    var retryErrors = false
    @Option(help: "With --store: seconds between this attempt's state updates in the store (what `status` reads).")
    var heartbeat = 15.0
    @Flag(help: "With --store: no progress display on standard error.") var noProgress = false

    func validate() throws {
        if (connect == nil) == (store == nil) { throw ValidationError("give either --connect PATH (a coordinator) or --store URL (an indexed run)") }
        let range = ClusterWorker.Options.threadsRange
        if let threads, !range.contains(threads) { throw ValidationError("--threads must be from \(range.lowerBound) to \(range.upperBound)") }
        if store != nil, threads != nil { throw ValidationError("--threads needs --connect") }
        if store == nil, shard != nil || retryErrors || noProgress { throw ValidationError("--shard, --retry-errors and --no-progress need --store") }
        if !(heartbeat > 0 && heartbeat <= 3600) { throw ValidationError("--heartbeat must be more than 0 and at most 3600 seconds") }
    }

    func run() async throws {
        if let store {
            throw ExitCode(await runIndexed(store: store))
        }
        try await withExitCodes {
            let exit: ClusterWorker.Exit
            do {
                var options = ClusterWorker.Options(workerId: workerId)
                options.threads = threads
                if try Self.runsOnHTTPLoop(threads: threads, environment: ProcessInfo.processInfo.environment) {
                    options.taskExecutor = HTTPClient.loopExecutor
                }
                exit = try await ClusterWorkerHost.run(
                    connect: connect ?? "", registry: .builtin(), factory: ClusterProcessors.factory(metrics: .builtinMetrics),
                    options: options, connectTimeout: connectTimeout)
            } catch let error as ChatbotTesterError where error.code == .transport {
                // No coordinator (not started, or the run is over): aborted, not a usage error.
                printError("worker: \(error)")
                return ExitStatus.aborted
            }
            if let failure = exit.failure {
                printError("worker stopped: \(failure)")
                return ExitStatus.aborted
            }
            return ExitStatus.ok
        }
    }

    /// One shard of an indexed run; returns the exit status (see the discussion).
    private func runIndexed(store url: String) async -> Int32 {
        do {
            let index = try IndexedRun.shardIndex(explicit: shard, environment: ProcessInfo.processInfo.environment)
            let target = try IndexedStore(url)
            let events = CommandEvents()
            events.showProgress(!noProgress)
            let status = try await IndexedStore.withScratch { scratch in
                var configured = IndexedWorker(store: target.store, name: target.name, shard: index, scratch: scratch)
                configured.retryErrors = retryErrors
                configured.heartbeatSeconds = heartbeat
                let worker = configured
                return try await events.run {
                    try await worker.run(registry: .builtin(), factory: ClusterProcessors.factory(metrics: .builtinMetrics), events: events.bus)
                }
            }
            let counts = "\(status.resumed + status.played) of \(status.cases) cases recorded (\(status.played) now, \(status.errors) errors)"
            switch status.state {
            case .done:
                printError("worker: shard \(index) done: \(counts)")
                return ExitStatus.ok
            case .stopped:
                printError("worker: shard \(index) stopped (\(status.stopReason?.rawValue ?? "stopped")): \(counts)")
                return ExitStatus.aborted
            case .interrupted:
                printError("worker: shard \(index) interrupted: \(counts); run it again to resume")
                return 128 + SIGTERM
            case .failed, .running:
                printError("worker: shard \(index) failed: \(status.message ?? "unknown error"); \(counts)")
                return ExitStatus.failed
            }
        } catch let error as ChatbotTesterError {
            printError("worker: \(error)")
            switch error.code {
            case .invalidConfig, .invalidInput, .missingSecret, .unknownType: return ExitStatus.usage
            default: return ExitStatus.failed
            }
        } catch {
            printError("worker: \(error)")
            return ExitStatus.failed
        }
    }
}

extension WorkerCommand {
    /// The environment variable that keeps a one-thread worker's tasks off the HTTP client's loop
    /// (`0`); `1`, or unset, runs them there.
    static let httpLoopVariable = "CHATBOT_TESTER_WORKER_ON_HTTP_LOOP"

    /// Whether a worker runs its tasks on the own HTTP client's I/O thread (`HTTPClient.loopExecutor`):
    /// when it has one thread (`--threads 1`, or `CHATBOT_TESTER_WORKER_THREADS=1`, which a
    /// coordinator sets for one worker per core) and `httpLoopVariable` is not `0`. A reply then
    /// resumes its task on the thread that read it, and the task's next request goes out from
    /// there: no hand-over between two threads per exchange (the worker's tasks take one thread
    /// either way). A value other than `0` or `1` is a config error naming the variable.
    static func runsOnHTTPLoop(threads: Int?, environment: [String: String]) throws -> Bool {
        switch environment[httpLoopVariable]?.trimmingCharacters(in: .whitespaces) {
        case nil, "1": break
        case "0": return false
        case let other?:
            throw ChatbotTesterError(
                .invalidConfig, "\(httpLoopVariable) must be 0 or 1, not '\(other.prefix(40))'", location: SourceLocation(field: httpLoopVariable))
        }
        return try (threads ?? ClusterWorkerHost.threads(environment: environment)) == 1 && HTTPClient.loopExecutor != nil
    }
}
