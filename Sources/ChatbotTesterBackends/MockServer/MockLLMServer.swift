import ChatbotTesterCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A loopback OpenAI- and Anthropic-compatible LLM server for tests, benchmarks and offline demos.
///
/// Serves `POST /v1/chat/completions`, `/v1/embeddings`, `/v1/messages`, a JSON chatbot at
/// `POST /chatbot` (`{"message", "session"}` → `{"data": {"reply", "session", "turn"}}`), and
/// `GET /stats`, `GET /requests`, `POST /reset`. Replies are deterministic (`Echo: <last user
/// message>`, schema-shaped JSON when JSON is asked for); faults are injected at random
/// (`errorRate`, seeded) or forced per request (prompt directives such as
/// `MOCK_FAULT: 429 retry-after=2`, `MOCK_REPLY: text`, or the `x-mock-fault` header).
/// Offered tools are called deterministically (the first tool named in the user's text, arguments
/// read from it, or `MOCK_TOOL_CALLS: name {json}; …`), tool results are answered by quoting them, and
/// `"stream": true` gets the same reply as the provider's server-sent events.
///
/// ```swift
/// try await withMockLLMServer { server in
///     // point an `openai` backend at server.openAIBaseURL
/// }
/// ```
public final class MockLLMServer: Sendable {
    public let configuration: Configuration
    let state: Locked<State>
    private let channel = Locked<(any Channel)?>(nil)
    private let children = Locked<[ObjectIdentifier: any Channel]>([:])

    struct State {
        var stats = Stats()
        var sequence = 0
        var records: [RecordedRequest] = []
        var recordHead = 0
        var random: SeededGenerator
        var faultCounts: [String: Int] = [:]
        var sessions: [String: Int] = [:]
        var nextSession = 0
        /// Delayed replies' holds (ms) and their overshoots past the asked latency (ms; exact sums,
        /// so a negative overshoot would show in `minOvershootMs` rather than be clamped away).
        var holdCount = 0
        var holdSumMs = 0.0
        var overshoots = LatencyHistogram()
        var minOvershootMs = Double.infinity
        var overshootSumMs = 0.0
        /// How late the timers fired (ms past their deadlines): the part of the overshoot that is the wake-up's.
        var timerLateness = LatencyHistogram()
    }

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.state = Locked(State(random: SeededGenerator(seed: configuration.seed)))
    }

    /// Binds and starts serving. Throws when the address is taken.
    public func start() async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MockLLMHTTPHandler(server: self))
                    self.children.withLock { $0[ObjectIdentifier(channel)] = channel }
                    channel.closeFuture.whenComplete { _ in
                        self.children.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) }
                    }
                }
            }
        // A numeric address is bound as it is: naming it by host goes through the resolver
        // (`getaddrinfo`: NSS modules loaded, a netlink query) before the first request can arrive.
        let bound: any Channel
        if let address = try? SocketAddress(ipAddress: configuration.host, port: configuration.port) {
            bound = try await bootstrap.bind(to: address).get()
        } else {
            bound = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        }
        channel.withLock { $0 = bound }
    }

    /// Stops listening and closes every open connection (hung requests included).
    public func shutdown() async throws {
        guard let listener = channel.withLock({ current -> (any Channel)? in
            defer { current = nil }
            return current
        }) else { return }
        // Every close is asked for at once and then awaited: one by one, each costs a hop to its
        // loop and back (64 connections: about 6 ms of a `bench`'s exit).
        let closing: [EventLoopFuture<Void>] = [listener.close()] + children.withLock { $0.values.map { $0.close() } }
        for future in closing { try? await future.get() }
    }

    /// The bound port (0 before `start()`).
    public var port: Int { channel.withLock { $0?.localAddress?.port } ?? 0 }

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://\(configuration.host):\(port)" }

    /// `http://127.0.0.1:<port>/v1`, the `baseURL` option of an `openai` backend.
    public var openAIBaseURL: String { baseURL + "/v1" }

    /// The counters.
    public var stats: Stats {
        state.withLock { state in
            var stats = state.stats
            if state.holdCount > 0, let median = state.overshoots.percentile(0.5), let max = state.overshoots.maxMs {
                let count = Double(state.holdCount)
                stats.holds = Holds(
                    count: state.holdCount, meanMs: state.holdSumMs / count,
                    minOvershootMs: state.minOvershootMs,
                    medianOvershootMs: median, meanOvershootMs: state.overshootSumMs / count, maxOvershootMs: max,
                    medianTimerLatenessMs: state.timerLateness.percentile(0.5) ?? 0)
            }
            return stats
        }
    }

    /// Notes a delayed reply's hold (request read → reply written) against the latency it was asked
    /// for, and how late its timer fired.
    func recordHold(nanoseconds: Int64, askedMs: Double, timerLatenessNanoseconds: Int64) {
        let holdMs = Double(nanoseconds) / 1_000_000
        let overshoot = holdMs - askedMs
        state.withLock { state in
            state.holdCount += 1
            state.holdSumMs += holdMs
            state.overshoots.record(overshoot)
            state.minOvershootMs = min(state.minOvershootMs, overshoot)
            state.overshootSumMs += overshoot
            state.timerLateness.record(Double(timerLatenessNanoseconds) / 1_000_000)
        }
    }

    /// The most recent requests, oldest first (up to `recordCapacity`), credentials included.
    public func recordedRequests() -> [RecordedRequest] {
        state.withLock { state in
            Array(state.records[state.recordHead...] + state.records[..<state.recordHead])
        }
    }

    /// Clears counters, recorded requests, sessions and `times=` fault counters.
    public func reset() {
        state.withLock { state in
            let random = state.random
            state = State(random: random)
        }
    }
}

/// Runs `body` with a started mock server and always shuts it down.
public func withMockLLMServer<Result: Sendable>(
    _ configuration: MockLLMServer.Configuration = .init(), _ body: (MockLLMServer) async throws -> Result
) async throws -> Result {
    let server = MockLLMServer(configuration)
    try await server.start()
    do {
        let result = try await body(server)
        try await server.shutdown()
        return result
    } catch {
        try? await server.shutdown()
        throw error
    }
}
