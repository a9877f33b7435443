import ChatbotTesterCore
import Testing

/// A test trait that runs a test on a thread of its own instead of Swift's cooperative pool:
/// `.cpuBound` for a test whose body is a long CPU-bound loop (property checks, seeded mutations,
/// every-byte splits), `.timeBound` for a test whose steps have time bounds and must not wait
/// behind other tests' work.
///
/// Why: the pool has one thread per core and serves its jobs in turn, and the suite starts
/// hundreds of tests at once. On a two-core machine the CPU-bound loops held both threads for
/// tens of seconds (`perf` and `eu-stack` samples), and yielding every hundred rounds did not help
/// enough: every await of every other test — a worker's message hops, a server's reply, a time
/// bound's timer — waited behind those loops' turns, so steps of a few milliseconds failed their
/// 10-second bounds. On threads of their own the loops are time-sliced by the kernel beside the
/// pool, and the time-bound tests' hops do not queue behind anyone.
///
/// ```swift
/// @Test(.cpuBound) func generatedRecordsMatchJSONEncoder() async throws { … }
/// @Test(.timeBound) func recordsGoWithoutWaitingWhenNothingElsePlays() async throws { … }
/// ```
///
/// Work a test starts with `Task { }` prefers no executor (Swift does not pass the preference on
/// to unstructured tasks): give such tasks ``DedicatedThreadExecutor/timeBoundTests`` yourself
/// (`Task(executorPreference:)`).
public struct OwnThreadTrait: TestTrait, TestScoping {
    /// The threads the trait's tests share, in turn.
    let executors: [DedicatedThreadExecutor]
    private static let turns = Locked(0)

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let turn = Self.turns.withLock { value -> Int in
            defer { value += 1 }
            return value
        }
        try await withTaskExecutorPreference(executors[turn % executors.count]) { try await function() }
    }
}

extension DedicatedThreadExecutor {
    /// The two threads of `.cpuBound` tests: the loops need no more than the machine's cores.
    public static let cpuBoundTests = [DedicatedThreadExecutor(name: "test-cpu-0"), DedicatedThreadExecutor(name: "test-cpu-1")]
    /// The thread of `.timeBound` tests (their steps are short; they share it).
    public static let timeBoundTests = DedicatedThreadExecutor(name: "test-timed")
}

extension Trait where Self == OwnThreadTrait {
    /// Runs a long CPU-bound test on one of two threads of its own (see ``OwnThreadTrait``).
    public static var cpuBound: Self { OwnThreadTrait(executors: DedicatedThreadExecutor.cpuBoundTests) }
    /// Runs a test with time-bound steps on a thread of its own (see ``OwnThreadTrait``).
    public static var timeBound: Self { OwnThreadTrait(executors: [DedicatedThreadExecutor.timeBoundTests]) }
}
