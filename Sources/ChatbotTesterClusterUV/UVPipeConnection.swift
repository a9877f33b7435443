import CLibUV
import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

/// A framed connection over a libuv pipe (Unix-domain stream socket).
///
/// Reads are decoded into frames on the loop thread and handed to `receive()`; when more than
/// `highWatermark` frames wait unread, reading pauses until the consumer is down to
/// `lowWatermark`. Writes are coalesced: `enqueue` appends framed bytes to an outbox that one
/// `uv_write` per loop wake-up flushes; `waitUntilWritable()` suspends while more than
/// `writeHighWatermark` bytes are unsent. A malformed or oversized frame closes this connection
/// with a reason (see `closeReason`), never the process.
public final class UVPipeConnection: UVHandleOwner, ClusterConnection, @unchecked Sendable {
    /// Tunables.
    public struct Options: Sendable {
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

    private struct Shared {
        var inbox: [Data] = []
        var inboxHead = 0
        var receiver: CheckedContinuation<Data?, Never>?
        var finished = false
        var paused = false
        var outbox = Data()
        var writeScheduled = false
        var unsentBytes = 0
        var writableWaiters: [CheckedContinuation<Void, Never>] = []
        var closeRequested = false
        var closeReason: String?
        var inboxCount: Int { inbox.count - inboxHead }
    }

    public let loop: UVLoop
    public let options: Options
    public let peerDescription: String
    /// The peer's process id, when the kernel told us (SO_PEERCRED).
    public let peerPid: Int32?
    private let shared = Locked(Shared())
    // Loop-thread state.
    private var pipe: UnsafeMutablePointer<uv_pipe_t>?
    private var decoder: ClusterFrameDecoder
    private let readBuffer: UnsafeMutableRawPointer
    private static let readBufferSize = 1 << 16
    private var closing = false
    private var closeWhenFlushed = false
    private var writesInFlight = 0

    init(loop: UVLoop, pipe: UnsafeMutablePointer<uv_pipe_t>, options: Options, peer: String, peerPid: Int32?) {
        self.loop = loop
        self.options = options
        self.peerDescription = peer
        self.peerPid = peerPid
        self.pipe = pipe
        self.decoder = ClusterFrameDecoder(maxFrameSize: options.maxFrameSize)
        self.readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        super.init()
        adopt(UnsafeMutableRawPointer(pipe))
    }

    deinit {
        readBuffer.deallocate()
    }

    public var closeReason: String? { shared.withLock { $0.closeReason } }

    // MARK: Reading

    /// Starts delivering frames (loop thread).
    func startReading() {
        guard let pipe, !closing else { return }
        let rc = uv_read_start(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self), uvPipeAlloc, uvPipeRead)
        if rc != 0 { closeNow(reason: "cannot read: \(uvErrorText(rc))") }
    }

    fileprivate func allocate(_ buffer: UnsafeMutablePointer<uv_buf_t>) {
        buffer.pointee = cbt_buf(readBuffer.assumingMemoryBound(to: CChar.self), Self.readBufferSize)
    }

