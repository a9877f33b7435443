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

/// `ProcessRunner` sees its child exit whoever else spawns processes or owns SIGCHLD in this
/// process. Foundation's `Process` (which it used before) learns of an exit when a socket the child
/// inherits closes, and its pipes are inheritable: a process spawned meanwhile by a spawner that
/// closes nothing (libuv's `uv_spawn`, as the coordinator and the cluster tests use) keeps them
/// open, and the wait lasts as long as that process (CI hung on it). Now the child is reaped with
/// `waitpid` on its pid and every descriptor of ours is close-on-exec.
@Suite(.serialized) struct ProcessRunnerReapingTests {
    /// Starts up to `count` `sleep 30` processes from a thread of their own, a few milliseconds
    /// apart, the way libuv spawns: no file actions, so each keeps every inheritable descriptor.
    final class Leakers: @unchecked Sendable {
        private let pids = Locked<[pid_t]>([])
        private let stopped = Locked(false)

        init(count: Int) {
            Thread.detachNewThread { [self] in
                let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("30"), nil]
                for _ in 0..<count where !stopped.current {
                    var pid: pid_t = 0
                    if posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0 { pids.withLock { $0.append(pid) } }
                    usleep(3000)
                }
            }
        }

        /// Stops spawning, kills and reaps every leaker.
        func stop() {
            stopped.withLock { $0 = true }
            for pid in pids.current {
                kill(pid, SIGKILL)
                _ = ProcessRunner.reap(pid)
            }
        }
    }

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

    @Test func childrenAreSeenToExitWhileAnotherSpawnerLeaksDescriptors() async throws {
        let leakers = Leakers(count: 100)
        defer { leakers.stop() }
        // `cat` reads stdin to its end: a leaked copy of the stdin pipe's write end would keep it waiting too.
        let settled = try await Self.settle(20, seconds: 20) { index in
            try await ProcessRunner.run(["cat"], input: Data("run \(index)".utf8), environment: nil, directory: nil, timeoutSeconds: 3600)
        }
        #expect(settled.count == 20, "ProcessRunner did not see its children exit within 20 s (leaked descriptors held them)")
        #expect(Set(settled.map { String(decoding: $0.stdout, as: UTF8.self) }) == Set((0..<20).map { "run \($0)" }))
        #expect(settled.allSatisfy { $0.status == 0 && !$0.timedOut && !$0.signalled })
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
