import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a program to completion with bytes on stdin, collecting stdout and stderr, under a
/// deadline: the one process spawner of the project (the `exec` backend, tools, tests).
///
/// The program is started with `posix_spawn` (looked up on `PATH` through `/usr/bin/env`) and
/// leads its own session and process group, so a timeout or a cancelled task kills its children
/// too: SIGTERM, then SIGKILL half a second later. It starts with default signal dispositions and
/// an empty signal mask, and inherits no descriptor but its three pipes.
///
/// The child is reaped with `waitid`/`waitpid` on its own pid, on a thread of its own, never
/// through a SIGCHLD handler or a descriptor's close: Foundation's `Process` learns of an exit when
/// a descriptor the child inherited closes, so any process started meanwhile by a spawner that
/// closes nothing (libuv's `uv_spawn`, as the coordinator once used for its workers) held the wait for
/// as long as it lived. Our descriptors are close-on-exec.
///
/// SIGPIPE is ignored in this process (a child that closes its stdin early makes the write fail
/// with EPIPE instead of killing us) and pipe I/O retries on EINTR. The pipes are served by one
/// `poll` loop on a thread of its own, never on the Swift concurrency pool nor on Dispatch's.
///
/// ```swift
/// let outcome = try await ProcessRunner.run(["python3", "bot.py"], input: Data("hi".utf8),
///                                           environment: nil, directory: nil, timeoutSeconds: 30)
/// ```
public enum ProcessRunner {
    /// How a run ended and what it printed.
    public struct Outcome: Sendable {
        /// The exit status, or the signal number when `signalled`.
        public var status: Int32
        /// Everything written to stdout.
        public var stdout: Data
        /// Everything written to stderr.
        public var stderr: Data
        /// True when the deadline passed and the process group was killed.
        public var timedOut: Bool
        /// True when the process ended by a signal rather than `exit`.
        public var signalled: Bool
    }

    /// How a child ended: its exit status, or the signal that ended it.
    public struct Termination: Sendable, Hashable {
        /// The exit status, or the signal number when `signalled`.
        public var status: Int32
        /// True when the process ended by a signal rather than `exit`.
        public var signalled: Bool

        /// Decodes a `waitpid` status word.
        public init(waitStatus: Int32) {
            let signal = waitStatus & 0x7f
            self.status = signal == 0 ? (waitStatus >> 8) & 0xff : signal
            self.signalled = signal != 0
        }

        /// A termination from its parts.
        public init(status: Int32, signalled: Bool) {
            self.status = status
            self.signalled = signalled
        }
    }

    /// Failing to launch (no such file, not executable).
    public struct LaunchError: Error, CustomStringConvertible {
        /// What failed, naming the program.
        public var description: String
    }

    /// Shared between the reaper thread and the Dispatch callbacks; guarded by `lock`.
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        let pid: pid_t
        var timedOut = false
        var termination: Termination?
        var resumed = false
        var stdout = Data()
        var stderr = Data()
        var continuation: CheckedContinuation<Outcome, Never>?

        init(pid: pid_t) { self.pid = pid }

        /// Resumes once: when the process and both pipes are done, or (`force`) when a timed-out
        /// process was killed but a grandchild still holds its pipes open.
        func resume(force: Bool = false) {
            lock.lock()
            guard !resumed, termination != nil || force, let continuation else {
                lock.unlock()
                return
            }
            resumed = true
            let end = termination ?? Termination(status: SIGKILL, signalled: true)
            let outcome = Outcome(status: end.status, stdout: stdout, stderr: stderr, timedOut: timedOut, signalled: end.signalled)
            lock.unlock()
            continuation.resume(returning: outcome)
        }

        /// Sends `signal` to the child's process group and to the child, unless it has been reaped
        /// (its pid may then belong to another process).
        func signal(_ signal: Int32) {
            lock.lock()
            defer { lock.unlock() }
            guard termination == nil, pid > 0 else { return }
            kill(-pid, signal)
            kill(pid, signal)
        }

