import CLibUV
import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

/// A listening Unix-domain socket. Accepted peers whose uid differs from ours (SO_PEERCRED) are
/// closed at once and reported through `onRefused`.
public final class UVPipeListener: UVHandleOwner, ClusterListener, @unchecked Sendable {
    private struct Shared {
        var accepted: [UVPipeConnection] = []
        var waiter: CheckedContinuation<(any ClusterConnection)?, Never>?
        var closed = false
        var refused = 0
    }

    public let loop: UVLoop
    public let path: String
    public let connectionOptions: UVPipeConnection.Options
    private let onRefused: @Sendable (String) -> Void
    private let shared = Locked(Shared())
    private var server: UnsafeMutablePointer<uv_pipe_t>?

    private init(loop: UVLoop, path: String, options: UVPipeConnection.Options, onRefused: @escaping @Sendable (String) -> Void) {
        self.loop = loop
        self.path = path
        self.connectionOptions = options
        self.onRefused = onRefused
    }

    /// Peers refused so far (other uid, unreadable credentials).
    public var refusedCount: Int { shared.withLock { $0.refused } }

    /// Binds and listens on `path` (see `UVSocketPath.prepareForListening` for the checks).
    public static func listen(
        path: String, loop: UVLoop, backlog: Int32 = 128, options: UVPipeConnection.Options = .init(),
        onRefused: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> UVPipeListener {
        try UVSocketPath.prepareForListening(path)
        let listener = UVPipeListener(loop: loop, path: path, options: options, onRefused: onRefused)
        try await loop.run { try listener.bind(backlog: backlog) }
        return listener
    }

    private func bind(backlog: Int32) throws {
        let pipe = UVHandleMemory.allocate(UV_NAMED_PIPE).assumingMemoryBound(to: uv_pipe_t.self)
        uv_pipe_init(loop.loop, pipe, 0)
        adopt(UnsafeMutableRawPointer(pipe))
        server = pipe
        var rc = uv_pipe_bind(pipe, path)
        if rc == 0 {
            // uv_pipe_chmod only adds bits: set the mode ourselves.
            rc = chmod(path, 0o600) == 0 ? 0 : -errno
        }
        if rc == 0 {
            rc = uv_listen(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self), backlog, uvListenerConnection)
        }
        if rc != 0 {
            closeHandle()
            throw ChatbotTesterError(.io, "cannot listen: \(uvErrorText(rc))", location: SourceLocation(source: path))
        }
    }

    fileprivate func incoming(status: Int32) {
        guard status == 0, let server else { return }
        let client = UVHandleMemory.allocate(UV_NAMED_PIPE).assumingMemoryBound(to: uv_pipe_t.self)
        uv_pipe_init(loop.loop, client, 0)
        let serverStream = UnsafeMutableRawPointer(server).assumingMemoryBound(to: uv_stream_t.self)
        let clientStream = UnsafeMutableRawPointer(client).assumingMemoryBound(to: uv_stream_t.self)
        guard uv_accept(serverStream, clientStream) == 0 else {
            uv_close(UnsafeMutableRawPointer(client).assumingMemoryBound(to: uv_handle_t.self), uvCloseFreeingHandle)
            return
        }
        var credentials = cbt_peer_credentials()
        let verdict = cbt_check_peer_fd(cbt_stream_fd(clientStream), &credentials)
        let peer = "pid \(credentials.pid) uid \(credentials.uid)"
        let connection = UVPipeConnection(loop: loop, pipe: client, options: connectionOptions, peer: peer, peerPid: credentials.pid)
        guard verdict == 0 else {
            let reason = verdict == -EPERM ? "refused \(peer): not our uid (\(geteuid()))" : "refused peer: cannot read credentials (\(uvErrorText(verdict)))"
            shared.withLock { $0.refused += 1 }
            connection.closeNow(reason: reason)
            onRefused(reason)
            return
        }
        connection.startReading()
        let (waiter, refuse) = shared.withLock { state -> (CheckedContinuation<(any ClusterConnection)?, Never>?, Bool) in
            if state.closed { return (nil, true) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, false)
            }
            state.accepted.append(connection)
            return (nil, false)
        }
        if refuse { return connection.closeNow(reason: nil) }
        waiter?.resume(returning: connection)
    }

    public func accept() async -> (any ClusterConnection)? {
        await withCheckedContinuation { (continuation: CheckedContinuation<(any ClusterConnection)?, Never>) in
            let ready = shared.withLock { state -> (Bool, UVPipeConnection?) in
                if !state.accepted.isEmpty { return (true, state.accepted.removeFirst()) }
                if state.closed { return (true, nil) }
                state.waiter = continuation
                return (false, nil)
            }
            if ready.0 { continuation.resume(returning: ready.1) }
        }
    }

    public func close() {
        // Stop handing out connections at once; the handle closes on the loop.
        let pending = shared.withLock { state -> [UVPipeConnection] in
            state.closed = true
            defer { state.accepted.removeAll() }
            return state.accepted
        }
        for connection in pending { connection.close(reason: nil) }
        if !loop.execute({ [self] in closeHandle() }) { finish() }
    }

    private func closeHandle() {
        guard let server else { return finish() }
        self.server = nil
        let handle = UnsafeMutableRawPointer(server).assumingMemoryBound(to: uv_handle_t.self)
        if uv_is_closing(handle) == 0 { uv_close(handle, uvCloseReleasingOwner) }
    }

    override func closeForShutdown(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        server = nil
        uv_close(handle, uvCloseReleasingOwner)
    }

    override func handleClosed() {
        unlink(path)
        finish()
    }

    private func finish() {
        let (waiter, pending) = shared.withLock { state -> (CheckedContinuation<(any ClusterConnection)?, Never>?, [UVPipeConnection]) in
            state.closed = true
            defer {
                state.waiter = nil
                state.accepted.removeAll()
            }
            return (state.waiter, state.accepted)
        }
        for connection in pending { connection.close(reason: nil) }
        waiter?.resume(returning: nil)
    }
}

private let uvListenerConnection: uv_connection_cb = { server, status in
    guard let server, let data = server.pointee.data else { return }
    (Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue() as? UVPipeListener)?.incoming(status: status)
}
