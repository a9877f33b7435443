import ChatbotTesterCore
import Foundation

/// What a worker runs on each shard: turns test cases into finished records.
///
/// The pipeline's per-sample processing (Runner + Evaluator) is one implementation; tests and SDK
/// users may plug in their own. Implementations run samples with their own concurrency and call
/// `emit` for each record as it finishes, in any order; every sample must yield exactly one record
/// (a failed case is a record with `status == .error`, not a throw).
public protocol ShardProcessor: Sendable {
    /// Processes `samples`, calling `emit` once per sample as each finishes.
    /// Throwing means the worker cannot go on (it reports the error and exits).
    func process(_ samples: [IndexedSample], emit: @escaping @Sendable (ClusterRecord) async -> Void) async throws

    /// What makes the reports' pieces of the records this worker writes (protocol 12), or nil when
    /// this processor makes no report parts (the default).
    var reportPieceMaker: (any ClusterReportPieceMaker)? { get }
}

extension ShardProcessor {
    /// None: the coordinator reads each record's report part itself.
    public var reportPieceMaker: (any ClusterReportPieceMaker)? { nil }
}

/// Turns the report parts of the records a worker writes into the reports' pieces (protocol 12):
/// a sharded run whose workers write their own lines (`writeLines`) may also ask each of them for
/// its records' share of the reports, so the coordinator never reads a record's part. Implemented
/// where the reports are known (the pipeline); the worker only hands it each record's part body
/// (`ClusterReportPart.body(of:index:)`) in dataset order.
public protocol ClusterReportPieceMaker: Sendable {
    /// A batch writing its pieces into the file at `path` (made empty by the coordinator).
    func begin(path: String) throws -> any ClusterReportPieceBatch
    /// Puts every worker's pieces together into the reports (protocol 13, `makeReports`), for the
    /// coordinator: `order` as its journal sink made it (`ClusterWorkerWrittenLines.reportsOrder()`),
    /// `journal` the journal this worker appended to, where the samples the reports show are read.
    /// Reads and writes files: called off the cooperative pool.
    func makeReports(_ order: Data, journal: String) throws
}

extension ClusterReportPieceMaker {
    /// Makes none: the coordinator then makes the reports itself.
    public func makeReports(_ order: Data, journal: String) throws {
        throw ChatbotTesterError(.internal, "this worker's piece maker does not make the reports")
    }
}

/// One `writeLines` order's pieces (see `ClusterReportPieceMaker`).
public protocol ClusterReportPieceBatch: AnyObject {
    /// The record at dataset index `index` (after every one added before it), whose line holds
    /// `evalCount` evaluations, from its report part's body.
    func add(index: Int, evalCount: Int, part: UnsafeRawBufferPointer) throws
    /// Ends the batch: the bytes the worker's answer carries to the coordinator (opaque here).
    func finish() throws -> Data
}

/// Builds a worker's `ShardProcessor` from what the coordinator sent in `welcome`, with the registry
/// of whoever hosts the worker (so a user's own executable brings its own backend types).
public typealias ShardProcessorFactory =
    @Sendable (_ setup: ClusterJobSetup, _ registry: BackendRegistry, _ context: ClusterWorkerContext) async throws -> any ShardProcessor

/// What a worker offers the processor it builds.
public struct ClusterWorkerContext: Sendable {
    public var events: EventBus
    /// Rate budgets granted by the coordinator, shared by every worker of the run. Pass it to
    /// `MiddlewareEnvironment(makeRateBudget:)` so configured `rateLimit`s hold cluster-wide.
    public var makeRateBudget: @Sendable (_ instance: String, _ limits: RateLimits, _ clock: any TesterClock) -> any RateBudget
    /// Circuit breakers kept by the coordinator, one per backend instance for the whole run. Pass it
    /// to `MiddlewareEnvironment(makeCircuitBreaker:)` so `circuitBreaker` thresholds count every
    /// worker's attempts, as one process's breaker counts its own.
    public var makeCircuitBreaker: @Sendable (_ instance: String, _ settings: CircuitBreaker.Settings) -> any CircuitBreakerGate
    /// A directory for the worker's on-disk state (response cache…). A worker passes a private
    /// one (0700, owned by the user: see `ClusterWorker.Options.stateDirectory`); the default is
    /// an unpredictable path under the temporary directory, created by whoever first writes there.
    public var stateDirectory: URL
    /// The worker's id (its `hello`): names what it writes for the run (its event log).
    public var workerId: String

    public init(
        events: EventBus = EventBus(),
        makeRateBudget: @escaping @Sendable (_ instance: String, _ limits: RateLimits, _ clock: any TesterClock) -> any RateBudget = {
            LocalRateBudget(limits: $1, clock: $2)
        },
        makeCircuitBreaker: @escaping @Sendable (_ instance: String, _ settings: CircuitBreaker.Settings) -> any CircuitBreakerGate = {
            LocalCircuitBreaker(instance: $0, settings: $1)
        },
        stateDirectory: URL = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("chatbot-tester-worker-\(UUID().uuidString.lowercased())"),
        workerId: String = "worker-\(getpid())"
    ) {
        self.events = events
        self.makeRateBudget = makeRateBudget
        self.makeCircuitBreaker = makeCircuitBreaker
        self.stateDirectory = stateDirectory
        self.workerId = workerId
    }
}

extension ShardProcessor {
    /// Runs `body` on each sample with at most `limit` at once and emits each record as it finishes:
    /// the scheduling every processor needs.
    public static func emitConcurrently(
        _ samples: [IndexedSample], limit: Int, emit: @escaping @Sendable (ClusterRecord) async -> Void,
        _ body: @escaping @Sendable (IndexedSample) async -> ClusterRecord
    ) async {
        // One sample (what a worker hands over, one task per sample): played in the caller's task,
        // without a task group and a child task per sample.
        if samples.count == 1 {
            await emit(await body(samples[0]))
            return
        }
        await withTaskGroup(of: ClusterRecord.self) { group in
            var next = 0
            func addNext() {
                guard next < samples.count else { return }
                let item = samples[next]
                next += 1
                group.addTask { await body(item) }
            }
            for _ in 0..<min(max(1, limit), samples.count) { addNext() }
            while let record = await group.next() {
                await emit(record)
                addNext()
            }
        }
    }
}