        /// Blocks until the child has exited, then reaps it. The exit is observed without reaping
        /// first (`WNOWAIT`), so `signal` never aims at a recycled pid.
        func reap() {
            while true {
                var info = siginfo_t()
                let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
                if result == 0 || errno != EINTR { break }
            }
            lock.lock()
            // Someone else's `waitpid(-1)` may have taken it (ECHILD): the status is lost.
            termination = ProcessRunner.reap(pid) ?? Termination(status: -1, signalled: false)
            lock.unlock()
        }
    }

    /// Writing to a child that closed its stdin raises SIGPIPE, whose default action kills this
    /// process: ignore it once, so the write fails with EPIPE instead.
    public static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Reads a descriptor to EOF, retrying interrupted reads (Foundation's `readDataToEndOfFile`
    /// traps on EINTR).
    public static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count < 0, errno == EINTR {
                continue
            } else {
                return data
            }
        }
    }

    /// Blocks until child `pid` of this process exits and reaps it with `waitpid`, retrying on EINTR.
    /// `nil` when it is not (or no longer) a child of this process: someone else reaped it.
    /// Call it off the Swift concurrency pool (a Dispatch or detached thread) when the child may run long.
    public static func reap(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return Termination(waitStatus: status) }
            if result == -1, errno == EINTR { continue }
            return nil
        }
    }

    /// Runs `arguments` (program name first, looked up on `PATH`) with `input` on stdin.
    ///
    /// - Parameters:
    ///   - environment: variables added to (or replacing in) this process's environment; `nil` inherits it.
    ///   - directory: the working directory; `nil` inherits this process's.
    ///   - timeoutSeconds: the deadline; past it the process group is killed and `timedOut` is set.
    /// - Throws: `LaunchError` when the program cannot be started.
    public static func run(
        _ arguments: [String], input: Data, environment: [String: String]?, directory: URL?, timeoutSeconds: Double
    ) async throws -> Outcome {
        Self.ignoreBrokenPipes
        let child = try Spawned(arguments, environment: environment, directory: directory)
        let state = State(pid: child.pid)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                state.lock.lock()
                state.continuation = continuation
                state.lock.unlock()
                let group = DispatchGroup()
                group.enter()
                // A thread of its own: `waitid` blocks for as long as the child runs.
                Thread.detachNewThread {
                    state.reap()
                    group.leave()
                }
                // The pipes on a thread of their own too (never Dispatch's pool: its few threads, all
                // blocked in reads of long-running children, would leave this child's stdin unwritten).
                group.enter()
                Thread.detachNewThread {
                    let (stdout, stderr) = ProcessRunner.exchange(input, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr)
                    state.lock.lock()
                    state.stdout = stdout
                    state.stderr = stderr
                    state.lock.unlock()
                    group.leave()
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) {
                    state.lock.lock()
                    guard !state.resumed else {
                        state.lock.unlock()
                        return
                    }
                    state.timedOut = true
                    let exited = state.termination != nil
                    state.lock.unlock()
                    if exited {
                        // Exited, but a grandchild holds its pipes open: done waiting for them.
                        state.resume()
                        return
                    }
                    state.signal(SIGTERM)
                    DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
                        state.signal(SIGKILL)
                        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { state.resume(force: true) }
                    }
                }
                group.notify(queue: .global()) { state.resume() }
            }
        } onCancel: {
            state.signal(SIGKILL)
        }
    }

    /// Writes `input` to the child's stdin and reads its stdout and stderr to their ends, all with
    /// one `poll` loop on the calling thread; closes the three descriptors. A child that exits
    /// without reading stdin ends the writing (EPIPE; SIGPIPE is ignored), not the reading.
    static func exchange(_ input: Data, stdin: Int32, stdout: Int32, stderr: Int32) -> (stdout: Data, stderr: Data) {
        var inFD = stdin
        var outFDs = [stdout, stderr]
        var collected = [Data(), Data()]
        var written = 0
        _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
        if input.isEmpty {
            close(inFD)
            inFD = -1
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while outFDs[0] >= 0 || outFDs[1] >= 0 {
            // `poll` skips negative descriptors.
            var fds = [
                pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0), pollfd(fd: outFDs[0], events: Int16(POLLIN), revents: 0),
                pollfd(fd: outFDs[1], events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 3, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if inFD >= 0, fds[0].revents != 0 {
                let count = input.withUnsafeBytes { bytes in write(inFD, bytes.baseAddress! + written, min(65536, bytes.count - written)) }
                if count > 0 {
                    written += count
                }
                if (count > 0 && written == input.count) || (count < 0 && errno != EINTR && errno != EAGAIN) || count == 0 {
                    close(inFD)
                    inFD = -1
                }
            }
            for index in 0..<2 where outFDs[index] >= 0 && fds[index + 1].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(outFDs[index], $0.baseAddress, $0.count) }
                if count > 0 {
                    collected[index].append(contentsOf: buffer[0..<count])
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(outFDs[index])
                    outFDs[index] = -1
                }
            }
        }
        for fd in outFDs where fd >= 0 { close(fd) }
        if inFD >= 0 { close(inFD) }
        return (collected[0], collected[1])
    }
}

/// A child started with `posix_spawn`, with the parent's ends of its stdin, stdout and stderr pipes.
private struct Spawned {
    var pid: pid_t
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32

