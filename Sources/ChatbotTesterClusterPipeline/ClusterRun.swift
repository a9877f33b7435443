import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import Foundation

/// A whole cluster run on one host: spool the dataset, listen, spawn N local workers, serve until
/// every sample is journaled, merge. This is what `chatbot-tester test|run --workers N` calls.
///
/// ```swift
/// let outcome = try await ClusterRun.run(
///     samples: samples, setup: ClusterJobSetup(registry: config.backends, job: jobSpec),
///     options: .init(workers: 4, spool: outDir.appendingPathComponent("spool"), output: outDir),
///     events: events)
/// ```
/// Restarting with the same spool resumes: journaled samples are not run again.
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
            self.workers = max(1, workers)
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
    public static func run(samples: [TestSample], setup: ClusterJobSetup, options: Options, events: EventBus = EventBus()) async throws -> ClusterOutcome {
        let spool = try ClusterSpool.prepare(
            at: options.spool, samples: samples, setup: setup, samplesPerShard: options.samplesPerShard, minShards: options.workers)
        return try await run(spool: spool, options: options, events: events)
    }

    /// Runs (or resumes) an already prepared spool.
    public static func run(spool: ClusterSpool, options: Options, events: EventBus = EventBus()) async throws -> ClusterOutcome {
        let (socketPath, privateDirectory) = try socketPath(for: options)
        defer { if let privateDirectory { try? FileManager.default.removeItem(atPath: privateDirectory) } }
        let started = ContinuousClock.now
        let stats: ClusterCoordinatorStats = try await UVLoop.withLoop { loop in
            let listener = try await UVPipeListener.listen(path: socketPath, loop: loop) { reason in
                events.emit(ClusterTesterEvent(.connectionClosed(peer: socketPath, reason: reason)))
            }
            let done = Locked(false)
            let coordinator = Task {
                try await ClusterCoordinator.run(spool: spool, listener: listener, events: events, options: options.coordinator)
            }
            let supervisor = Task {
                await withTaskGroup(of: Void.self) { group in
                    for slot in 0..<options.workers {
                        group.addTask {
                            await superviseWorker(slot: slot, socketPath: socketPath, options: options, loop: loop, done: done, events: events)
                        }
                    }
                }
                // Every worker slot gave up (crashes beyond the restart limit, a config the workers
                // cannot build): stop instead of waiting for workers that will not come.
                if !done.current { coordinator.cancel() }
            }
            let result = await coordinator.result
            done.withLock { $0 = true }
            listener.close()
            await supervisor.value
            if case .failure(let error as ChatbotTesterError) = result, error.code == .cancelled, !Task.isCancelled {
                throw ChatbotTesterError(
                    .internal, "every worker stopped before the run completed (see their errors above); rerun with the same spool to resume",
                    location: SourceLocation(source: spool.directory.path))
            }
            return try result.get()
        }
        var merged = 0
        if let output = options.output {
            merged = try spool.merge(into: output)
        } else {
            merged = try spool.journalIndex().entries.count
        }
        let elapsed = ContinuousClock.now - started
        return ClusterOutcome(
            spool: spool, stats: stats, mergedSamples: merged,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// Starts a worker, and again when it dies before the run is done (up to the restart limit).
    private static func superviseWorker(slot: Int, socketPath: String, options: Options, loop: UVLoop, done: Locked<Bool>, events: EventBus) async {
        var starts = 0
        while !done.current && starts <= options.maxRestartsPerWorker {
            starts += 1
            let command = options.workerCommand
            let process: UVProcess
            do {
                process = try await UVProcess.spawn(
                    executable: command.executable, arguments: command.arguments + ["--connect", socketPath, "--worker-id", "w\(slot + 1)-\(starts)"],
                    environment: command.environment, loop: loop)
            } catch {
                events.emit(LogEvent(.error, "cannot start worker \(slot + 1): \(error)", source: "cluster"))
                return
            }
            // Stop a worker that outlives the run (it should leave on `shutdown`).
            let watchdog = Task {
                do {
                    while !done.current { try await Task.sleep(nanoseconds: 50_000_000) }
                    try await Task.sleep(nanoseconds: UInt64(max(1, options.coordinator.shutdownGrace + 1) * 1e9))
                    process.kill(SIGKILL)
                } catch {
                    // Cancelled: the worker ended by itself.
                }
            }
            let end = await process.waitForExit()
            watchdog.cancel()
            // Status 0 is an orderly exit (told to shut down): never restart that.
            if end.status == 0 && end.signal == 0 { return }
            if !done.current {
                events.emit(LogEvent(.warning, "worker \(slot + 1) (pid \(process.pid)) ended with status \(end.status) signal \(end.signal); restarting", source: "cluster"))
            }
        }
    }

    /// The socket path: the configured one, or `spool/socket/coordinator.sock` when it fits,
    /// else a fresh private directory under the temp dir.
    private static func socketPath(for options: Options) throws -> (String, String?) {
        if let path = options.socketPath { return (path, nil) }
        let directory = options.spool.appendingPathComponent("socket").path
        let candidate = directory + "/coordinator.sock"
        if candidate.utf8.count <= UVSocketPath.maxLength {
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
