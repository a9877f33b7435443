import ChatbotTesterCore

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
}

/// Builds a worker's `ShardProcessor` from what the coordinator sent in `welcome`, with the registry
/// of whoever hosts the worker (so a user's own executable brings its own backend types).
public typealias ShardProcessorFactory =
    @Sendable (_ setup: ClusterJobSetup, _ registry: BackendRegistry, _ events: EventBus) async throws -> any ShardProcessor
