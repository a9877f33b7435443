import CLibUV
import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

/// A framed connection over a libuv pipe (Unix-domain stream socket).
///
/// A thin shell around `FramedConnectionMachine`, which holds all the logic (framing, reassembly,
/// back-pressure, coalesced writes, the close sequence): libuv callbacks feed it events and this
/// class carries out the actions it returns. Reads are decoded into frames on the loop thread and
/// handed to `receive()`; when more than `highWatermark` frames wait unread, reading pauses until
/// the consumer is down to `lowWatermark`. Writes are coalesced: `enqueue` appends framed bytes to
/// an outbox that goes out as one write whenever none is in flight; `waitUntilWritable()` suspends
/// while more than `writeHighWatermark` bytes are unsent. A write asked for off the loop thread (a
/// frame enqueued by a task) is made there and then with `write(2)` on the non-blocking socket,
/// without waking the loop; only what the socket does not take at once goes to the loop
/// (`uv_write`), which also reports any error. A malformed or oversized frame closes
/// this connection with a reason (see `closeReason`), never the process.
public final class UVPipeConnection: UVHandleOwner, ClusterConnection, @unchecked Sendable {
    /// Tunables (the machine's configuration).
    public typealias Options = FramedConnectionMachine.Configuration

    /// The machine and the continuations it tells us to resume, under one lock.
    private struct Shared {
        var machine: FramedConnectionMachine
        var receiver: CheckedContinuation<Data?, Never>?
        var writers: [CheckedContinuation<Void, Never>] = []
    }

    /// What to do outside the lock.
    private enum Effect {
        case resume(CheckedContinuation<Data?, Never>, Data?)
        case resumeWriters([CheckedContinuation<Void, Never>])
        case io(FramedConnectionMachine.Action)
    }

    public let loop: UVLoop
    public let options: Options
    public let peerDescription: String
    /// The peer's process id, when the kernel told us (SO_PEERCRED).
    public let peerPid: Int32?
    private let shared: Locked<Shared>
    /// The socket's descriptor while the handle is open: writes from other threads use it under
    /// this lock, and the loop thread clears it under the lock before closing the handle, so a
    /// descriptor is never written after it is closed (and maybe reused).
    private let directDescriptor: Locked<Int32?>
    // Loop-thread state: the handle and its read buffer.
    private var pipe: UnsafeMutablePointer<uv_pipe_t>?
    private var closing = false
    private let readBuffer: UnsafeMutableRawPointer
    /// One read takes up to this much: a worker's records frame (tens of KiB) or several at once.
    private static let readBufferSize = 1 << 18

