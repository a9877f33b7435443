import ChatbotTesterCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Core's process spawner: stdin/stdout/stderr, exit status, deadlines, launch failures.
@Suite struct ProcessRunnerTests {
    @Test func passesStdinAndCollectsBothStreams() async throws {
        let outcome = try await ProcessRunner.run(
            ["sh", "-c", "cat; echo oops >&2; exit 3"], input: Data("hello".utf8), environment: nil, directory: nil, timeoutSeconds: 30)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hello")
        #expect(String(decoding: outcome.stderr, as: UTF8.self) == "oops\n")
        #expect(outcome.status == 3)
        #expect(!outcome.timedOut && !outcome.signalled)
    }

    @Test func environmentAndDirectory() async throws {
        let outcome = try await ProcessRunner.run(
            ["sh", "-c", "printf '%s %s' \"$GREETING\" \"$(pwd)\""], input: Data(), environment: ["GREETING": "hi"],
            directory: URL(fileURLWithPath: "/tmp"), timeoutSeconds: 30)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hi /tmp")
    }

    /// A child that never reads stdin: writing megabytes to it must not kill this process (SIGPIPE).
    @Test func childClosingStdinDoesNotKillUs() async throws {
        let outcome = try await ProcessRunner.run(
            ["true"], input: Data(repeating: 0x61, count: 4 << 20), environment: nil, directory: nil, timeoutSeconds: 30)
        #expect(outcome.status == 0)
    }

    @Test func deadlineKillsTheProcessGroup() async throws {
        let outcome = try await ProcessRunner.run(
            ["sh", "-c", "sleep 30 & sleep 30"], input: Data(), environment: nil, directory: nil, timeoutSeconds: 0.3)
        #expect(outcome.timedOut)
    }

    @Test func missingProgramIsALaunchFailureOrExit127() async throws {
        // `env` reports a program it cannot find with status 127.
        let outcome = try await ProcessRunner.run(
            ["no-such-program-\(UUID().uuidString)"], input: Data(), environment: nil, directory: nil, timeoutSeconds: 30)
        #expect(outcome.status == 127)
    }
}

/// How `ProcessRunner` reads a wait status. (The reaping scenarios — a spawner that leaks
/// descriptors, a SIGCHLD handler that swallows the signal — run in a process of their own:
/// `ExecBesideLibuvTests`.)
@Suite struct ProcessRunnerReapingTests {
    @Test func decodesWaitStatuses() {
        #expect(ProcessRunner.Termination(waitStatus: 3 << 8) == ProcessRunner.Termination(status: 3, signalled: false))
        #expect(ProcessRunner.Termination(waitStatus: SIGTERM) == ProcessRunner.Termination(status: SIGTERM, signalled: true))
        #expect(ProcessRunner.Termination(waitStatus: SIGKILL | 0x80) == ProcessRunner.Termination(status: SIGKILL, signalled: true))
    }
}
