import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester mock-server`: a loopback OpenAI- and Anthropic-compatible mock LLM, until Ctrl-C.
struct MockServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-server", abstract: "Serve a loopback OpenAI- and Anthropic-compatible mock LLM.",
        discussion: """
            Serves POST /v1/chat/completions, /v1/embeddings, /v1/messages and /chatbot on 127.0.0.1, plus
            GET /stats and GET /requests. Prompts may script it: 'MOCK_REPLY: text', 'MOCK_FAULT: 429 retry-after=2',
            'MOCK_FAULT: 500 times=1', 'MOCK_FAULT: hang', 'MOCK_FAULT: malformed', 'MOCK_LATENCY_MS: 50',
            'MOCK_STREAM: one-write'
            (or the x-mock-fault header). Stops on Ctrl-C or SIGTERM.
            """)

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 8080

    @Option(name: .customLong("latency-ms"), help: "Delay before every reply, in milliseconds.")
    var latencyMs: Double = 0

    @Option(name: .customLong("error-rate"), help: "Fraction (0-1) of requests failed with --injected-status.")
    var errorRate: Double = 0

    @Option(help: "Seed of the fault generator.")
    var seed: UInt64 = 0

    @Option(name: .customLong("injected-status"), help: "HTTP status of random faults (500, 503, 429…).")
    var injectedStatus: Int = 500

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard (0...1).contains(errorRate) else { throw ValidationError("--error-rate must be between 0 and 1") }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must not be negative") }
    }

    func run() async throws {
        let server = MockLLMServer(
            .init(port: port, latencyMs: latencyMs, errorRate: errorRate, seed: seed, injectedStatus: injectedStatus))
        do {
            try await server.start()
        } catch {
            FileHandle.standardError.write(Data("error: cannot listen on 127.0.0.1:\(port): \(error)\n".utf8))
            throw ExitCode(2)
        }
        print("mock LLM server listening on \(server.baseURL) (openai baseURL \(server.openAIBaseURL), anthropic baseURL \(server.baseURL)); Ctrl-C stops")
        fflush(nil)
        await Self.waitForTermination()
        try await server.shutdown()
        let stats = server.stats
        var summary = "served \(stats.requests) requests (max \(stats.maxInFlight) in flight, \(stats.faults) faults)"
        if let holds = stats.holds {
            // What the latency really was, as the server measured it (request read → reply written).
            summary += String(
                format: "; %d delayed replies held %.3f ms on average (%.3f ms past the asked latency at the median, %.3f ms at the least)",
                holds.count, holds.meanMs, holds.medianOvershootMs, holds.minOvershootMs)
        }
        print(summary)
    }

    /// Returns when SIGINT or SIGTERM arrives.
    static func waitForTermination() async {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        for await _ in stream { break }
        for source in sources { source.cancel() }
    }
}