    init(loop: UVLoop, pipe: UnsafeMutablePointer<uv_pipe_t>, options: Options, peer: String, peerPid: Int32?) {
        self.loop = loop
        self.options = options
        self.peerDescription = peer
        self.peerPid = peerPid
        self.pipe = pipe
        self.shared = Locked(Shared(machine: FramedConnectionMachine(configuration: options, peerDescription: peer)))
        self.readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        let fd = cbt_stream_fd(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self))
        self.directDescriptor = Locked(fd >= 0 ? fd : nil)
        super.init()
        adopt(UnsafeMutableRawPointer(pipe))
    }

    deinit {
        readBuffer.deallocate()
    }

    public var closeReason: String? { shared.withLock { $0.machine.closeReason } }

    public var closedForViolation: Bool { shared.withLock { $0.machine.closedForViolation } }

    // MARK: Consumer side (any thread)

    public func receive() async -> Data? {
        // Fast path: a frame is waiting (no continuation needed).
        if let outcome = shared.withLock({ $0.machine.takeFrame() }) { return took(outcome) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Data?, Never>) in
            let outcome = shared.withLock { state -> FramedConnectionMachine.ReceiveOutcome in
                let outcome = state.machine.receive()
                if outcome == .suspend { state.receiver = continuation }
                return outcome
            }
            if outcome != .suspend { continuation.resume(returning: took(outcome)) }
        }
    }

    private func took(_ outcome: FramedConnectionMachine.ReceiveOutcome) -> Data? {
        switch outcome {
        case .frame(let frame, let resumeReading):
            if resumeReading { carryOut([.io(.startReading)], onLoop: false) }
            return frame
        case .end, .suspend:
            return nil
        }
    }

    public func enqueue(_ payloads: [Data]) {
        feed(onLoop: loop.isOnLoopThread) { $0.enqueue(payloads) }
    }

    public func waitUntilWritable() async {
        if shared.withLock({ $0.machine.isWritable }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = shared.withLock { state -> Bool in
                if state.machine.waitUntilWritable() { return true }
                state.writers.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Closes the connection. With a `reason` (a violation) at once; without, after the queued
    /// frames are written.
    public func close(reason: String?) {
        feed(onLoop: loop.isOnLoopThread) { $0.close(reason: reason) }
    }

    // MARK: Loop side

    /// Starts delivering frames (loop thread).
    func startReading() {
        feed(onLoop: true) { $0.start() }
    }

    /// Closes at once (loop thread; a fresh connection has nothing queued).
    func closeNow(reason: String?) {
        feed(onLoop: true) { $0.close(reason: reason) }
    }

    fileprivate func allocate(_ buffer: UnsafeMutablePointer<uv_buf_t>) {
        buffer.pointee = cbt_buf(readBuffer.assumingMemoryBound(to: CChar.self), Self.readBufferSize)
    }

    fileprivate func didRead(_ count: Int) {
        if count == 0 { return }  // EAGAIN
        if count == UV_EOF.rawValue { return feed(onLoop: true) { $0.readEnded(error: nil) } }
        if count < 0 { return feed(onLoop: true) { $0.readEnded(error: uvErrorText(Int32(count))) } }
        let bytes = UnsafeRawBufferPointer(start: readBuffer, count: count)
        feed(onLoop: true) { $0.read(bytes) }
    }

    fileprivate func wrote(status: Int32) {
        let outcome: FramedConnectionMachine.WriteOutcome =
            status == 0 ? .written : status == UV_ECANCELED.rawValue ? .cancelled : .failed(uvErrorText(status))
        feed(onLoop: true) { $0.writeCompleted(outcome) }
    }

    override func closeForShutdown(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        closing = true
        directDescriptor.withLock { $0 = nil }
        uv_close(handle, uvCloseReleasingOwner)
    }

    override func handleClosed() {
        pipe = nil
        feed(onLoop: true) { $0.handleClosed() }
    }

    // MARK: Carrying out actions

    /// Feeds one event to the machine and carries out its actions.
    private func feed(onLoop: Bool, _ event: (inout FramedConnectionMachine) -> [FramedConnectionMachine.Action]) {
        carryOut(apply(event), onLoop: onLoop)
    }

    /// Runs `event` under the lock; takes out the continuations its actions resume.
    private func apply(_ event: (inout FramedConnectionMachine) -> [FramedConnectionMachine.Action]) -> [Effect] {
        shared.withLock { state -> [Effect] in
            let actions = event(&state.machine)
            var effects: [Effect] = []
            effects.reserveCapacity(actions.count)
            for action in actions {
                switch action {
                case .deliver(let frame):
                    if let receiver = state.receiver {
                        state.receiver = nil
                        effects.append(.resume(receiver, frame))
                    }
                case .resumeWriters:
                    effects.append(.resumeWriters(state.writers))
                    state.writers.removeAll()
                case .finish:
                    if let receiver = state.receiver {
                        state.receiver = nil
                        effects.append(.resume(receiver, nil))
                    }
                    effects.append(.resumeWriters(state.writers))
                    state.writers.removeAll()
                case .startReading, .stopReading, .write, .closeHandle:
                    effects.append(.io(action))
                }
            }
            return effects
        }
    }

    /// Resumes continuations; performs I/O actions here on the loop thread or queues them there.
    private func carryOut(_ effects: [Effect], onLoop: Bool) {
        var pending = effects[...]
        while let effect = pending.popFirst() {
            switch effect {
            case .resume(let continuation, let frame):
                continuation.resume(returning: frame)
            case .resumeWriters(let writers):
                for writer in writers { writer.resume() }
            case .io(.write(let bytes)) where !onLoop:
                pending.append(contentsOf: writeDirectly(bytes))
            case .io(let action):
                if onLoop {
                    // A synchronous completion (a write done at once, a failed call) feeds the machine again.
                    pending.append(contentsOf: perform(action))
                } else if !loop.execute({ [self] in carryOut([.io(action)], onLoop: true) }) {
                    // The loop is shut down: its handles are closed; end the stream.
                    pending.append(contentsOf: apply { $0.handleClosed() })
                }
            }
        }
    }

    /// One I/O action on the loop thread; returns the effects of any event it produces at once.
    private func perform(_ action: FramedConnectionMachine.Action) -> [Effect] {
        guard let pipe, !closing else {
            if case .write = action { return apply { $0.writeCompleted(.cancelled) } }
            return []
        }
        let stream = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self)
        switch action {
        case .startReading:
            let rc = uv_read_start(stream, uvPipeAlloc, uvPipeRead)
            return rc == 0 ? [] : apply { $0.readEnded(error: "cannot read: \(uvErrorText(rc))") }
        case .stopReading:
            uv_read_stop(stream)
            return []
        case .write(let bytes):
            guard let outcome = write(bytes, to: stream) else { return [] }
            return apply { $0.writeCompleted(outcome) }
        case .closeHandle:
            closing = true
            directDescriptor.withLock { $0 = nil }
            uv_read_stop(stream)
            uv_close(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_handle_t.self), uvCloseReleasingOwner)
            return []
        case .deliver, .resumeWriters, .finish:
            return []
        }
    }

    /// A write asked for off the loop thread: what the socket takes at once is written here (no
    /// wake-up of the loop thread, no copy); the rest, or the whole write when the socket is full,
    /// closing or failing, goes to the loop thread, which writes it or reports the error.
    private func writeDirectly(_ bytes: Data) -> [Effect] {
        let written = directDescriptor.withLock { descriptor -> Int in
            guard let descriptor else { return 0 }
            return bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                var done = 0
                while done < raw.count {
                    let count = Foundation.write(descriptor, base + done, raw.count - done)
                    if count > 0 {
                        done += count
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        break  // EAGAIN, or an error the loop's write reports
                    }
                }
                return done
            }
        }
        if written == bytes.count { return apply { $0.writeCompleted(.written) } }
        let rest = bytes.dropFirst(written)
        if loop.execute({ [self] in carryOut([.io(.write(rest))], onLoop: true) }) { return [] }
        // The loop is shut down: its handles are closed; end the stream.
        return apply { $0.handleClosed() }
    }

    /// Writes what the socket takes at once (`uv_try_write`, no copy) and hands the rest to
    /// `uv_write`. Returns the outcome when known now, nil when `uv_write` will report it.
    private func write(_ bytes: Data, to stream: UnsafeMutablePointer<uv_stream_t>) -> FramedConnectionMachine.WriteOutcome? {
        let written = bytes.withUnsafeBytes { raw -> Int32 in
            guard raw.count > 0 else { return 0 }
            var buffer = cbt_buf(UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: CChar.self)), raw.count)
            return uv_try_write(stream, &buffer, 1)
        }
        if written == bytes.count { return .written }
        if written < 0 && written != UV_EAGAIN.rawValue { return .failed(uvErrorText(written)) }
        let request = UVWriteRequest(connection: self, bytes: bytes.dropFirst(max(0, Int(written))))
        let rc = request.start(on: stream)
        if rc != 0 {
            request.discard()
            return .failed(uvErrorText(rc))
        }
        return nil
    }
}

/// One `uv_write`: owns a copy of the bytes until the write callback (which always fires).
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
        owner.connection.wrote(status: status)
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
