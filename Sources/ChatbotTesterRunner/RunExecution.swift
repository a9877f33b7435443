import ChatbotTesterCore

/// A run in progress: an `AsyncSequence` of its records (completion order, or input order with
/// `ordered`), plus controls and the final summary.
///
/// ```swift
/// let execution = runner.run(samples, resume: true)
/// for try await record in execution { … }      // one consumer
/// let summary = await execution.summary        // after the loop ends
/// ```
/// The run starts at once and is paced by the consumer: at most `concurrency` records wait
/// unconsumed. Cancelling the consuming task (or leaving the loop early) cancels the run: no new
/// samples start, samples in flight are abandoned (not journaled) and everything finished is
/// journaled and synced before `summary` returns. Iteration throws only when the input cannot be
/// read or the journal cannot be written — failed samples are records, not errors.
public final class RunExecution: AsyncSequence, Sendable {
    public typealias Element = RunRecord

    private let channel: RecordChannel
    private let control: RunControl
    private let task: Task<RunSummary, Never>

    init(channel: RecordChannel, control: RunControl, task: Task<RunSummary, Never>) {
        self.channel = channel
        self.control = control
        self.task = task
    }

    /// Graceful stop (first Ctrl-C): start no new samples, let those in flight finish and be recorded.
    public func stop() {
        control.requestStop()
    }

    /// Hard stop (second Ctrl-C): abandon samples in flight; what finished stays journaled.
    public func cancel() {
        task.cancel()
    }

    /// The summary, once the run has ended (journal closed). Iterate the records first (or cancel):
    /// a run whose records nobody consumes waits for its consumer.
    public var summary: RunSummary {
        get async { await task.value }
    }

    /// Consumes (and drops) any remaining records and returns the summary; rethrows the run's error.
    /// The records are dropped as the run hands them on, without waking this task for each.
    public func finish() async throws -> RunSummary {
        try await channel.discardAll()
        return await summary
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(channel: channel)
    }

    /// Iterates the records. One iterator per execution.
    public struct Iterator: AsyncIteratorProtocol {
        private var indexed: Indexed.Iterator

        init(channel: RecordChannel) {
            indexed = Indexed.Iterator(channel: channel)
        }

        public mutating func next() async throws -> RunRecord? {
            try await indexed.next()?.record
        }
    }

    /// The records with their samples' input positions (what a consumer needs to put results,
    /// evaluations or reports in dataset order). Iterate this or the execution itself, not both.
    public var indexed: Indexed { Indexed(channel: channel) }

    /// The records with their input positions; see `indexed`.
    public struct Indexed: AsyncSequence, Sendable {
        public typealias Element = IndexedRunRecord
        let channel: RecordChannel

        public func makeAsyncIterator() -> Iterator { Iterator(channel: channel) }

        public struct Iterator: AsyncIteratorProtocol {
            private let channel: RecordChannel
            private let token: Token

            init(channel: RecordChannel) {
                self.channel = channel
                self.token = Token(channel: channel)
            }

            public mutating func next() async throws -> IndexedRunRecord? {
                try await channel.next()
            }
        }
    }

    /// Terminates the channel when the iterator is dropped (the consumer left the loop).
    final class Token: Sendable {
        let channel: RecordChannel
        init(channel: RecordChannel) { self.channel = channel }
        deinit { channel.terminate() }
    }
}

/// The graceful-stop signal shared by an execution and its driver.
final class RunControl: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let requested = Locked(false)

    init() {
        (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func requestStop() {
        requested.withLock { $0 = true }
        continuation.yield()
    }

    /// Whether a stop was requested (read by a driver that reads its input without waiting, which
    /// may not wait for its task group's signals for many samples in a row).
    var isStopRequested: Bool { requested.current }

    /// Returns when a stop is requested (or the waiting task is cancelled).
    func waitForStop() async -> Bool {
        for await _ in stream { return true }
        return false
    }
}
