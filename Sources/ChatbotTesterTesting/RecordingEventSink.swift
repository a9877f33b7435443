import ChatbotTesterCore
import Foundation

/// An `EventSink` that keeps every envelope, for assertions in tests.
///
/// ```swift
/// let recorder = RecordingEventSink()
/// bus.subscribe(recorder)
/// … run something …
/// try await recorder.waitFor(count: 3, of: BackendRetryEvent.self)
/// #expect(recorder.events(of: BackendRetryEvent.self).map(\.attempt) == [1, 2, 3])
/// ```
public final class RecordingEventSink: EventSink {
    private struct State {
        var envelopes: [EventEnvelope] = []
        var countsByKind: [String: Int] = [:]
        var finished = false
    }

    private let state = Locked(State())
    private let allWaiters = CountWaiters()
    private let kindWaiters = Locked<[String: CountWaiters]>([:])

    public init() {}

    /// Every envelope received, in order.
    public var envelopes: [EventEnvelope] { state.withLock { $0.envelopes } }
    /// The kinds received, in order.
    public var kinds: [String] { envelopes.map(\.kind) }
    /// Whether `finish()` was called (the bus shut down).
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// The events of type `T`, in order.
    public func events<T: TesterEvent>(of type: T.Type) -> [T] {
        envelopes.compactMap { $0.event as? T }
    }

    /// How many events of `kind` arrived.
    public func count(kind: String) -> Int { state.withLock { $0.countsByKind[kind] ?? 0 } }

    /// Removes everything recorded so far.
    public func reset() {
        state.withLock { s in
            s.envelopes.removeAll()
            s.countsByKind.removeAll()
        }
    }

    public func receive(_ envelope: EventEnvelope) async {
        let (total, kindCount) = state.withLock { s -> (Int, Int) in
            s.envelopes.append(envelope)
            s.countsByKind[envelope.kind, default: 0] += 1
            return (s.envelopes.count, s.countsByKind[envelope.kind]!)
        }
        allWaiters.notify(total)
        waiters(for: envelope.kind).notify(kindCount)
    }

    public func finish() async {
        state.withLock { $0.finished = true }
    }

    /// Waits until `count` events in total have arrived; throws `timeout` after `seconds` of real time
    /// (a guard against a hung test, not a timing assertion).
    public func waitFor(count: Int, timeoutSeconds seconds: Double = 30) async throws {
        try await guarded(seconds, what: "\(count) events") {
            await self.allWaiters.wait(until: count) { [state = self.state] in state.withLock { $0.envelopes.count } }
        }
    }

    /// Waits until `count` events of `type` have arrived.
    public func waitFor<T: TesterEvent>(count: Int, of type: T.Type, timeoutSeconds seconds: Double = 30) async throws {
        let kind = T.kind
        try await guarded(seconds, what: "\(count) '\(kind)' events") {
            await self.waiters(for: kind).wait(until: count) { [state = self.state] in state.withLock { $0.countsByKind[kind] ?? 0 } }
        }
    }

    private func waiters(for kind: String) -> CountWaiters {
        kindWaiters.withLock { map in
            if let existing = map[kind] { return existing }
            let created = CountWaiters()
            map[kind] = created
            return created
        }
    }

    private func guarded(_ seconds: Double, what: String, _ body: @escaping @Sendable () async -> Void) async throws {
        let received = envelopes.count
        let outcome = try await TimeoutRunner.run(
            seconds: seconds, clock: SystemTesterClock(),
            error: ChatbotTesterError(.timeout, "waited \(seconds) s for \(what); received \(received)")
        ) {
            await body()
            return true
        }
        _ = outcome
    }
}
