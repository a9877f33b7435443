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
    /// The queue work runs on unless told otherwise: concurrent, so one reader waiting on a pipe
    /// does not hold up another (libdispatch adds threads when its workers block).
    public static let queue = DispatchQueue(label: "chatbot-tester.blocking-io", attributes: .concurrent)

    /// Runs `body` on `queue` (a serial queue keeps its order) and returns what it returns or
    /// throws. The calling task is suspended meanwhile, holding no thread of the pool.
    public static func run<Value: Sendable>(
        on queue: DispatchQueue = BlockingIO.queue, _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
