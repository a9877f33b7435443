import Foundation

/// A task executor that runs its jobs in order on one thread of its own, not on Swift's
/// cooperative pool: for the parts of a test that must keep moving while the rest of the suite
/// keeps the pool busy — a test server, a task that watches a child process's progress. On a
/// two-core machine the whole suite at once has held both threads of the pool for tens of
/// seconds, and a watcher on the pool would look only after the child had finished.
///
/// ```swift
/// let poller = Task(executorPreference: DedicatedThreadExecutor.watchers) { … }
/// ```
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// The executor of the tests' loopback servers.
    public static let servers = DedicatedThreadExecutor(name: "test-servers")
    /// The executor of tasks that watch what a test's child process does.
    public static let watchers = DedicatedThreadExecutor(name: "test-watchers")

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    /// Starts the thread, named `name`; it lives as long as the process.
    public init(name: String) {
        // Named from the thread itself: Foundation on Linux hands a name set before `start()` to
        // `Thread.name` only, and the kernel's name (what `perf`, `eu-stack` and `top` show) would
        // be the creating thread's.
        let thread = Thread { [self] in
            Thread.current.name = name
            run()
        }
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

extension DedicatedThreadExecutor {
    /// The calling thread's name as the kernel knows it (Linux: `/proc/thread-self/comm`; empty
    /// where that file is missing): a test checks with it which executor ran its code.
    public static var currentThreadName: String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
    }
}
