import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import Foundation

/// A whole cluster run on one host: spool the dataset, listen, spawn N local workers, serve until
/// every sample is journaled or the run stops, merge. `ShardedRunStage` (what `chatbot-tester
/// test|run --workers N` and `coordinator` use) runs a job config this way.
///
/// ```swift
/// let outcome = try await ClusterRun.run(
///     samples: samples, setup: ClusterJobSetup(registry: config.backends, job: jobSpec),
///     options: .init(workers: 4, spool: outDir.appendingPathComponent("spool"), output: outDir),
///     events: events)
/// ```
/// Restarting with the same spool resumes: journaled samples are not run again. Workers are this
/// executable (or `workerCommand`) started with `--connect PATH --worker-id ID` appended; they get
/// `CHATBOT_TESTER_COORDINATOR_PID` in their environment, and `ClusterWorkerHost.run` then leaves
/// Ctrl-C to the coordinator (which stops the run and lets them finish what they hold).
public enum ClusterRun {
    /// How to start one worker process; `--connect PATH` is appended to `arguments`.
    public struct WorkerCommand: Sendable, Hashable {
        public var executable: String
        public var arguments: [String]
        public var environment: [String: String]?

        public init(executable: String, arguments: [String], environment: [String: String]? = nil) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
        }

        /// This very executable with `worker` (the `chatbot-tester` CLI).
        public static var currentExecutable: WorkerCommand {
            let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            return WorkerCommand(executable: path, arguments: ["worker"])
        }
    }

    /// Tunables.
    public struct Options: Sendable {
        /// Worker processes to start; 0 starts none (workers started on their own connect to
        /// `socketPath`).
        public var workers: Int
        /// The spool directory (created, or resumed when it holds a manifest).
        public var spool: URL
        /// Where `results.jsonl` and `evals.jsonl` go (dataset order); nothing is written when `nil`.
        public var output: URL?
        /// The socket; a short private path is chosen when `nil`.
        public var socketPath: String?
        public var workerCommand: WorkerCommand
        public var samplesPerShard: Int
        public var coordinator: ClusterCoordinator.Options
        /// How many times a worker that died is started again (per worker slot).
        public var maxRestartsPerWorker: Int

        public init(
            workers: Int, spool: URL, output: URL? = nil, socketPath: String? = nil, workerCommand: WorkerCommand = .currentExecutable,
            samplesPerShard: Int = 64, coordinator: ClusterCoordinator.Options = .init(), maxRestartsPerWorker: Int = 3
        ) {
            self.workers = max(0, workers)
            self.spool = spool
            self.output = output
            self.socketPath = socketPath
            self.workerCommand = workerCommand
            self.samplesPerShard = samplesPerShard
            self.coordinator = coordinator
            self.maxRestartsPerWorker = maxRestartsPerWorker
        }
    }

    /// Runs the job over `options.workers` local worker processes.
    public static func run(
        samples: [TestSample], setup: ClusterJobSetup, options: Options, limits: RunLimits = RunLimits(), events: EventBus = EventBus()
    ) async throws -> ClusterOutcome {
        try await run(
            preparing: {
                try ClusterSpool.prepare(
                    at: options.spool, samples: samples, setup: setup, samplesPerShard: options.samplesPerShard, minShards: max(1, options.workers))
            }, options: options, limits: limits, events: events)
    }

    /// Runs (or resumes) an already prepared spool. Cancelling the task stops the run (no new
    /// samples; those in flight finish within the coordinator's `stopGrace`) and returns normally
    /// with `stats.stopReason == .cancelled`.
    ///
    /// - Throws: `.aborted` when every worker slot used up its restarts before the run was done
    ///   (what was journaled is kept: rerun with the same spool to resume); `.invalidConfig` when
    ///   `workers` is 0 and no `socketPath` is given.
    public static func run(
        spool: ClusterSpool, options: Options, limits: RunLimits = RunLimits(), events: EventBus = EventBus()
    ) async throws -> ClusterOutcome {
        try await run(preparing: { spool }, options: options, limits: limits, events: events)
    }

    /// Runs (or resumes) the spool `prepare` writes (or reopens) at `options.spool`, as
    /// `run(spool:options:limits:events:)` does; the workers are started and connect while it is
    /// being written (a worker that connects early waits for its `welcome` until the spool is
    /// ready), so their start-up overlaps the spooling instead of following it.
    ///
    /// - Throws: what `prepare` throws (the workers started meanwhile are stopped at once), and as
    ///   `run(spool:options:limits:events:)`.
    public static func run(
        preparing prepare: @escaping @Sendable () async throws -> ClusterSpool, options: Options, limits: RunLimits = RunLimits(),
        events: EventBus = EventBus()
    ) async throws -> ClusterOutcome {
        try await run(streaming: { _ in try await prepare() }, options: options, limits: limits, events: events)
    }

    /// Runs the spool `prepare` writes shard by shard, as `run(preparing:options:limits:events:)`
    /// does, but without waiting for it to be complete: `prepare` hands the spool it is writing
    /// (`ClusterSpoolWriter.partialSpool`, made with `streamingShards`) to `started` as soon as it
    /// has one, and the coordinator welcomes the workers and hands out each shard's samples as
    /// that shard is committed, while the rest is written. `prepare` returns the complete spool
    /// (or, resuming, the one already there: the run then starts once it is open). The run ends
    /// once the spool is complete and every sample journaled; an interrupt meanwhile lets the
    /// spool be completed first (so a resume finds it).
    ///
    /// - Throws: what `prepare` throws (the coordinator and the workers are stopped at once; what
    ///   was journaled belongs to a spool that was never completed, which the next run writes
    ///   again), and as `run(spool:options:limits:events:)`.
    public static func run(
        streaming prepare: @escaping @Sendable (_ started: @escaping @Sendable (ClusterSpool) -> Void) async throws -> ClusterSpool,
        options: Options, limits: RunLimits = RunLimits(), events: EventBus = EventBus()
    ) async throws -> ClusterOutcome {
        if options.workers == 0 && options.socketPath == nil {
            throw ChatbotTesterError(.invalidConfig, "a run without spawned workers needs a socket path for workers to connect to")
        }
        // A thread count the workers would refuse stops the run here, not worker after worker.
        if options.workers > 0 { _ = try ClusterWorkerHost.threads(environment: options.workerCommand.environment ?? ProcessInfo.processInfo.environment) }
        let (socketPath, privateDirectory) = try socketPath(for: options)
        // Only the workers started here know a socket chosen here: nobody else can arrive late.
        let configured = {
            var coordinator = options.coordinator
            if options.workers > 0 && options.socketPath == nil { coordinator.lateWorkerWindow = 0 }
            return coordinator
        }()
        defer { if let privateDirectory { try? FileManager.default.removeItem(atPath: privateDirectory) } }
        let started = ContinuousClock.now
        let (spool, stats): (ClusterSpool, ClusterCoordinatorStats) = try await UVLoop.withLoop { loop in
            // The coordinator's tasks run on the loop's thread (the spool is written on the pool).
            let coordinatorOptions = try ClusterCoordinatorHost.options(configured, on: loop, environment: ProcessInfo.processInfo.environment)
            let listener = try await UVPipeListener.listen(path: socketPath, loop: loop) { reason in
                events.emit(ClusterTesterEvent(.connectionClosed(peer: socketPath, reason: reason)))
            }
            let done = Locked(false)
            let gaveUp = Locked(false)
            // Set when the spool could not be made: the workers are stopped without a grace.
            let unprepared = Locked(false)
            let coordinator = Task {
                // The spool is written whatever happens meanwhile (a cancel of the run reaches the
                // coordinator, which then stops at once): the workers connect to the listener and
                // wait for their welcome until the coordinator has a spool to serve — the one
                // being written, as soon as `prepare` hands it over, else the finished one.
                // The first offer wins: the spool being written, else `prepare`'s result.
                let first = OneShot<ClusterSpool, any Error>()
                let preparing = Task { try await prepare { first.set(.success($0)) } }
                let settled = Task {
                    let result = await preparing.result
                    first.set(result)
                    return result
                }
                let served: ClusterSpool
                do {
                    served = try await first.value()
                } catch {
                    unprepared.withLock { $0 = true }
                    throw error
                }
                let stats: ClusterCoordinatorStats
                do {
                    stats = try await ClusterCoordinator.run(
                        spool: served, listener: listener, events: events, options: coordinatorOptions, limits: limits)
                } catch {
                    // A spool that could not be completed stopped the coordinator: its error is the cause.
                    if case .failure(let cause) = await settled.value {
                        unprepared.withLock { $0 = true }
                        throw cause
                    }
                    throw error
                }
                // The complete spool (sharing the journal's logs the coordinator kept while serving it).
                return (try await settled.value.get(), stats)
            }
            let supervisor = Task {
                guard options.workers > 0 else { return }
                let exhausted = await withTaskGroup(of: Bool.self) { group in
                    for slot in 0..<options.workers {
                        group.addTask {
                            await superviseWorker(
                                slot: slot, socketPath: socketPath, options: options, loop: loop, done: done, unprepared: unprepared, events: events)
                        }
                    }
                    return await group.allSatisfy { $0 }
                }
                // Every worker slot gave up (crashes beyond the restart limit, a config the workers
                // cannot build): stop instead of waiting for workers that will not come.
                if exhausted && !done.current {
                    gaveUp.withLock { $0 = true }
                    coordinator.cancel()
                }
            }
            // An interrupt of this task stops the coordinator the same way (it drains, then returns).
            let result = await withTaskCancellationHandler {
                await coordinator.result
            } onCancel: {
                coordinator.cancel()
            }
            done.withLock { $0 = true }
            listener.close()
            await supervisor.value
            if gaveUp.current, case .success(let (_, stats)) = result, stats.stopReason == .cancelled {
                throw ChatbotTesterError(
                    .aborted,
                    "every worker stopped \(options.maxRestartsPerWorker + 1) times before the run completed (see their errors above); "
                        + "\(stats.journaled) of \(stats.total) samples are journaled: rerun with --resume to continue",
                    location: SourceLocation(source: options.spool.path))
            }
            return try result.get()
        }
        // Without an output the count is the coordinator's: every sample journaled, each once (the
        // journal is not scanned again just to count it).
        var merged = stats.journaled
        if let output = options.output {
            merged = try await Task { try spool.merge(into: output) }.value
        }
        let elapsed = ContinuousClock.now - started
        return ClusterOutcome(
            spool: spool, stats: stats, mergedSamples: merged,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// Starts a worker, and again when it dies before the run is done (up to the restart limit).
    /// Returns whether the slot gave up (its restarts used up, or it could not be started) before
    /// the run was done.
    private static func superviseWorker(
        slot: Int, socketPath: String, options: Options, loop: UVLoop, done: Locked<Bool>, unprepared: Locked<Bool>, events: EventBus
    ) async -> Bool {
        var starts = 0
        while !done.current && starts <= options.maxRestartsPerWorker {
            starts += 1
            let command = options.workerCommand
            var environment = command.environment ?? ProcessInfo.processInfo.environment
            environment[ClusterWorkerHost.coordinatorPIDVariable] = String(getpid())
            // Each worker runs on its share of the cores (unless the environment says otherwise).
            if environment[ClusterWorkerHost.threadsVariable] == nil, let share = ClusterWorkerHost.threadsShare(workers: options.workers) {
                environment[ClusterWorkerHost.threadsVariable] = String(share)
            }
            let process: UVProcess
            do {
                process = try await UVProcess.spawn(
                    executable: command.executable, arguments: command.arguments + ["--connect", socketPath, "--worker-id", "w\(slot + 1)-\(starts)"],
                    environment: environment, loop: loop)
            } catch {
                events.emit(LogEvent(.error, "cannot start worker \(slot + 1): \(error)", source: "cluster"))
                return true
            }
            // Stop a worker that outlives the run (it should leave on `shutdown`).
            let watchdog = Task {
                do {
                    while !done.current { try await Task.sleep(nanoseconds: 50_000_000) }
                    // No spool: the worker has nothing to finish (it may still be retrying to connect).
                    let grace = unprepared.current ? 0.1 : max(1, options.coordinator.shutdownGrace + 1)
                    try await Task.sleep(nanoseconds: UInt64(grace * 1e9))
                    process.kill(SIGKILL)
                } catch {
                    // Cancelled: the worker ended by itself.
                }
            }
            let end = await process.waitForExit()
            watchdog.cancel()
            // Status 0 is an orderly exit (told to shut down): never restart that.
            if end.status == 0 && end.signal == 0 { return false }
            if !done.current {
                let again = starts <= options.maxRestartsPerWorker ? "restarting" : "no restarts left (--max-restarts \(options.maxRestartsPerWorker))"
                events.emit(LogEvent(.warning, "worker \(slot + 1) (pid \(process.pid)) ended with status \(end.status) signal \(end.signal); \(again)", source: "cluster"))
            }
        }
        return !done.current
    }

    /// The socket path: the configured one, or `spool/socket/coordinator.sock` when it fits,
    /// else a fresh private directory under the temp dir.
    private static func socketPath(for options: Options) throws -> (String, String?) {
        if let path = options.socketPath { return (path, nil) }
        let directory = options.spool.appendingPathComponent("socket").path
        let candidate = directory + "/coordinator.sock"
        if candidate.utf8.count <= UVSocketPath.maxLength {
            // The spool may not be written yet (its workers start meanwhile).
            try FileManager.default.createDirectory(at: options.spool, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: directory) { mkdir(directory, 0o700) }
            chmod(directory, 0o700)
            return (candidate, nil)
        }
        var template = Array("/tmp/chatbot-tester-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ChatbotTesterError(.io, "cannot create a private socket directory: \(String(cString: strerror(errno)))")
        }
        let privateDirectory = String(cString: made)
        return (privateDirectory + "/coordinator.sock", privateDirectory)
    }
}

/// What a cluster run produced.
public struct ClusterOutcome: Sendable {
    public var spool: ClusterSpool
    public var stats: ClusterCoordinatorStats
    /// Samples in the merged output (every sample of the run on success).
    public var mergedSamples: Int
    /// Wall-clock seconds of the run.
    public var seconds: Double

    /// The merged records in dataset order (read from the journal).
    public func records() throws -> [ClusterRecord] { try spool.mergedRecords() }
}