    fileprivate func didRead(_ count: Int) {
        if count == UV_EOF.rawValue { return closeNow(reason: nil) }
        if count < 0 { return closeNow(reason: "read failed: \(uvErrorText(Int32(count)))") }
        if count == 0 { return }
        let frames: [Data]
        do {
            frames = try decoder.feed(UnsafeRawBufferPointer(start: readBuffer, count: count))
        } catch {
            return closeNow(reason: "\(peerDescription): \((error as? ChatbotTesterError)?.message ?? "\(error)")")
        }
        guard !frames.isEmpty else { return }
        let (receiver, first, pause) = shared.withLock { state -> (CheckedContinuation<Data?, Never>?, Data?, Bool) in
            var frames = frames[...]
            var handed: Data?
            let receiver = state.receiver
            if receiver != nil {
                state.receiver = nil
                handed = frames.popFirst()
            }
            state.inbox.append(contentsOf: frames)
            let pause = !state.paused && state.inboxCount >= options.highWatermark
            if pause { state.paused = true }
            return (receiver, handed, pause)
        }
        if pause, let pipe { uv_read_stop(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self)) }
        receiver?.resume(returning: first)
    }

    public func receive() async -> Data? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Data?, Never>) in
            let (value, ready, resume) = shared.withLock { state -> (Data?, Bool, Bool) in
                if state.inboxCount > 0 {
                    let frame = state.inbox[state.inboxHead]
                    state.inboxHead += 1
                    if state.inboxHead > 1024 && state.inboxHead * 2 > state.inbox.count {
                        state.inbox.removeFirst(state.inboxHead)
                        state.inboxHead = 0
                    }
                    var resume = false
                    if state.paused && state.inboxCount <= options.lowWatermark && !state.finished {
                        state.paused = false
                        resume = true
                    }
                    return (frame, true, resume)
                }
                if state.finished { return (nil, true, false) }
                precondition(state.receiver == nil, "UVPipeConnection.receive() called concurrently")
                state.receiver = continuation
                return (nil, false, false)
            }
            if resume { loop.execute { [self] in startReading() } }
            if ready { continuation.resume(returning: value) }
        }
    }

    // MARK: Writing

    public func enqueue(_ payloads: [Data]) {
        let schedule = shared.withLock { state -> Bool in
            guard !state.closeRequested && !state.finished else { return false }
            for payload in payloads {
                ClusterFrameDecoder.appendFrame(payload, to: &state.outbox)
                state.unsentBytes += payload.count + 4
            }
            guard !state.writeScheduled else { return false }
            state.writeScheduled = true
            return true
        }
        if schedule { loop.execute { [self] in flushOutbox() } }
    }

    public func waitUntilWritable() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = shared.withLock { state -> Bool in
                if state.finished || state.closeRequested || state.unsentBytes <= options.writeHighWatermark { return true }
                state.writableWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Hands the whole outbox to one `uv_write` (loop thread).
    private func flushOutbox() {
        let bytes = shared.withLock { state -> Data in
            state.writeScheduled = false
            defer { state.outbox = Data() }
            return state.outbox
        }
        guard !bytes.isEmpty else { return }
        guard let pipe, !closing else { return }
        let request = UVWriteRequest(connection: self, bytes: bytes)
        writesInFlight += 1
        let rc = request.start(on: UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self))
        if rc != 0 {
            writesInFlight -= 1
            request.discard()
            closeNow(reason: "write failed: \(uvErrorText(rc))")
        }
    }

    fileprivate func wrote(_ count: Int, status: Int32) {
        writesInFlight -= 1
        let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.unsentBytes -= count
            guard state.unsentBytes <= options.writeLowWatermark else { return [] }
            defer { state.writableWaiters.removeAll() }
            return state.writableWaiters
        }
        for waiter in waiters { waiter.resume() }
        if status < 0 && status != UV_ECANCELED.rawValue {
            closeNow(reason: "write failed: \(uvErrorText(status))")
        } else if closeWhenFlushed && writesInFlight == 0 && shared.withLock({ $0.outbox.isEmpty }) {
            closeNow(reason: nil)
        }
    }

    // MARK: Closing

    /// Closes the connection. With a `reason` (a violation) at once; without, after the queued
    /// frames are written.
    public func close(reason: String?) {
        let first = shared.withLock { state -> Bool in
            if let reason, state.closeReason == nil { state.closeReason = reason }
            defer { state.closeRequested = true }
            return !state.closeRequested
        }
        guard first || reason != nil else { return }
        let queued = loop.execute { [self] in
            if reason == nil && (writesInFlight > 0 || !shared.withLock({ $0.outbox.isEmpty })) {
                closeWhenFlushed = true
                flushOutbox()
            } else {
                closeNow(reason: reason)
            }
        }
        if !queued { finish() }
    }

    /// Closes the handle now (loop thread).
    func closeNow(reason: String?) {
        guard !closing, let pipe else { return }
        closing = true
        if let reason { shared.withLock { if $0.closeReason == nil { $0.closeReason = reason } } }
        let handle = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_handle_t.self)
        uv_read_stop(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self))
        uv_close(handle, uvCloseReleasingOwner)
    }

    override func closeForShutdown(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        closing = true
        uv_close(handle, uvCloseReleasingOwner)
    }

    override func handleClosed() {
        pipe = nil
        finish()
    }

    private func finish() {
        let (receiver, waiters) = shared.withLock { state -> (CheckedContinuation<Data?, Never>?, [CheckedContinuation<Void, Never>]) in
            state.finished = true
            state.closeRequested = true
            defer {
                state.receiver = nil
                state.writableWaiters.removeAll()
            }
            return (state.receiver, state.writableWaiters)
        }
        receiver?.resume(returning: nil)
        for waiter in waiters { waiter.resume() }
    }
}

/// One `uv_write`: owns the bytes until the write callback (which always fires).
private final class UVWriteRequest {
    let connection: UVPipeConnection
    let count: Int
    let bytes: UnsafeMutableRawPointer
    let request: UnsafeMutablePointer<uv_write_t>

    init(connection: UVPipeConnection, bytes data: Data) {
        self.connection = connection
        self.count = data.count
        self.bytes = .allocate(byteCount: max(1, data.count), alignment: 16)
        data.copyBytes(to: bytes.assumingMemoryBound(to: UInt8.self), count: data.count)
        self.request = UVHandleMemory.allocate(request: UV_WRITE).assumingMemoryBound(to: uv_write_t.self)
    }

    func start(on stream: UnsafeMutablePointer<uv_stream_t>) -> Int32 {
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        var buffer = cbt_buf(bytes.assumingMemoryBound(to: CChar.self), count)
        return uv_write(request, stream, &buffer, 1, uvPipeWritten)
    }

    /// Frees a request whose `uv_write` failed (no callback will come).
    func discard() {
        if let data = request.pointee.data { Unmanaged<UVWriteRequest>.fromOpaque(data).release() }
    }

    deinit {
        bytes.deallocate()
        UnsafeMutableRawPointer(request).deallocate()
    }

    fileprivate static func completed(_ request: UnsafeMutablePointer<uv_write_t>, status: Int32) {
        guard let data = request.pointee.data else { return }
        let owner = Unmanaged<UVWriteRequest>.fromOpaque(data).takeRetainedValue()
        owner.connection.wrote(owner.count, status: status)
    }
}

private let uvPipeAlloc: uv_alloc_cb = { handle, _, buffer in
    guard let handle, let buffer, let data = handle.pointee.data else { return }
    Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue().asConnection?.allocate(buffer)
}

private let uvPipeRead: uv_read_cb = { stream, count, _ in
    guard let stream, let data = stream.pointee.data else { return }
    Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue().asConnection?.didRead(count)
}

private let uvPipeWritten: uv_write_cb = { request, status in
    guard let request else { return }
    UVWriteRequest.completed(request, status: status)
}

extension UVHandleOwner {
    fileprivate var asConnection: UVPipeConnection? { self as? UVPipeConnection }
}
