import CLibUV
import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

extension UVPipeConnection {
    /// Connects to the Unix socket at `path`. The listener's uid must be ours (SO_PEERCRED) unless
    /// `peerCheck` is false (tests only).
    /// - Throws: `.transport` when nothing listens or the peer is refused; `.invalidConfig` for a
    ///   path too long for `sun_path`.
    public static func connect(path: String, loop: UVLoop, options: Options = .init(), peerCheck: Bool = true) async throws -> UVPipeConnection {
        try UVSocketPath.checkLength(path)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UVPipeConnection, any Error>) in
            let queued = loop.execute {
                let pipe = UVHandleMemory.allocate(UV_NAMED_PIPE).assumingMemoryBound(to: uv_pipe_t.self)
                uv_pipe_init(loop.loop, pipe, 0)
                let attempt = UVConnectAttempt(loop: loop, pipe: pipe, path: path, options: options, peerCheck: peerCheck, continuation: continuation)
                attempt.start()
            }
            if !queued { continuation.resume(throwing: ChatbotTesterError(.cancelled, "the libuv loop is shut down")) }
        }
    }
}

/// One `uv_pipe_connect` in flight: owns the request until its callback.
private final class UVConnectAttempt {
    let loop: UVLoop
    let pipe: UnsafeMutablePointer<uv_pipe_t>
    let path: String
    let options: UVPipeConnection.Options
    let peerCheck: Bool
    let continuation: CheckedContinuation<UVPipeConnection, any Error>
    let request: UnsafeMutablePointer<uv_connect_t>

    init(loop: UVLoop, pipe: UnsafeMutablePointer<uv_pipe_t>, path: String, options: UVPipeConnection.Options, peerCheck: Bool, continuation: CheckedContinuation<UVPipeConnection, any Error>) {
        self.loop = loop
        self.pipe = pipe
        self.path = path
        self.options = options
        self.peerCheck = peerCheck
        self.continuation = continuation
        self.request = UVHandleMemory.allocate(request: UV_CONNECT).assumingMemoryBound(to: uv_connect_t.self)
    }

    deinit {
        UnsafeMutableRawPointer(request).deallocate()
    }

    func start() {
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        uv_pipe_connect(request, pipe, path, uvPipeConnected)
    }

    func completed(status: Int32) {
        let stream = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self)
        var credentials = cbt_peer_credentials()
        var verdict = status == 0 ? cbt_check_peer_fd(cbt_stream_fd(stream), &credentials) : status
        if status == 0 && !peerCheck { verdict = 0 }
        let connection = UVPipeConnection(
            loop: loop, pipe: pipe, options: options, peer: "coordinator \(path) (pid \(credentials.pid))", peerPid: credentials.pid)
        guard verdict == 0 else {
            let reason = status != 0
                ? "cannot connect to \(path): \(uvErrorText(status))"
                : verdict == -EPERM ? "refused coordinator at \(path): uid \(credentials.uid) is not ours" : "cannot read peer credentials: \(uvErrorText(verdict))"
            connection.closeNow(reason: reason)
            continuation.resume(throwing: ChatbotTesterError(.transport, reason, location: SourceLocation(source: path)))
            return
        }
        connection.startReading()
        continuation.resume(returning: connection)
    }
}

private let uvPipeConnected: uv_connect_cb = { request, status in
    guard let request, let data = request.pointee.data else { return }
    Unmanaged<UVConnectAttempt>.fromOpaque(data).takeRetainedValue().completed(status: status)
}
