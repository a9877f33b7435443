import ChatbotTesterCluster
import ChatbotTesterCore

/// A small self-contained `ShardProcessor`: sends each case's user turns to a target backend and
/// checks the reply contains `expected`. Used by the cluster's own tests and benchmarks, and as a
/// worked example of a processor; the full Runner + Evaluator pipeline plugs in the same way.
///
/// Job spec (`welcome.setup.job`):
/// ```json
/// {"processor": "chat", "target": "bot", "concurrency": 8, "cpuWork": 0}
/// ```
/// Backends get the standard middleware, with rate budgets granted by the coordinator.
/// `cpuWork` burns that many rounds of hashing per sample (a stand-in for a CPU-heavy metric).
/// Records are deterministic (no wall-clock fields: latencies are recorded as 0), so a cluster run can be compared byte for byte
/// with a single-process one.
public struct ChatShardProcessor: ShardProcessor {
    public var target: String
    public var concurrency: Int
    public var cpuWork: Int
    private let backends: BackendSet

    /// The factory for `ClusterWorker`: reads the job spec above.
    public static let factory: ShardProcessorFactory = { setup, registry, context in
        let events = context.events
        let options = ComponentOptions(setup.job.objectValue ?? [:], context: ComponentContext(instanceName: "", section: "job", events: events))
        return ChatShardProcessor(
            target: try options.string("target") ?? "bot",
            concurrency: max(1, try options.int("concurrency") ?? 4),
            cpuWork: max(0, try options.int("cpuWork") ?? 0),
            backends: BackendSet(
                config: setup.registry, registry: registry, events: events,
                wrapper: BackendMiddleware.make(environment: MiddlewareEnvironment(makeRateBudget: context.makeRateBudget, makeCircuitBreaker: context.makeCircuitBreaker))))
    }

    public init(target: String, concurrency: Int, cpuWork: Int, backends: BackendSet) {
        self.target = target
        self.concurrency = concurrency
        self.cpuWork = cpuWork
        self.backends = backends
    }

    public func process(_ samples: [IndexedSample], emit: @escaping @Sendable (ClusterRecord) async -> Void) async throws {
        let chat = try await backends.chat(target)
        await Self.emitConcurrently(samples, limit: concurrency, emit: emit) { item in await self.run(item, chat: chat) }
    }

    /// Plays one case and checks it (never throws: a failure is a record).
    public func run(_ item: IndexedSample, chat: any ChatBackend) async -> ClusterRecord {
        let sample = item.sample
        var transcript: [Message] = []
        if let system = sample.system { transcript.append(Message(role: .system, content: system)) }
        var turns: [TurnRecord] = []
        var usage = Usage.zero
        var failure: ErrorInfo?
        for text in sample.userTurns {
            transcript.append(Message(role: .user, content: text))
            do {
                let response = try await chat.send(ChatRequest(messages: transcript))
                transcript.append(Message(role: .assistant, content: response.content))
                let turnUsage = response.usage ?? .zero
                usage = usage + turnUsage
                turns.append(TurnRecord(index: turns.count, latencyMs: 0, usage: turnUsage, attempts: response.attempts, finishReason: response.finishReason))
            } catch {
                failure = ErrorInfo(error)
                break
            }
        }
        let run = RunRecord(
            sample: sample, target: target, status: failure == nil ? .ok : .error, transcript: transcript, turns: turns,
            usage: usage, latencyMs: turns.reduce(0) { $0 + $1.latencyMs }, attempts: turns.reduce(0) { $0 + $1.attempts },
            stopReason: failure == nil ? "completed" : nil, error: failure)
        var evals: [EvalRecord] = []
        if let expected = sample.expected {
            let output = run.output ?? ""
            let found = output.contains(expected)
            var details: [String: JSONValue]?
            if cpuWork > 0 { details = ["work": .string(Self.burn(output, rounds: cpuWork))] }
            evals.append(EvalRecord(
                sampleId: sample.id, metric: "contains-expected", type: "contains", status: run.status == .ok ? .scored : .unmeasured,
                score: run.status == .ok ? (found ? 1 : 0) : nil, passed: run.status == .ok ? found : nil, threshold: 1,
                reason: found ? "reply contains the expected text" : "expected text not found", tags: sample.tags, details: details))
        }
        return ClusterRecord(sampleId: sample.id, index: item.index, run: run, evals: evals)
    }

    /// Deterministic CPU work: `rounds` passes of FNV-1a over the text.
    static func burn(_ text: String, rounds: Int) -> String {
        var seed = text
        for _ in 0..<rounds { seed = ClusterDigest.of(text: seed + text) }
        return seed
    }
}
