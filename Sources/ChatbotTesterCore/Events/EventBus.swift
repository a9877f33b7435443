import Foundation

/// A typed event a stage publishes. Each module defines its own event structs.
///
/// `kind` is the stable name written to the JSONL event log (`run.sample.completed`, …).
public protocol TesterEvent: Sendable, Encodable {
    /// A stable, dotted name for the event type.
    static var kind: String { get }

    /// Appends the event's own fields for its `events.jsonl` line, each as `,"name":value`, in
    /// sorted order — the bytes `JSONCoding.encoder()` writes for them — and returns true; or
    /// returns false (leaving `out` for the caller to restore) to have `JSONEncoder` write them.
    /// The default returns false; events emitted per case write themselves, so the log costs no
    /// `JSONEncoder` per case (a differential test compares both).
    func appendJSONFields(to out: inout [UInt8]) -> Bool
}

extension TesterEvent {
    public func appendJSONFields(to out: inout [UInt8]) -> Bool { false }
}

/// An event with the time it was emitted.
public struct EventEnvelope: Sendable {
    public var event: any TesterEvent
    public var time: Date

    public init(event: any TesterEvent, time: Date = Date()) {
        self.event = event
        self.time = time
    }

    /// The event's kind.
    public var kind: String { type(of: event).kind }
}

/// Something that consumes events: a progress bar, a JSONL log, a metrics exporter, a test recorder.
public protocol EventSink: Sendable {
    /// Handles one event. Called from a single task per sink, in emission order.
    func receive(_ envelope: EventEnvelope) async
    /// Called once after the last event; flush here.
    func finish() async
}

extension EventSink {
    public func finish() async {}
}

/// A sink whose per-event work is cheap, non-blocking bookkeeping (appending to a buffer): the bus
/// hands it each event on the emitting thread, in emission order, instead of waking the sink's task
/// once per event. Anything slow (writing a file) goes in `drain()`, which runs on the sink's own
/// task when `accept` asks for it. `receive` is not called for a sink subscribed this way.
public protocol InlineEventSink: EventSink {
    /// Takes one event; returns true when `drain()` should run soon (a buffer is due to be written).
    /// Called on the emitting thread, possibly on several threads at once: it must be thread-safe,
    /// must not block and must not emit.
    func accept(_ envelope: EventEnvelope) -> Bool
    /// Does the deferred work (called on the sink's task, never concurrently with `finish()`).
    func drain() async
}

/// Fans typed events out to async subscribers. Library code emits; only sinks decide what to show.
///
/// `emit` never blocks and never waits for a sink. Call `shutdown()` to deliver what is queued and
/// finish every sink.
public final class EventBus: Sendable {
    private struct Subscriber {
        var continuation: AsyncStream<EventEnvelope>.Continuation?
        /// Set for an `InlineEventSink`: it takes events in `emit`; the stream only wakes `drain()`.
        var inline: (any InlineEventSink)?
        var wake: AsyncStream<Void>.Continuation?
        var task: Task<Void, Never>

        func finish() {
            continuation?.finish()
            wake?.finish()
        }
    }

    private let subscribers = Locked<[Subscriber]>([])

    public init() {}

    /// Adds a sink; it receives every event emitted from now on, in order.
    public func subscribe(_ sink: any EventSink) {
        if let inline = sink as? any InlineEventSink {
            // One pending wake is enough: `drain` handles everything accepted before it runs.
            let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let task = Task {
                for await _ in wakes { await inline.drain() }
                await inline.finish()
            }
            subscribers.withLock { $0.append(Subscriber(continuation: nil, inline: inline, wake: wake, task: task)) }
            return
        }
        let (stream, continuation) = AsyncStream<EventEnvelope>.makeStream()
        let task = Task {
            for await envelope in stream {
                await sink.receive(envelope)
            }
            await sink.finish()
        }
        subscribers.withLock { $0.append(Subscriber(continuation: continuation, inline: nil, wake: nil, task: task)) }
    }

    /// Publishes an event to every sink.
    ///
    /// The sinks are handed the event outside the bus's lock (on a snapshot of the list), so
    /// emitters on other threads never wait for a sink's bookkeeping: each sink keeps the order of
    /// its own calls, which is emission order for events emitted one after another (on one task,
    /// or handed on from one task to the next). An event emitted while `shutdown()` runs may miss
    /// a sink that is finishing, as it may miss one being removed.
    public func emit(_ event: some TesterEvent) {
        let list = subscribers.withLock { $0 }
        guard !list.isEmpty else { return }
        let envelope = EventEnvelope(event: event)
        for subscriber in list {
            if let inline = subscriber.inline {
                if inline.accept(envelope) { subscriber.wake?.yield() }
            } else {
                subscriber.continuation?.yield(envelope)
            }
        }
    }

    /// Whether any sink listens (lets hot paths skip building events nobody reads).
    public var hasSubscribers: Bool { subscribers.withLock { !$0.isEmpty } }

    /// Delivers every queued event, finishes each sink and removes them.
    public func shutdown() async {
        let list = subscribers.withLock { list -> [Subscriber] in
            defer { list.removeAll() }
            return list
        }
        for subscriber in list { subscriber.finish() }
        for subscriber in list { await subscriber.task.value }
    }
}

/// A log line from library code, for sinks to show or record (library code never prints).
public struct LogEvent: TesterEvent {
    public static let kind = "log"
    public enum Level: String, Sendable, Encodable { case debug, info, warning, error }
    public var level: Level
    public var message: String
    public var source: String?

    public init(_ level: Level, _ message: String, source: String? = nil) {
        self.level = level
        self.message = message
        self.source = source
    }
}
