import ArgumentParser
import ChatbotTester
import Foundation

/// `--workers`: a number of local worker processes, or `auto` — one per core this process may use
/// (`AvailableCores.count`: its CPU affinity and its cgroup's CPU quota).
struct WorkerCount: ExpressibleByArgument, Equatable {
    var count: Int

    init(_ count: Int) { self.count = count }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        if text.lowercased() == "auto" {
            count = AvailableCores.count
        } else if let value = Int(text) {
            count = value
        } else {
            return nil
        }
    }

    var defaultValueDescription: String { String(count) }
}

/// Flags shared by the commands that take a job config.
struct JobOptions: ParsableArguments {
    @Argument(help: "The job config (YAML or JSON).") var config: String
    @Option(name: .long, help: "Output directory or store URL s3://bucket/prefix (default: the config's `output`, else runs/<name>).")
    var out: String?
    @Flag(help: "Continue an interrupted run in the same output directory: journaled cases are not played again.")
    var resume = false
    @Flag(help: "With --resume: play again the cases recorded as errors (a success replaces the error).")
    var retryErrors = false
    @Option(help: "Cases played at once (overrides run.concurrency).") var concurrency: Int?
    @Option(
        name: .customLong("workers"),
        help: "Shard the run over this many local worker processes (Unix-domain sockets), or `auto`: one per core; 0 runs in this process.")
    var workerCount = WorkerCount(0)
    /// Local worker processes (`--workers`; 0: this process).
    var workers: Int { workerCount.count }
    @Option(help: "With --workers: times a worker that died is started again (per worker); when all are used up the run stops (exit 3).")
    var maxRestarts = 3
    @Flag(help: "No progress display on standard error.") var noProgress = false
    @Flag(help: "Replace the run of a different job (another config or dataset) in the output directory.")
    var overwrite = false

    func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if workers < 0 { throw ValidationError("--workers must not be negative") }
        if retryErrors, !resume { throw ValidationError("--retry-errors needs --resume") }
        if maxRestarts < 0 { throw ValidationError("--max-restarts must not be negative") }
    }

    /// Where the cases are played: this process, or `--workers N` local worker processes.
    var stage: any JobRunStage {
        workers > 0 ? ShardedRunStage(workers: workers, maxRestarts: maxRestarts) : LocalRunStage(adoptingShardedRun: ShardedRunStage.adoptIntoThisProcess)
    }

    var settings: JobSettings {
        var settings = JobSettings(outputDirectory: out, resume: resume, concurrency: concurrency)
        settings.retryErrors = retryErrors
        return settings
    }

    /// Loads the config and prepares the job with every built-in type.
    func prepare(events: EventBus, components: PipelineComponents = .builtin()) async throws -> TestJob {
        let config = try JobConfig.load(contentsOf: URL(fileURLWithPath: self.config))
        return try await TestJob.prepare(config: config, components: components, settings: settings, events: events)
    }
}

extension JobOptions {
    /// Prepares the job and wires its sinks: `events.jsonl` in the output directory and the
    /// progress display. Sinks are closed when preparing fails.
    /// - Parameter claim: refuse an output directory holding another job's run (unless
    ///   `--overwrite`); commands that only read a run (`evaluate`) pass false.
    func start(claim: Bool = true) async throws -> (job: TestJob, events: CommandEvents) {
        let events = CommandEvents()
        do {
            let job = try await prepare(events: events.bus)
            do {
                if claim {
                    try await job.fetchInputs()
                    try await job.claimOutput(overwrite: overwrite)
                }
                try events.log(to: job.output("events.jsonl"))
            } catch {
                job.discardLocalCopies()
                throw error
            }
            events.showProgress(!noProgress)
            if workers > 0, !noProgress { events.bus.subscribe(ClusterEventPrinter()) }
            return (job, events)
        } catch {
            await events.finish()
            throw error
        }
    }
}

extension TestJob {
    /// Runs a command's `body` with its sinks (`CommandEvents.run`), then publishes `events.jsonl`
    /// to a remote output and removes the local copies (staging directory, fetched inputs),
    /// whether `body` threw or not.
    func closing<T: Sendable>(_ events: CommandEvents, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            let value = try await events.run(body)
            try await publishOutputs(only: ["events.jsonl"])
            discardLocalCopies()
            return value
        } catch {
            try? await publishOutputs(only: ["events.jsonl"])
            discardLocalCopies()
            throw error
        }
    }
}

/// The event sinks of a command: the progress display and `events.jsonl` in the output directory.
struct CommandEvents {
    let bus = EventBus()

    /// Subscribes the progress display (unless disabled).
    func showProgress(_ enabled: Bool) {
        if enabled { bus.subscribe(ProgressSink(output: FileHandle.standardError)) }
    }

    /// Subscribes the JSONL event log at `url`.
    func log(to url: URL) throws {
        bus.subscribe(try JSONLEventLogSink(url: url))
    }

    /// Delivers what is queued and closes every sink; `events.jsonl`'s last line says how much CPU
    /// the command used (`ProcessCPU`).
    func finish() async {
        bus.emit(ProcessCPU.now().event)
        await bus.shutdown()
    }

    /// Runs `body` (cancelled by Ctrl-C), then closes every sink, whether it threw or not.
    func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            let value = try await withInterruptCancellation(body)
            await finish()
            return value
        } catch {
            await finish()
            throw error
        }
    }
}

/// Runs `body` in a task that the first Ctrl-C (SIGINT) or SIGTERM cancels; a second one exits at once.
func withInterruptCancellation<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    // A parent may have started us with these signals blocked (test harnesses do): unblock them.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGINT)
    sigaddset(&unblock, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let count = Locked(0)
    let sources = [SIGINT, SIGTERM].map { signo -> any DispatchSourceSignal in
        let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
        source.setEventHandler {
            let n = count.withLock { value -> Int in
                value += 1
                return value
            }
            if n == 1 {
                printError("\ninterrupted: stopping, keeping everything recorded so far (again to quit at once)")
                task.cancel()
            } else {
                exit(130)
            }
        }
        source.resume()
        return source
    }
    defer { sources.forEach { $0.cancel() } }
    return try await task.value
}

/// The CPU time this process and the child processes it has waited for (the workers of
/// `--workers N`) used so far, from `getrusage`. `test`, `run` and the other job commands log it as
/// the last debug event of `events.jsonl` (`source: process.cpu`): what `ops/bench/sharded-vs-single.py`
/// reads for the coordinator's own share of a run's CPU.
struct ProcessCPU {
    var userSeconds: Double
    var systemSeconds: Double
    var childrenSeconds: Double

    static func now() -> ProcessCPU {
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        var own = rusage(), children = rusage()
        getrusage(RUSAGE_SELF.rawValue, &own)
        getrusage(RUSAGE_CHILDREN.rawValue, &children)
        return ProcessCPU(
            userSeconds: seconds(own.ru_utime), systemSeconds: seconds(own.ru_stime),
            childrenSeconds: seconds(children.ru_utime) + seconds(children.ru_stime))
    }

    var event: LogEvent {
        let text = { (value: Double) in String(format: "%.6f", value) }
        return LogEvent(
            .debug,
            "CPU: this process \(text(userSeconds + systemSeconds)) s (user \(text(userSeconds)) s, system \(text(systemSeconds)) s); "
                + "the processes it started and waited for \(text(childrenSeconds)) s",
            source: "process.cpu")
    }
}
