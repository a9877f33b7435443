import DequeModule
import Foundation

/// A task executor that runs its jobs, first in first out, on threads of its own instead of
/// Swift's cooperative pool.
///
/// Two uses:
/// - **A process that shares the machine's cores with its siblings** (a cluster worker started
///   beside others by its coordinator) runs on as many threads as its share of the cores. The
///   pool always has one thread per core: two workers on two cores each kept two threads that
///   woke each other for every reply; with one thread each the sharded run's CPU ratio to one
///   process fell from 1.24 to 1.18 (medians of 16 interleaved rounds, tree CPU 4.12 → 4.04 s;
///   `ops/bench/sharded-variants.py`, session 31).
/// - **Work that must keep moving while the pool is busy** (a test's loopback server, a watcher
///   of a child process), on a thread of its own that the kernel time-slices beside the pool.
///
/// ```swift
/// let executor = ThreadTaskExecutor(name: "worker", threads: 1)
/// let exit = await Task(executorPreference: executor) { await ClusterWorker.run(…) }.value
/// executor.shutdown()
/// ```
///
/// Default actors a preferring task calls run there too; tasks started with `Task { }` from
/// there do not inherit the preference (Swift's rule): pass it on with `Task(executorPreference:)`.
/// After ``shutdown()`` the threads finish the jobs they hold and exit, and later jobs run on
/// the global concurrent executor, so a task still preferring this executor never stalls.
public final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    /// Threads started; a name ends with `-N` when there are several.
    public let threads: Int
    private let condition = NSCondition()
    private var jobs = Deque<UnownedJob>()
    private var stopped = false

    /// Starts `threads` threads (at least one), named `name` (the kernel's thread name, which
    /// `perf`, `top` and `eu-stack` show, holds 15 bytes). They live until ``shutdown()``.
    public init(name: String, threads: Int = 1) {
        self.threads = max(1, threads)
        for index in 0..<self.threads {
            let label = self.threads == 1 ? name : "\(name)-\(index)"
            // Named from the thread itself, by the kernel's call: a new thread starts with its
            // creator's name, and Foundation's `Thread.current.name = …` on Linux renames the
            // thread only once `start()` has recorded it — a thread that gets there first kept
            // its creator's name (seen as a `.cpuBound` test "on a pool thread", and as tasks "on
            // test-timed" that ran on their own executor's thread).
            let thread = Thread { [self] in
                Self.nameCurrentThread(label)
                work()
            }
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if stopped {
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the threads exit once the jobs queued so far have run; jobs enqueued afterwards run
    /// on the global concurrent executor.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        // One thread takes every queued job at once when it is alone; with several, one job at a
        // time, so a long job does not hold back the ones queued behind it.
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            if threads == 1 {
                batch.append(contentsOf: jobs)
                jobs.removeAll(keepingCapacity: true)
            } else {
                batch.append(jobs.removeFirst())
            }
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

extension ThreadTaskExecutor {
    /// Gives the calling thread `name` as the kernel knows it (its first 15 bytes: the kernel's
    /// limit), through `/proc/thread-self/comm` (Linux; `pthread_setname_np` is not in Swift's
    /// Glibc module). Nothing happens where that file is missing.
    static func nameCurrentThread(_ name: String) {
        var label = Substring(name)
        while label.utf8.count > 15 { label = label.dropLast() }
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        // Written as is: the kernel keeps a trailing newline as part of the name.
        let bytes = Array(label.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The calling thread's name as the kernel knows it (Linux: `/proc/thread-self/comm`; empty
    /// where that file is missing): which executor runs the caller's code.
    public static var currentThreadName: String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
    }
}
