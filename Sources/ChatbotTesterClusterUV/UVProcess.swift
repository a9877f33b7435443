import CLibUV
import ChatbotTesterCore
import Foundation

/// A child process started with `uv_spawn` (stdin ignored, stdout and stderr inherited).
public final class UVProcess: UVHandleOwner, @unchecked Sendable {
    /// How a process ended.
    public struct Termination: Sendable, Hashable {
        public var status: Int64
        /// The signal that ended it, or 0.
        public var signal: Int32
    }

    private struct Shared {
        var termination: Termination?
        var waiters: [CheckedContinuation<Termination, Never>] = []
    }

    public let loop: UVLoop
    public private(set) var pid: Int32 = 0
    private let shared = Locked(Shared())
    private var handle: UnsafeMutablePointer<uv_process_t>?

    private init(loop: UVLoop) {
        self.loop = loop
    }

    /// Starts `executable` with `arguments` (not including argv[0]).
    /// - Parameter environment: the child's environment; the parent's when `nil`.
    public static func spawn(executable: String, arguments: [String], environment: [String: String]? = nil, loop: UVLoop) async throws -> UVProcess {
        let process = UVProcess(loop: loop)
        try await loop.run { try process.start(executable: executable, arguments: arguments, environment: environment) }
        return process
    }

    private func start(executable: String, arguments: [String], environment: [String: String]?) throws {
        let process = UVHandleMemory.allocate(UV_PROCESS).assumingMemoryBound(to: uv_process_t.self)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        stdio[0].flags = UV_IGNORE
        stdio[1].flags = UV_INHERIT_FD
        stdio[1].data.fd = 1
        stdio[2].flags = UV_INHERIT_FD
        stdio[2].data.fd = 2
        var argvCopy = argv
        var envCopy = envp
        let rc: Int32 = argvCopy.withUnsafeMutableBufferPointer { argvBuffer in
            stdio.withUnsafeMutableBufferPointer { stdioBuffer in
                var options = uv_process_options_t()
                options.exit_cb = uvProcessExited
                options.file = UnsafePointer(argvBuffer[0])
                options.args = argvBuffer.baseAddress
                options.stdio_count = 3
                options.stdio = stdioBuffer.baseAddress
                if envCopy != nil {
                    return envCopy!.withUnsafeMutableBufferPointer { envBuffer in
                        options.env = envBuffer.baseAddress
                        return uv_spawn(loop.loop, process, &options)
                    }
                }
                return uv_spawn(loop.loop, process, &options)
            }
        }
        adopt(UnsafeMutableRawPointer(process))
        handle = process
        guard rc == 0 else {
            // A failed spawn still initialised the handle: close it.
            uv_close(UnsafeMutableRawPointer(process).assumingMemoryBound(to: uv_handle_t.self), uvCloseReleasingOwner)
            handle = nil
            throw ChatbotTesterError(.io, "cannot start \(executable): \(uvErrorText(rc))", location: SourceLocation(source: executable))
        }
        pid = process.pointee.pid
    }

    fileprivate func exited(status: Int64, signal: Int32) {
        let waiters = shared.withLock { state -> [CheckedContinuation<Termination, Never>] in
            state.termination = Termination(status: status, signal: signal)
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: Termination(status: status, signal: signal)) }
        if let handle {
            self.handle = nil
            uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self), uvCloseReleasingOwner)
        }
    }

    override func closeForShutdown(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        self.handle = nil
        uv_close(handle, uvCloseReleasingOwner)
    }

    override func handleClosed() {
        // Shut down before the child exited: nobody will learn its status from libuv.
        let waiters = shared.withLock { state -> [CheckedContinuation<Termination, Never>] in
            if state.termination == nil { state.termination = Termination(status: -1, signal: 0) }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: Termination(status: -1, signal: 0)) }
    }

    /// Waits for the process to end.
    public func waitForExit() async -> Termination {
        await withCheckedContinuation { (continuation: CheckedContinuation<Termination, Never>) in
            let done = shared.withLock { state -> Termination? in
                if let termination = state.termination { return termination }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Whether the process has ended.
    public var hasExited: Bool { shared.withLock { $0.termination != nil } }

    /// Sends a signal (SIGTERM, SIGKILL…).
    public func kill(_ signal: Int32 = SIGTERM) {
        guard pid > 0, !hasExited else { return }
        _ = Foundation.kill(pid, signal)
    }
}

private let uvProcessExited: uv_exit_cb = { process, status, signal in
    guard let process, let data = process.pointee.data else { return }
    (Unmanaged<UVHandleOwner>.fromOpaque(data).takeUnretainedValue() as? UVProcess)?.exited(status: status, signal: signal)
}
