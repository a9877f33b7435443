import ChatbotTesterCore
import DequeModule

/// A single-producer, single-consumer channel with backpressure: `send` waits while `capacity`
/// records are unconsumed, so a slow consumer slows the run instead of growing memory.
///
/// When the consumer goes away (its task is cancelled or it stops iterating) the channel is
/// terminated: buffered records are dropped (they are journaled already), later sends return at
/// once, and `onTerminate` runs (the Runner cancels the run).
final class RecordChannel: Sendable {
    private struct State {
        var buffer = Deque<IndexedRunRecord>()
        var finished = false
        var failure: (any Error)?
        var terminated = false
        /// The consumer drops every record (`discardAll`): sends return at once, nothing is buffered.
        var discarding = false
        var consumer: CheckedContinuation<IndexedRunRecord?, any Error>?
        /// The producer, parked in `send` while the channel is full.
        var producer = ParkingSlot()
        var count: Int { buffer.count }

        mutating func pop() -> IndexedRunRecord {
            buffer.removeFirst()
        }
    }

    private let state = Locked(State())
    private let capacity: Int
    private let onTerminate: @Sendable () -> Void

    init(capacity: Int, onTerminate: @escaping @Sendable () -> Void) {
        self.capacity = max(1, capacity)
        self.onTerminate = onTerminate
    }

    /// Hands a record to the consumer, waiting while the channel is full.
    func send(_ record: IndexedRunRecord) async {
        enum Step { case delivered(CheckedContinuation<IndexedRunRecord?, any Error>), buffered, dropped }
        let step = state.withLock { s -> Step in
            if s.terminated || s.finished || s.discarding { return .dropped }
            if let consumer = s.consumer {
                s.consumer = nil
                return .delivered(consumer)
            }
            s.buffer.append(record)
            // A wake from a record taken earlier is not room for this one.
            s.producer.consumeWake()
            return .buffered
        }
        switch step {
        case .delivered(let consumer):
            consumer.resume(returning: record)
            return
        case .dropped:
            return
        case .buffered:
            break
        }
        // A cancelled run does not wait for its consumer: it starts nothing new, so the buffer can
        // only grow by the samples that were in flight.
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                state.withLock { s -> ParkingSlot.Waiter? in
                    if s.terminated || s.count < capacity || Task.isCancelled { return continuation }
                    return s.producer.park(continuation)
                }?.resume()
            }
        } onCancel: {
            state.withLock { $0.producer.wake() }?.resume()
        }
    }

    /// Ends the stream after the buffered records, optionally with an error.
    func finish(throwing error: (any Error)? = nil) {
        let consumer = state.withLock { s -> CheckedContinuation<IndexedRunRecord?, any Error>? in
            guard !s.finished else { return nil }
            s.finished = true
            s.failure = error
            defer { s.consumer = nil }
            return s.consumer
        }
        guard let consumer else { return }
        if let error {
            state.withLock { $0.failure = nil }
            consumer.resume(throwing: error)
        } else {
            consumer.resume(returning: nil)
        }
    }

    /// The consumer is gone: drop everything and wake the producer.
    func terminate() {
        let (consumer, producer, first) = state.withLock { s in
            defer {
                s.terminated = true
                s.buffer.removeAll()
                s.consumer = nil
            }
            return (s.consumer, s.producer.wake(), !s.terminated && !s.finished)
        }
        consumer?.resume(returning: nil)
        producer?.resume()
        if first { onTerminate() }
    }

    /// Drops every record, buffered and to come, without waking this task per record, and returns
    /// at the end of the stream; throws the run's error, as iterating to the end would.
    func discardAll() async throws {
        let producer = state.withLock { s -> ParkingSlot.Waiter? in
            s.discarding = true
            s.buffer.removeAll()
            return s.producer.wake()
        }
        producer?.resume()
        while try await next() != nil {}
    }

    /// The next record, or `nil` at the end. Throws the run's error once, at the end.
    func next() async throws -> IndexedRunRecord? {
        // A buffered record is taken without a continuation (the common case while the run is ahead).
        if !Task.isCancelled {
            let ready = state.withLock { s -> (IndexedRunRecord, ParkingSlot.Waiter?)? in
                guard !s.terminated, s.count > 0 else { return nil }
                let record = s.pop()
                return (record, s.count < capacity ? s.producer.wake() : nil)
            }
            if let (record, producer) = ready {
                producer?.resume()
                return record
            }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<IndexedRunRecord?, any Error>) in
                enum Step { case value(IndexedRunRecord, ParkingSlot.Waiter?), end, fail(any Error), wait }
                let step = state.withLock { s -> Step in
                    if s.count > 0 {
                        let record = s.pop()
                        return .value(record, s.count < capacity ? s.producer.wake() : nil)
                    }
                    if s.terminated { return .end }
                    if s.finished {
                        if let failure = s.failure {
                            s.failure = nil
                            return .fail(failure)
                        }
                        return .end
                    }
                    s.consumer = continuation
                    return .wait
                }
                switch step {
                case .value(let record, let producer):
                    producer?.resume()
                    continuation.resume(returning: record)
                case .end: continuation.resume(returning: nil)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            terminate()
        }
    }
}
