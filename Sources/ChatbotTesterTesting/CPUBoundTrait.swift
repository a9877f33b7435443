import ChatbotTesterCore
import Testing

/// A test trait for a test whose body is a long CPU-bound loop (property checks, seeded mutations,
/// every-byte splits): the test runs on one of two threads of its own instead of Swift's
/// cooperative pool.
///
/// Why: the pool has one thread per core and serves its tasks in turn. On a two-core machine a
/// full suite's CPU-bound loops held both threads for tens of seconds (`perf` and `eu-stack`
/// samples), and yielding every hundred rounds did not help enough: every await of every other
/// test — a worker's message hops, a server's reply, a time bound's timer — waited behind all of
/// those loops' turns, so tests of a few hundred milliseconds failed their 10-second bounds. On
/// threads of their own the loops are time-sliced by the kernel beside the pool, and the pool
/// stays free for the tests that wait.
///
/// ```swift
/// @Test(.cpuBound) func generatedRecordsMatchJSONEncoder() async throws { … }
/// ```
public struct CPUBoundTrait: TestTrait, TestScoping {
    /// The two threads the trait's tests share (round robin): the loops need no more than the
    /// machine's cores, and each test keeps its thread from start to end.
    static let threads = [DedicatedThreadExecutor(name: "test-cpu-0"), DedicatedThreadExecutor(name: "test-cpu-1")]
    static let next = Locked(0)

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let turn = Self.next.withLock { value -> Int in
            defer { value += 1 }
            return value
        }
        try await withTaskExecutorPreference(Self.threads[turn % Self.threads.count]) { try await function() }
    }
}

extension Trait where Self == CPUBoundTrait {
    /// Runs the test on a thread of its own, off Swift's cooperative pool (see ``CPUBoundTrait``).
    public static var cpuBound: Self { CPUBoundTrait() }
}
