import ChatbotTesterCore
import DequeModule
import Foundation

/// The logic of one framed connection, with no I/O: a `mutating` state machine fed events that
/// returns the actions its I/O shell carries out (the shape of swift-nio's pure state machines).
///
/// It owns length framing (`ClusterFrameDecoder`: a 4-byte big-endian length, a size cap),
/// reassembly of frames split across reads, the queue of frames not yet taken by the consumer,
/// read back-pressure (`stopReading` once `highWatermark` frames wait, `startReading` when the
/// consumer is down to `lowWatermark`; never because of our own write backlog), coalesced writes
/// (at most one write in flight; everything enqueued meanwhile goes out in the next one), the
/// `waitUntilWritable` watermarks and the close sequence (a clean close flushes first; EOF, a read
/// or write error or a framing violation close at once; the stream always ends with `finish`).
///
/// The shell (`UVPipeConnection` for libuv) serialises calls (one lock), keeps the suspended
/// consumer and writers, and performs `.startReading`, `.stopReading`, `.write` and `.closeHandle`
/// on its event loop. It reports back with `read(_:)`, `readEnded(error:)`, `writeCompleted(_:)`
/// and `handleClosed()`.
///
/// ```swift
/// var machine = FramedConnectionMachine(configuration: .init())
/// machine.start()                                  // [.startReading]
/// machine.enqueue([payload])                       // [.write(framed bytes)]
/// machine.read(bytesFromTheSocket)                 // frames queued; maybe [.stopReading]
/// machine.receive()                                // .frame(payload, resumeReading: false)
/// ```
public struct FramedConnectionMachine: Sendable {
    /// Tunables.
    public struct Configuration: Sendable, Equatable {
        /// The largest frame payload accepted; a larger announced length closes the connection.
        public var maxFrameSize: Int
        /// Pause reading when this many frames wait unread…
        public var highWatermark: Int
        /// …and resume when the consumer is down to this many.
        public var lowWatermark: Int
        /// `waitUntilWritable()` suspends above this many unsent bytes…
        public var writeHighWatermark: Int
        /// …and resumes at or below this many.
        public var writeLowWatermark: Int

        public init(
            maxFrameSize: Int = ClusterFrameDecoder.defaultMaxFrameSize, highWatermark: Int = 256, lowWatermark: Int = 64,
            writeHighWatermark: Int = 4 << 20, writeLowWatermark: Int = 1 << 20
        ) {
            self.maxFrameSize = maxFrameSize
            self.highWatermark = max(1, highWatermark)
            self.lowWatermark = min(max(0, lowWatermark), max(1, highWatermark) - 1)
            self.writeHighWatermark = writeHighWatermark
            self.writeLowWatermark = min(writeLowWatermark, writeHighWatermark)
        }
    }

    /// What the shell must do, in order.
    public enum Action: Equatable, Sendable {
        /// Resume the consumer suspended in `receive()` with this frame.
        case deliver(Data)
        /// Start (or resume) reading from the handle.
        case startReading
        /// Stop reading (back-pressure); a `startReading` follows once the consumer catches up.
        case stopReading
        /// Write these bytes as one write and report with `writeCompleted(_:)`; no other write is
        /// asked for until then.
        case write(Data)
        /// Resume every writer suspended in `waitUntilWritable()`.
        case resumeWriters
        /// Close the handle (which stops reading and cancels a pending write), then report with
        /// `handleClosed()`.
        case closeHandle
        /// The connection is over: resume a suspended consumer with the end of the stream and
        /// every suspended writer. `reason` is nil for a clean close or EOF at a frame boundary.
        case finish(reason: String?)
    }

    /// What `receive()` found.
    public enum ReceiveOutcome: Equatable, Sendable {
        /// The next frame; when `resumeReading`, the shell also starts reading again.
        case frame(Data, resumeReading: Bool)
        /// The connection is closed and every frame was taken.
        case end
        /// Nothing yet: the consumer waits for a `.deliver` or a `.finish`.
        case suspend
    }

