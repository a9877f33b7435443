import ChatbotTesterCore
import ChatbotTesterTesting
import Dispatch
import Foundation
import Testing

/// `ThreadTaskExecutor`: jobs run on its own named threads, in order on one thread, side by side
/// on several, and on the global executor once it is shut down (a late job never stalls).
@Suite struct ThreadTaskExecutorTests {
    @Test(.timeBound) func aPreferringTaskRunsOnTheExecutorsThread() async throws {
        let executor = ThreadTaskExecutor(name: "ex-one")
        defer { executor.shutdown() }
        let names = try await withTimeout(10) {
            await Task(executorPreference: executor) { () -> [String] in
                var names = [ThreadTaskExecutor.currentThreadName]
                await Task.yield()
                names.append(ThreadTaskExecutor.currentThreadName)
                return names
            }.value
        }
        #expect(names == ["ex-one", "ex-one"])
        #expect(executor.threads == 1)
    }

    /// Threads started from a thread with another name carry their own: Foundation's
    /// `Thread.current.name = …` left a thread that started before `start()` returned with its
    /// creator's name (here the test's, `test-timed`), in 1 or 2 of every 20 at once.
    @Test(.timeBound) func everyThreadCarriesItsOwnName() async throws {
        let executors = (0..<40).map { ThreadTaskExecutor(name: "ex-named-\($0)") }
        defer { for executor in executors { executor.shutdown() } }
        let names = try await withTimeout(10) {
            var names: [String] = []
            for executor in executors { names.append(await Task(executorPreference: executor) { ThreadTaskExecutor.currentThreadName }.value) }
            return names
        }
        // The kernel keeps 15 bytes of a name.
        #expect(names == (0..<40).map { String("ex-named-\($0)".prefix(15)) })
    }

    @Test(.timeBound) func oneThreadRunsJobsInTheOrderTheyCame() async throws {
        let executor = ThreadTaskExecutor(name: "ex-order")
        defer { executor.shutdown() }
        let order = Locked<[Int]>([])
        // Held until every task is queued, so they all wait in the executor's queue.
        let gate = DispatchSemaphore(value: 0)
        let first = Task(executorPreference: executor) { gate.wait() }
        let tasks = (0..<50).map { index in Task(executorPreference: executor) { order.withLock { $0.append(index) } } }
        gate.signal()
        try await withTimeout(10) {
            await first.value
            for task in tasks { await task.value }
        }
        #expect(order.current == Array(0..<50))
    }

    /// Two threads run two jobs at once: each waits for the other's signal, which one thread could
    /// never give.
    @Test(.timeBound) func twoThreadsRunTwoJobsAtOnce() async throws {
        let executor = ThreadTaskExecutor(name: "ex-two", threads: 2)
        defer { executor.shutdown() }
        let a = DispatchSemaphore(value: 0), b = DispatchSemaphore(value: 0)
        let first = Task(executorPreference: executor) { () -> (String, Bool) in
            a.signal()
            return (ThreadTaskExecutor.currentThreadName, b.wait(timeout: .now() + 10) == .success)
        }
        let second = Task(executorPreference: executor) { () -> (String, Bool) in
            b.signal()
            return (ThreadTaskExecutor.currentThreadName, a.wait(timeout: .now() + 10) == .success)
        }
        let (one, two) = try await withTimeout(20) { (await first.value, await second.value) }
        #expect(one.1 && two.1)
        #expect(Set([one.0, two.0]) == ["ex-two-0", "ex-two-1"])
    }

    @Test(.timeBound) func afterShutdownJobsRunOnTheGlobalExecutor() async throws {
        let executor = ThreadTaskExecutor(name: "ex-late")
        #expect(await Task(executorPreference: executor) { ThreadTaskExecutor.currentThreadName }.value == "ex-late")
        #if os(Linux)
        // The kernel's own text: the name and the one newline it adds (a name written with a
        // newline of its own kept it, and `perf`/`top` showed "ex-late\n").
        let raw = await Task(executorPreference: executor) { try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8) }.value
        #expect(raw == "ex-late\n")
        #endif
        executor.shutdown()
        // On Swift's pool, which the whole suite keeps busy for tens of seconds on two cores: the
        // bound is against a hang, not a delay.
        let name = try await withTimeout(300) { await Task(executorPreference: executor) { ThreadTaskExecutor.currentThreadName }.value }
        #expect(name != "ex-late" && !name.isEmpty)
    }
}
