import Foundation

/// Runs a program to completion with bytes on stdin, collecting stdout and stderr, under a
/// deadline: the one process spawner of the project (the `exec` backend, tools, tests).
///
/// The program is found on `PATH` (through `/usr/bin/env`) and leads its own process group
/// (`setsid`), so a timeout or a cancelled task kills its children too: SIGTERM, then SIGKILL
/// half a second later. SIGPIPE is ignored in this process (a child that closes its stdin early
/// makes the write fail with EPIPE instead of killing us) and pipe reads retry on EINTR. The
/// blocking pipe I/O runs on Dispatch threads, never on the Swift concurrency pool.
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

    /// Failing to launch (no such file, not executable).
    public struct LaunchError: Error, CustomStringConvertible {
        /// What failed, naming the program.
        public var description: String
    }

    /// Shared between the Dispatch callbacks; guarded by `lock`.
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var timedOut = false
        var exited = false
        var resumed = false
        var stdout = Data()
        var stderr = Data()
        var continuation: CheckedContinuation<Outcome, any Error>?

        /// Resumes once: when the process and both pipes are done, or (`force`) when a timed-out
        /// process was killed but Foundation has not noticed (it waits for every inheritor of the
        /// child's descriptors, grandchildren included).
        func resume(_ process: Process, force: Bool = false) {
            lock.lock()
            guard !resumed, exited || force, let continuation else {
                lock.unlock()
                return
            }
            resumed = true
            let outcome = Outcome(
                status: exited ? process.terminationStatus : SIGKILL, stdout: stdout, stderr: stderr, timedOut: timedOut,
                signalled: exited ? process.terminationReason == .uncaughtSignal : true)
            lock.unlock()
            continuation.resume(returning: outcome)
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
        let process = Process()
        // `setsid` makes the program lead its own process group, so a timeout kills its children too.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/setsid") {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            process.arguments = ["--wait", "/usr/bin/env"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
        }
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let directory { process.currentDirectoryURL = directory }
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let state = State()
        let group = DispatchGroup()

        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, any Error>) in
                state.continuation = continuation
                group.enter()
                process.terminationHandler = { process in
                    state.lock.lock()
                    state.exited = true
                    let timedOut = state.timedOut
                    state.lock.unlock()
                    if timedOut { state.resume(process) }
                    group.leave()
                }
                do {
                    try process.run()
                } catch {
                    state.resumed = true
                    // Name what failed: the program or its directory, not the `setsid` wrapper.
                    var isDirectory: ObjCBool = false
                    let reason =
                        if let directory, !(FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) && isDirectory.boolValue) {
                            "working directory \(directory.path) does not exist"
                        } else {
                            ((error as NSError).userInfo[NSFilePathErrorKey] as? String).map { "\(error.localizedDescription) (\($0))" }
                                ?? error.localizedDescription
                        }
                    continuation.resume(throwing: LaunchError(description: "cannot start \(arguments.first ?? "?"): \(reason)"))
                    return
                }
                for (pipe, isError) in [(stdout, false), (stderr, true)] {
                    group.enter()
                    DispatchQueue.global().async {
                        let data = ProcessRunner.readAll(pipe.fileHandleForReading.fileDescriptor)
                        state.lock.lock()
                        if isError { state.stderr = data } else { state.stdout = data }
                        state.lock.unlock()
                        group.leave()
                    }
                }
                DispatchQueue.global().async {
                    // A child that exits without reading stdin makes this write fail with EPIPE (SIGPIPE
                    // is ignored, see `ignoreBrokenPipes`): ignore.
                    try? stdin.fileHandleForWriting.write(contentsOf: input)
                    try? stdin.fileHandleForWriting.close()
                }
                let pid = process.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) {
                    state.lock.lock()
                    guard !state.resumed else {
                        state.lock.unlock()
                        return
                    }
                    state.timedOut = true
                    let exited = state.exited
                    state.lock.unlock()
                    if exited {
                        state.resume(process)
                        return
                    }
                    // The child may have SIGTERM blocked (it inherits the spawning thread's mask): follow with SIGKILL.
                    guard pid > 0 else { return }
                    kill(-pid, SIGTERM)
                    kill(pid, SIGTERM)
                    DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
                        kill(-pid, SIGKILL)
                        if process.isRunning { kill(pid, SIGKILL) }
                        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { state.resume(process, force: true) }
                    }
                }
                group.notify(queue: .global()) { state.resume(process) }
            }
        } onCancel: {
            if process.isRunning, process.processIdentifier > 0 {
                kill(-process.processIdentifier, SIGKILL)
                process.terminate()
            }
        }
    }
}