    /// How a write requested with `.write` ended.
    public enum WriteOutcome: Equatable, Sendable {
        case written
        /// Cancelled because the handle is closing.
        case cancelled
        /// Failed; the text says why (e.g. libuv's message).
        case failed(String)
    }

    private enum State: Equatable {
        /// Open: reads and writes flow.
        case open
        /// A clean close was asked for while bytes were unsent: no more enqueues, close when flushed.
        case flushingToClose
        /// `.closeHandle` was returned; waiting for `handleClosed()`.
        case closing
        /// Over; `.finish` was returned.
        case closed
    }

    private enum Reading: Equatable {
        case notStarted, active, paused
    }

    public let configuration: Configuration
    /// Who is on the other side, for the reason of a framing violation.
    public let peerDescription: String
    private var state = State.open
    private var reading = Reading.notStarted
    private var decoder: ClusterFrameDecoder
    private var inbox = Deque<Data>()
    private var receiverWaiting = false
    private var outbox = Data()
    private var bytesInFlight: Int?
    private var writersWaiting = false
    /// Why the connection closed, when it was not a clean close or EOF at a frame boundary.
    public private(set) var closeReason: String?
    /// Whether the connection was closed for a framing violation (an oversized length).
    public private(set) var closedForViolation = false

    public init(configuration: Configuration = .init(), peerDescription: String = "peer") {
        self.configuration = configuration
        self.peerDescription = peerDescription
        self.decoder = ClusterFrameDecoder(maxFrameSize: configuration.maxFrameSize)
    }

    // MARK: Observations (for the shell and tests)

    /// Frames received and not yet taken by the consumer.
    public var undeliveredFrameCount: Int { inbox.count }
    /// Bytes enqueued and not yet reported written (the one in flight included).
    public var unsentByteCount: Int { outbox.count + (bytesInFlight ?? 0) }
    /// Whether a write is in flight.
    public var isWriting: Bool { bytesInFlight != nil }
    /// Whether reading is on.
    public var isReading: Bool { reading == .active && acceptsReads }
    /// Whether `finish` was returned.
    public var isFinished: Bool { state == .closed }

    private var acceptsReads: Bool { state == .open || state == .flushingToClose }

    // MARK: Reading

    /// The handle is ready: start reading.
    public mutating func start() -> [Action] {
        guard reading == .notStarted, acceptsReads else { return [] }
        reading = .active
        return [.startReading]
    }

    /// Bytes arrived. Complete frames go to a suspended consumer or the queue; a bad length closes.
    public mutating func read(_ bytes: UnsafeRawBufferPointer) -> [Action] {
        guard acceptsReads, !bytes.isEmpty else { return [] }
        let frames: [Data]
        do {
            frames = try decoder.feed(bytes)
        } catch {
            let message = (error as? ChatbotTesterError)?.message ?? "\(error)"
            return closeNow(reason: "\(peerDescription): \(message)", violation: true)
        }
        var actions: [Action] = []
        var rest = frames[...]
        if receiverWaiting, let first = rest.popFirst() {
            receiverWaiting = false
            actions.append(.deliver(first))
        }
        inbox.append(contentsOf: rest)
        if reading == .active && inbox.count >= configuration.highWatermark {
            reading = .paused
            actions.append(.stopReading)
        }
        return actions
    }

    /// Bytes arrived (convenience for tests).
    public mutating func read(_ data: Data) -> [Action] {
        data.withUnsafeBytes { read($0) }
    }

    /// The peer closed its side (`error == nil`) or reading failed. A partial frame left in the
    /// decoder is reported as a torn frame.
    public mutating func readEnded(error: String?) -> [Action] {
        guard acceptsReads else { return [] }
        let torn = decoder.bufferedByteCount
        let reason = error.map { "read failed: \($0)" }
            ?? (torn > 0 ? "connection closed mid-frame (\(torn) bytes of an unfinished frame)" : nil)
        return closeNow(reason: reason, violation: false)
    }

