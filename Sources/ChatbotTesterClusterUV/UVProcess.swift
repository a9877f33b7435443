import ChatbotTesterCore
import Foundation

/// A child process of a cluster run (a worker, or in tests a coordinator): stdin `/dev/null`, stdout
/// and stderr inherited, no other descriptor (``ChildProcess``, Core's spawner).
///
/// It is no longer started with libuv's `uv_spawn`, which closes nothing in the child: each worker
/// kept every descriptor a library had opened without close-on-exec (SwiftNIO's sockets among
/// them) for its whole life, so a server in this process that closed a connection sent its peer no
/// end of file while a worker lived. The type keeps its name and its loop so callers stay as they were.
public final class UVProcess: Sendable {
    /// How a process ended.
    public struct Termination: Sendable, Hashable {
        /// The exit status (0 when a signal ended it).
        public var status: Int64
        /// The signal that ended it, or 0.
        public var signal: Int32

        /// A termination by exit `status` or by `signal`.
        public init(status: Int64, signal: Int32) {
            self.status = status
            self.signal = signal
        }
    }

    /// The loop the process was started for.
    public let loop: UVLoop
    private let child: ChildProcess

    private init(loop: UVLoop, child: ChildProcess) {
        self.loop = loop
        self.child = child
    }

    /// The child's process id.
    public var pid: Int32 { child.pid }

    /// Starts `executable` (looked up on `PATH` when it holds no `/`) with `arguments` (not including argv[0]).
    /// - Parameter environment: the child's environment; the parent's when `nil`.
    public static func spawn(executable: String, arguments: [String], environment: [String: String]? = nil, loop: UVLoop) async throws -> UVProcess {
        do {
            return UVProcess(loop: loop, child: try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment))
        } catch let error as ProcessRunner.LaunchError {
            throw ChatbotTesterError(.io, error.description, location: SourceLocation(source: executable))
        }
    }

    /// Waits for the process to end.
    public func waitForExit() async -> Termination {
        Self.termination(await child.waitForExit())
    }

    /// Whether the process has ended.
    public var hasExited: Bool { child.hasExited }

    /// Sends a signal (SIGTERM, SIGKILL…), unless the process has been reaped.
    public func kill(_ signal: Int32 = SIGTERM) {
        child.kill(signal)
    }

    private static func termination(_ end: ProcessRunner.Termination) -> Termination {
        end.signalled ? Termination(status: 0, signal: end.status) : Termination(status: Int64(end.status), signal: 0)
    }
}
