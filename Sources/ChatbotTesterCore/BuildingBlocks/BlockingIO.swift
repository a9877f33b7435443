import Dispatch

/// Runs blocking work — a read that may wait (a FIFO, standard input, a slow disk), an fsync —
/// on a dispatch queue, off Swift's cooperative thread pool.
///
/// The pool has one thread per core (two on a small machine): a task that blocks in `read(2)`
/// holds a whole thread, and two such tasks stop every other task of the process. The awaiting
/// task is suspended instead, and resumed with the result once the work is done.
///
/// ```swift
/// let batch = try await BlockingIO.run { try reader.nextBatch() }
/// ```
///
/// Use it for work that waits on the system, a chunk at a time (one hop costs a few
/// microseconds): not per line, and not for CPU work, which belongs on the pool.
public enum BlockingIO {
    /// Runs `body` on `queue` (a serial queue keeps its order), by default on a serial queue of
    /// its own, and returns what it returns or throws. The calling task is suspended meanwhile,
    /// holding no thread of the pool.
    ///
    /// Why a queue of its own: Swift's cooperative pool and libdispatch's concurrent queues run on
    /// the same width-limited threads (the default-QoS root queue), which libdispatch widens only
    /// after a while when threads block; a serial queue runs on the overcommit root queue, which
    /// gives each item a thread at once. On a concurrent queue, blocking work waits behind the
    /// very tasks it was moved away from: `DatasetScanPoolTests` with eight busy tasks beside its
    /// FIFO scans took 1.1–2.1 s that way and 0.12–0.14 s this way. (A full-suite run once saw
    /// those scans stand still for 30 s on the concurrent queue; this is the likely cause, not a
    /// proven one: that stall was not reproduced on demand.)
    public static func run<Value: Sendable>(
        on queue: DispatchQueue? = nil, _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        let target = queue ?? DispatchQueue(label: "chatbot-tester.blocking-io")
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            target.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body(index)` for every index of `0..<count` on up to `lanes` serial queues of their
    /// own at once — index `i` on lane `i % lanes`, in order within its lane — and returns once all
    /// have run. It blocks the calling thread: call it off the cooperative pool (inside `run`, or
    /// on a queue of your own).
    ///
    /// ```swift
    /// BlockingIO.inLanes(urls.count, lanes: 4, label: "spool-sync") { fsyncFile(urls[$0]) }
    /// ```
    ///
    /// Serial queues, for the reason `run` gives, and not `DispatchQueue.concurrentPerform`, which
    /// borrows the same width-limited threads: on two cores a spool's fsyncs run that way held
    /// both, and the coordinator, whose run had started, took no frame for about 130 ms
    /// (300,000 cases).
    public static func inLanes(_ count: Int, lanes: Int, label: String, _ body: @escaping @Sendable (Int) -> Void) {
        let lanes = min(max(1, lanes), count)
        guard lanes > 0 else { return }
        let group = DispatchGroup()
        for lane in 0..<lanes {
            DispatchQueue(label: label).async(group: group) {
                for index in stride(from: lane, to: count, by: lanes) { body(index) }
            }
        }
        group.wait()
    }
}
