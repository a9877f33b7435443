import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester bench`: runs synthetic samples through the `openai` backend against the mock LLM
/// server started in-process, and prints throughput, overhead and memory.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Runner throughput and memory against the in-process mock LLM server.",
        discussion: """
            Prints samples/s, the ratio to the ideal time N × latency / concurrency (in the measured \
            window, and from the process's start, start-up included), the latency the stack adds per \
            request (p50/p99) and peak RSS. With --scale, also runs 10,000 and then \
            --scale-samples samples at latency 0 to show memory does not grow with N.
            """)

    @Option(help: "Samples to run.")
    var samples = 5000

    @Option(name: .customLong("latency-ms"), help: "Latency the mock server adds to each reply, in ms.")
    var latencyMs = 50.0

    @Option(help: "Samples in flight.")
    var concurrency = 64

    @Flag(help: "Also measure RSS for 10k vs --scale-samples samples at latency 0.")
    var scale = false

    @Option(name: .customLong("scale-samples"), help: "The large run of --scale.")
    var scaleSamples = 1_000_000

    @Flag(name: .customLong("in-process"), help: "Skip HTTP: measure the Runner alone against an in-process target.")
    var inProcess = false

    @Flag(help: "With --in-process: each case is a 3-step tool conversation (search, book, then text) instead of one call.")
    var agent = false

    @Option(help: "Samples run first and not measured, to open the connection pool (default: 4 × concurrency).")
    var warmup: Int?

    @Flag(help: "Journal results to a temporary directory as a real run does.")
    var journal = false

    @Flag(help: "Print measurements as JSON lines.")
    var json = false

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must not be negative") }
        guard scaleSamples >= 1 else { throw ValidationError("--scale-samples must be at least 1") }
        guard (warmup ?? 0) >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard !agent || inProcess else { throw ValidationError("--agent needs --in-process (the mock server plays no tools)") }
    }

    func run() async throws {
        try await measure(samples: samples, latencyMs: latencyMs, label: "run", last: !scale)
        if scale {
            try await measure(samples: 10_000, latencyMs: 0, label: "scale 10k", last: false)
            try await measure(samples: scaleSamples, latencyMs: 0, label: "scale \(scaleSamples)", last: true)
        }
    }

    /// One measurement, printed. With `last`, the process exits as soon as it is printed: the
    /// in-process server and the client's connections are left to the kernel to close at exit,
    /// which takes no time a user waits for, where closing them one by one first (64 connections:
    /// about 2.5 ms) would add to the wall time `time chatbot-tester bench` shows.
    private func measure(samples: Int, latencyMs: Double, label: String, last: Bool) async throws {
        // Only a journaled bench has a directory (none to make, or to fail to remove, otherwise).
        let directory = journal ? FileManager.default.temporaryDirectory.appendingPathComponent("chatbot-tester-bench-\(UUID().uuidString)") : nil
        let runJournal = directory.map { RunJournal(store: FileArtifactStore(root: $0)) }
        let measurement: RunnerBenchmark.Measurement
        var server: MockLLMServer?
        do {
            if inProcess {
                let target = agent ? RunnerBenchmark.inProcessAgentTarget(latencyMs: latencyMs) : RunnerBenchmark.inProcessTarget(latencyMs: latencyMs)
                measurement = try await RunnerBenchmark.measure(
                    target: target, samples: samples, latencyMs: latencyMs, concurrency: concurrency, journal: runJournal,
                    tools: agent ? RunnerBenchmark.agentTools : nil)
            } else {
                let started = MockLLMServer(.init(latencyMs: latencyMs, recordCapacity: 16))
                server = started
                // The registry is built while the server binds (it needs no address).
                async let registry = BuiltinBackends.registry()
                try await started.start()
                measurement = try await measureOverHTTP(
                    server: started, registry: await registry, samples: samples, latencyMs: latencyMs, journal: runJournal)
            }
        } catch {
            try? await server?.shutdown()
            if let directory { try? FileManager.default.removeItem(at: directory) }
            throw error
        }
        if let directory { try? FileManager.default.removeItem(at: directory) }
        if json {
            print(String(decoding: try JSONCoding.encoder().encode(measurement), as: UTF8.self))
        } else {
            print("\(label): \(RunnerBenchmark.describe(measurement))")
        }
        if last { Foundation.exit(0) }  // exit(3) flushes what was printed
        try await server?.shutdown()
    }

    /// Runs the warm-up and the measured run through the `openai` backend against `server`.
    private func measureOverHTTP(
        server: MockLLMServer, registry: BackendRegistry, samples: Int, latencyMs: Double, journal: RunJournal?
    ) async throws -> RunnerBenchmark.Measurement {
        let spec = ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "bench"])
        let backend = try await registry.make(spec, context: ComponentContext(instanceName: "bench"))
        guard let target = backend as? any ChatBackend else {
            throw ChatbotTesterError(.internal, "the openai backend cannot chat")
        }
        let warmupSamples = warmup ?? concurrency * 4
        if warmupSamples > 0 {
            _ = try await RunnerBenchmark.measure(target: target, samples: warmupSamples, latencyMs: latencyMs, concurrency: concurrency)
            server.reset()
        }
        var measured = try await RunnerBenchmark.measure(
            target: target, samples: samples, latencyMs: latencyMs, concurrency: concurrency, journal: journal)
        // The server's own measure of its holds, next to the nominal latency the ratios use.
        if let holds = server.stats.holds {
            measured.serverHoldMeanMs = holds.meanMs
            measured.serverHoldOvershootP50Ms = holds.medianOvershootMs
            measured.serverHoldOvershootMinMs = holds.minOvershootMs
        }
        return measured
    }
}