    init(_ arguments: [String], environment: [String: String]?, directory: URL?) throws {
        func failure(_ reason: String) -> ProcessRunner.LaunchError {
            ProcessRunner.LaunchError(description: "cannot start \(arguments.first ?? "?"): \(reason)")
        }
        // Each pair is (read end, write end); every end is close-on-exec in this process, so a
        // child spawned meanwhile by another thread does not hold them open.
        var pipes: [[Int32]] = []
        defer { for pair in pipes { for fd in pair { close(fd) } } }
        for _ in 0..<3 {
            var fds: [Int32] = [-1, -1]
            guard LibC.makePipe(&fds) == 0 else { throw failure("cannot create a pipe: \(String(cString: strerror(errno)))") }
            pipes.append(fds)
        }

        var variables = ProcessInfo.processInfo.environment
        if let environment { variables.merge(environment) { _, new in new } }
        let pid = try PosixSpawn.spawn(
            "/usr/bin/env", arguments: arguments, environment: variables, searchPath: false, newSession: true, directory: directory,
            name: arguments.first ?? "?"
        ) { actions in
            posix_spawn_file_actions_adddup2(&actions, pipes[0][0], 0)
            posix_spawn_file_actions_adddup2(&actions, pipes[1][1], 1)
            posix_spawn_file_actions_adddup2(&actions, pipes[2][1], 2)
        }
        self.pid = pid
        stdin = pipes[0][1]
        stdout = pipes[1][0]
        stderr = pipes[2][0]
        // Keep the parent's ends; the deferred clean-up closes the child's.
        pipes = [[pipes[0][0]], [pipes[1][1]], [pipes[2][1]]]
    }
}

/// The one `posix_spawn` of the project (``ProcessRunner`` and ``ChildProcess``): the child gets
/// the descriptors `stdio` sets up and no other (every descriptor from 3 up is closed in the child,
/// where glibc can; this process's own descriptors are close-on-exec besides), default signal
/// dispositions and an empty signal mask.
enum PosixSpawn {
    /// glibc's `POSIX_SPAWN_SETSID` (2.26), which Swift's Glibc module does not import.
    #if os(Linux)
        static let setsidFlag: Int32 = 0x80
    #else
        static let setsidFlag: Int32 = Int32(POSIX_SPAWN_SETSID)
    #endif

    /// Starts `program` with `arguments` (not including argv[0]) and exactly `environment`.
    /// - Parameters:
    ///   - searchPath: look `program` up on `PATH` when it holds no `/` (`posix_spawnp`).
    ///   - newSession: the child leads a session and process group of its own.
    ///   - name: the program as the user named it, for errors.
    ///   - stdio: adds the file actions that give the child its descriptors 0, 1 and 2.
    /// - Throws: ``ProcessRunner/LaunchError`` naming the program.
    static func spawn(
        _ program: String, arguments: [String], environment: [String: String], searchPath: Bool, newSession: Bool, directory: URL?,
        name: String, stdio: (inout posix_spawn_file_actions_t) -> Void
    ) throws -> pid_t {
        func failure(_ reason: String) -> ProcessRunner.LaunchError {
            ProcessRunner.LaunchError(description: "cannot start \(name): \(reason)")
        }
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw failure("working directory \(directory.path) does not exist")
            }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        stdio(&actions)
        LibC.closeFrom(&actions, 3)
        if let directory, LibC.chdir(&actions, directory.path) != 0 {
            throw failure("cannot change to working directory \(directory.path)")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(
            &attributes, Int16(Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF) | (newSession ? setsidFlag : 0)))

        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }

        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envBuffer in
                searchPath
                    ? posix_spawnp(&pid, program, &actions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
                    : posix_spawn(&pid, program, &actions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
            }
        }
        guard result == 0 else {
            throw failure("\(String(cString: strerror(result))) (\(program))")
        }
        return pid
    }
}

/// The glibc calls Swift's Glibc module leaves out (they sit behind `_GNU_SOURCE`), looked up once
/// at run time, with portable fallbacks.
private enum LibC {
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    private struct Symbols: @unchecked Sendable {
        var pipe2: Pipe2?
        var addChdir: AddChdir?
        var addCloseFrom: AddCloseFrom?
    }

    private static let symbols: Symbols = {
        let handle = dlopen(nil, RTLD_NOW)
        func find<T>(_ name: String, as type: T.Type) -> T? { dlsym(handle, name).map { unsafeBitCast($0, to: type) } }
        return Symbols(
            pipe2: find("pipe2", as: Pipe2.self),
            addChdir: find("posix_spawn_file_actions_addchdir_np", as: AddChdir.self),
            addCloseFrom: find("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self))
    }()

    /// A close-on-exec pipe (`pipe2(O_CLOEXEC)`, else `pipe` + `FD_CLOEXEC`).
    static func makePipe(_ fds: UnsafeMutablePointer<Int32>) -> Int32 {
        if let pipe2 = symbols.pipe2 { return pipe2(fds, O_CLOEXEC) }
        guard pipe(fds) == 0 else { return -1 }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return 0
    }

    /// Closes every descriptor from `lowest` up in the child (where glibc has it; close-on-exec covers the rest).
    static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) {
        _ = symbols.addCloseFrom?(actions, lowest)
    }

    /// Changes directory in the child; `-1` where glibc lacks it.
    static func chdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        guard let addChdir = symbols.addChdir else { return -1 }
        return addChdir(actions, path)
    }
}
