import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A long-running child process started beside this one (a cluster worker, a coordinator in a
/// test): it reads `/dev/null` on stdin, writes to this process's stdout and stderr, stays in this
/// process's group (a Ctrl-C reaches it too), starts with default signal dispositions and an empty
/// mask, and inherits no other descriptor.
///
/// That last point is why this exists rather than libuv's `uv_spawn`, which closes nothing: every
/// descriptor a library opened without close-on-exec (SwiftNIO's sockets, for one) stayed open in
/// each child for its whole life, so closing such a socket in this process sent no end of file to
/// its peer while any child lived. The child is reaped on a thread of its own with
/// `waitid(WNOWAIT)` first, so ``kill(_:)`` never aims at a recycled pid.
///
/// ```swift
/// let worker = try ChildProcess.spawn(executable: "/usr/local/bin/chatbot-tester", arguments: ["worker", "--connect", path])
/// let end = await worker.waitForExit()
/// ```
public final class ChildProcess: Sendable {
    /// The child's process id.
    public let pid: pid_t
    /// Set when the child is reaped, under the lock ``kill(_:)`` takes.
    private let exit = Locked(OneShotSlot<ProcessRunner.Termination, Never>())

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// Starts `executable` (looked up on `PATH` when it holds no `/`) with `arguments` (not
    /// including argv[0]).
    /// - Parameter environment: the child's whole environment; this process's when `nil`.
    /// - Throws: ``ProcessRunner/LaunchError`` naming the program.
    public static func spawn(executable: String, arguments: [String], environment: [String: String]? = nil) throws -> ChildProcess {
        let pid = try PosixSpawn.spawn(
            executable, arguments: arguments, environment: environment ?? ProcessInfo.processInfo.environment,
            searchPath: !executable.contains("/"), newSession: false, directory: nil, name: executable
        ) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            // Descriptors 1 and 2 are this process's, kept as they are.
        }
        let child = ChildProcess(pid: pid)
        // A thread of its own: `waitid` blocks for as long as the child runs.
        Thread.detachNewThread { child.reap() }
        return child
    }

    /// Waits for the child to end.
    public func waitForExit() async -> ProcessRunner.Termination {
        await exit.outcome().get()
    }

    /// How the child ended, or `nil` while it runs.
    public var termination: ProcessRunner.Termination? { exit.withLock { $0.value } }

    /// Whether the child has ended.
    public var hasExited: Bool { termination != nil }

    /// Sends `signal` to the child, unless it has been reaped (its pid may belong to another process by then).
    public func kill(_ signal: Int32 = SIGTERM) {
        exit.withLock { slot in
            guard !slot.isSet else { return }
            _ = Foundation.kill(pid, signal)
        }
    }

    /// Blocks until the child exits, then reaps it under the lock ``kill(_:)`` takes.
    private func reap() {
        while true {
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0 || errno != EINTR { break }
        }
        exit.withLock { slot in
            // Someone else's `waitpid(-1)` may have taken it (ECHILD): the status is lost.
            slot.set(.success(ProcessRunner.reap(pid) ?? ProcessRunner.Termination(status: -1, signalled: false)))
        }?.resume()
    }
}
