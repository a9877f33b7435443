import CLibUV
import ChatbotTesterCore
import Foundation

/// A libuv event loop running on its own thread.
///
/// Work reaches the loop thread through `execute`, which queues a closure and wakes the loop with
/// `uv_async_send` (the one thread-safe libuv call; wake-ups coalesce, so each wake-up drains the
/// whole queue). `shutdown()` closes every handle, lets `uv_run` return and closes the loop.
///
/// ```swift
/// try await UVLoop.withLoop { loop in
///     let connection = try await UVPipeConnection.connect(path: path, loop: loop)
///     …
/// }
/// ```
public final class UVLoop: @unchecked Sendable {
    let loop: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let state = Locked<(jobs: [@Sendable () -> Void], closed: Bool, run: Int)>(([], false, 0))
    private let stopped = DispatchSemaphore(value: 0)
    private let threadId = Locked<pthread_t?>(nil)
    private let shutDown = Locked(false)

    /// Starts a loop thread. Ignores SIGPIPE process-wide (a write to a gone peer must not kill us).
    public init() {
        cbt_ignore_sigpipe()
        loop = .allocate(capacity: 1)
        loop.initialize(to: uv_loop_t())
        uv_loop_init(loop)
        wakeup = UVHandleMemory.allocate(UV_ASYNC).assumingMemoryBound(to: uv_async_t.self)
        uv_async_init(loop, wakeup, uvLoopWakeup)
        wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let thread = Thread { [self] in
            threadId.withLock { $0 = pthread_self() }
            uv_run(loop, UV_RUN_DEFAULT)
            stopped.signal()
        }
        thread.name = "chatbot-tester.uv"
        thread.start()
    }

    deinit {
        shutdown()
    }

    /// Runs `body` with a loop that is shut down afterwards, however `body` ends.
    public static func withLoop<R: Sendable>(_ body: (UVLoop) async throws -> R) async rethrows -> R {
        let loop = UVLoop()
        do {
            let result = try await body(loop)
            loop.shutdown()
            return result
        } catch {
            loop.shutdown()
            throw error
        }
    }

    /// Whether the caller runs on the loop thread.
    public var isOnLoopThread: Bool {
        guard let id = threadId.current else { return false }
        return pthread_equal(id, pthread_self()) != 0
    }

    /// Queues `job` to run on the loop thread. Returns false when the loop is shut down.
    @discardableResult
    public func execute(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.jobs.append(job)
            // Sent under the lock, so it never races the async handle's close.
            uv_async_send(wakeup)
            return true
        }
        return accepted
    }

    /// Runs `body` on the loop thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let queued = execute {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            if !queued { continuation.resume(throwing: ChatbotTesterError(.cancelled, "the libuv loop is shut down")) }
        }
    }

    /// Closures handed to the loop thread so far (`execute`): each one a hand-over from another
    /// thread, most of them a wake-up of the loop. For tests and diagnostics.
    public var executedJobCount: Int { state.withLock { $0.run } }

    fileprivate func drainJobs() {
        // Jobs that the ones run here queue (a task resumed on this loop as its executor, which
        // then resumes another) run in the same wake-up, a few rounds at most, instead of one
        // poll of the loop each: the loop's I/O waits at most that long.
        for _ in 0..<8 {
            let jobs = state.withLock { state -> [@Sendable () -> Void] in
                defer { state.jobs.removeAll() }
                state.run += state.jobs.count
                return state.jobs
            }
            if jobs.isEmpty { return }
            for job in jobs { job() }
        }
    }

    /// Closes every handle, waits for the loop thread to finish and closes the loop. Idempotent.
    /// Must not be called on the loop thread.
    public func shutdown() {
        let first = shutDown.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        precondition(!isOnLoopThread, "UVLoop.shutdown() called on the loop thread")
        let closing = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.jobs.append { [self] in
                // Anything still open is closed now; owners finish their streams in close callbacks.
                uv_walk(loop, uvCloseForShutdown, UnsafeMutableRawPointer(wakeup))
            }
            uv_async_send(wakeup)
            state.closed = true
            return true
        }
        if closing { stopped.wait() }
        // Jobs queued after the walk never ran: run nothing, just drop them.
        state.withLock { $0.jobs.removeAll() }
        let rc = uv_loop_close(loop)
        assert(rc == 0, "uv_loop_close: \(String(cString: uv_strerror(rc)))")
        UnsafeMutableRawPointer(wakeup).deallocate()
        loop.deinitialize(count: 1)
        loop.deallocate()
    }
}

/// The loop as a task executor: a task that prefers it (`Task(executorPreference: loop)`), and the
/// default actors it calls, run on the loop thread. A frame the loop reads then resumes its
/// reader there, and what the reader sends goes out from there: no hand-over to another thread
/// and back per frame (the coordinator runs on its loop). Its jobs are closures of `execute`;
/// once the loop is shut down they run on the global concurrent executor, so a task still
/// preferring the loop never stalls. Nothing that blocks for long may run there: it would hold
/// every connection of the loop (blocking I/O goes to `BlockingIO`'s queues, as anywhere).
extension UVLoop: TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if !execute({ job.runSynchronously(on: self.asUnownedTaskExecutor()) }) {
            globalConcurrentExecutor.enqueue(job)
        }
    }
}

private let uvLoopWakeup: uv_async_cb = { handle in
    guard let handle, let data = handle.pointee.data else { return }
    Unmanaged<UVLoop>.fromOpaque(data).takeUnretainedValue().drainJobs()
}

private let uvCloseForShutdown: uv_walk_cb = { handle, arg in
    guard let handle, uv_is_closing(handle) == 0 else { return }
    if UnsafeMutableRawPointer(handle) == arg {
        // The loop's own wake-up handle: its memory is freed by `shutdown()` after uv_run returns.
        uv_close(handle, nil)
    } else if let data = handle.pointee.data {
        Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue().closeForShutdown(handle)
    } else {
        uv_close(handle, uvCloseFreeingHandle)
    }
}
