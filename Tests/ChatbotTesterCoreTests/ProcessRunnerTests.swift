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

/// `ProcessRunner` sees its child exit whoever else owns SIGCHLD in this process (the scenario
/// with a spawner that leaks descriptors runs in a process of its own: `ExecBesideLibuvTests`).
@Suite(.serialized) struct ProcessRunnerReapingTests {
    /// Waits up to `seconds` for `count` detached runs; the outcomes that arrived. The runs are not
    /// awaited: one that never ends must fail the test, not hang it.
    static func settle(_ count: Int, seconds: Int, _ run: @escaping @Sendable (Int) async throws -> ProcessRunner.Outcome) async throws
        -> [ProcessRunner.Outcome]
    {
        let finished = Locked<[ProcessRunner.Outcome]>([])
        for index in 0..<count {
            Task.detached {
                let outcome = try await run(index)
                finished.withLock { $0.append(outcome) }
            }
        }
        for _ in 0..<(seconds * 10) where finished.current.count < count { try await Task.sleep(nanoseconds: 100_000_000) }
        return finished.current
    }

    /// A SIGCHLD handler that swallows the signal (as libuv's handles only its own children) does
    /// not hide the exit either: nothing here listens for SIGCHLD. The previous handler is restored
    /// and SIGCHLD raised once after, so whoever listened meanwhile rescans its children.
    @Test func completesWhileASigchldHandlerSwallowsTheSignal() async throws {
        var swallow = sigaction()
        swallow.__sigaction_handler = .init(sa_handler: { _ in })
        sigemptyset(&swallow.sa_mask)
        swallow.sa_flags = SA_RESTART
        var previous = sigaction()
        sigaction(SIGCHLD, &swallow, &previous)
        defer {
            sigaction(SIGCHLD, &previous, nil)
            kill(getpid(), SIGCHLD)
        }
        let settled = try await Self.settle(4, seconds: 20) { index in
            try await ProcessRunner.run(
                ["sh", "-c", "cat; exit \(index + 3)"], input: Data("run \(index)".utf8), environment: nil, directory: nil,
                timeoutSeconds: 3600)
        }
        #expect(settled.count == 4, "ProcessRunner did not see its children exit within 20 s")
        #expect(Set(settled.map(\.status)) == [3, 4, 5, 6])
        #expect(settled.allSatisfy { !$0.timedOut && !$0.signalled })
    }

    @Test func decodesWaitStatuses() {
        #expect(ProcessRunner.Termination(waitStatus: 3 << 8) == ProcessRunner.Termination(status: 3, signalled: false))
        #expect(ProcessRunner.Termination(waitStatus: SIGTERM) == ProcessRunner.Termination(status: SIGTERM, signalled: true))
        #expect(ProcessRunner.Termination(waitStatus: SIGKILL | 0x80) == ProcessRunner.Termination(status: SIGKILL, signalled: true))
    }
}