    /// The consumer takes the next frame, or registers to be resumed (`.suspend`).
    /// - Precondition: no other consumer is suspended (one consumer at a time).
    public mutating func receive() -> ReceiveOutcome {
        if let outcome = takeFrame() { return outcome }
        precondition(!receiverWaiting, "FramedConnectionMachine.receive() called concurrently")
        receiverWaiting = true
        return .suspend
    }

    /// The consumer takes the next frame or learns the end; nil when it would have to wait (and
    /// nothing is registered).
    public mutating func takeFrame() -> ReceiveOutcome? {
        if let frame = inbox.popFirst() {
            var resume = false
            if reading == .paused && inbox.count <= configuration.lowWatermark && acceptsReads {
                reading = .active
                resume = true
            }
            return .frame(frame, resumeReading: resume)
        }
        return state == .closed ? .end : nil
    }

    // MARK: Writing

    /// Frames `payloads` into the outbox; starts a write unless one is in flight. Ignored once a
    /// close was asked for.
    public mutating func enqueue(_ payloads: [Data]) -> [Action] {
        guard state == .open else { return [] }
        for payload in payloads { ClusterFrameDecoder.appendFrame(payload, to: &outbox) }
        return writeIfIdle()
    }

    /// Whether a writer may go on now: the connection is closing or at most `writeHighWatermark`
    /// bytes are unsent.
    public var isWritable: Bool { state != .open || unsentByteCount <= configuration.writeHighWatermark }

    /// Whether a writer may go on now (`true`) or must wait for `.resumeWriters` / `.finish`.
    public mutating func waitUntilWritable() -> Bool {
        if isWritable { return true }
        writersWaiting = true
        return false
    }

    /// The write asked for by the last `.write` ended.
    public mutating func writeCompleted(_ outcome: WriteOutcome) -> [Action] {
        guard bytesInFlight != nil else { return [] }
        bytesInFlight = nil
        var actions: [Action] = []
        if writersWaiting && unsentByteCount <= configuration.writeLowWatermark {
            writersWaiting = false
            actions.append(.resumeWriters)
        }
        switch outcome {
        case .written:
            if !outbox.isEmpty && acceptsReads {
                actions += writeIfIdle()
            } else if state == .flushingToClose {
                actions += closeNow(reason: nil, violation: false)
            }
        case .cancelled:
            // Only a closing handle cancels writes.
            actions += closeNow(reason: nil, violation: false)
        case .failed(let text):
            actions += closeNow(reason: "write failed: \(text)", violation: false)
        }
        return actions
    }

    private mutating func writeIfIdle() -> [Action] {
        guard bytesInFlight == nil, !outbox.isEmpty else { return [] }
        let bytes = outbox
        outbox = Data()
        bytesInFlight = bytes.count
        return [.write(bytes)]
    }

    // MARK: Closing

    /// Closes the connection. With a `reason` at once (pending bytes are dropped); without, after
    /// the bytes already enqueued are written. A reason given after the close still becomes
    /// `closeReason` when there was none.
    public mutating func close(reason: String?) -> [Action] {
        switch state {
        case .closing, .closed:
            if let reason, closeReason == nil { closeReason = reason }
            return []
        case .flushingToClose:
            return reason == nil ? [] : closeNow(reason: reason, violation: false)
        case .open:
            if reason == nil && bytesInFlight != nil {
                state = .flushingToClose
                return []
            }
            return closeNow(reason: reason, violation: false)
        }
    }

    /// The handle is closed: the stream ends.
    public mutating func handleClosed() -> [Action] {
        guard state != .closed else { return [] }
        state = .closed
        receiverWaiting = false
        writersWaiting = false
        outbox = Data()
        bytesInFlight = nil
        return [.finish(reason: closeReason)]
    }

    private mutating func closeNow(reason: String?, violation: Bool) -> [Action] {
        guard acceptsReads else { return [] }
        state = .closing
        if let reason, closeReason == nil {
            closeReason = reason
            closedForViolation = violation
        }
        outbox = Data()
        return [.closeHandle]
    }
}
