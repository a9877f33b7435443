import Foundation

/// Runs a program to completion with bytes on stdin, collecting stdout and stderr, under a deadline.
///
/// The blocking pipe I/O runs on Dispatch threads, never on the Swift concurrency pool.
enum ProcessRunner {
    struct Outcome: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: Data
        var timedOut: Bool
        /// True when the process ended by a signal rather than `exit`.
        var signalled: Bool
    }

    /// Failing to launch (no such file, not executable).
    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var timedOut = false
        var stdout = Data()
        var stderr = Data()
    }

    static func run(
        _ arguments: [String], input: Data, environment: [String: String]?, directory: URL?, timeoutSeconds: Double
    ) async throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
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
                group.enter()
                process.terminationHandler = { _ in group.leave() }
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: LaunchError(description: "cannot start \(arguments.first ?? "?"): \(error)"))
                    return
                }
                for (pipe, isError) in [(stdout, false), (stderr, true)] {
                    group.enter()
                    DispatchQueue.global().async {
                        let data = pipe.fileHandleForReading.readDataToEndOfFile()
                        state.lock.lock()
                        if isError { state.stderr = data } else { state.stdout = data }
                        state.lock.unlock()
                        group.leave()
                    }
                }
                DispatchQueue.global().async {
                    // A child that exits without reading stdin makes this write fail with EPIPE: ignore.
                    try? stdin.fileHandleForWriting.write(contentsOf: input)
                    try? stdin.fileHandleForWriting.close()
                }
                let pid = process.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) {
                    guard process.isRunning else { return }
                    state.lock.lock()
                    state.timedOut = true
                    state.lock.unlock()
                    process.terminate()
                    DispatchQueue.global().asyncAfter(deadline: .now() + 2) {
                        if process.isRunning { kill(pid, SIGKILL) }
                    }
                }
                group.notify(queue: .global()) {
                    state.lock.lock()
                    defer { state.lock.unlock() }
                    continuation.resume(
                        returning: Outcome(
                            status: process.terminationStatus, stdout: state.stdout, stderr: state.stderr,
                            timedOut: state.timedOut, signalled: process.terminationReason == .uncaughtSignal))
                }
            }
        } onCancel: {
            if process.isRunning { process.terminate() }
        }
    }
}
