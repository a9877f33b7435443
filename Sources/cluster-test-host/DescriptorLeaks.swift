import ChatbotTester
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// Scenarios with a spawner that closes nothing (as libuv's `uv_spawn`, which started the
// coordinator's workers until they moved to Core's `ChildProcess`): each child it starts keeps
// every inheritable descriptor of the process. They run here, in a process of their own, because
// in the test process they would hold the pipes of every other test running at the same time.

/// Starts up to `count` `sleep 30` processes from a thread of their own, a few milliseconds apart,
/// with no file actions: each keeps every inheritable descriptor.
final class DescriptorLeakers: @unchecked Sendable {
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

/// `reap-beside-leaks`: 20 `cat` runs through `ProcessRunner` while leakers spawn; prints how many
/// settled within 20 s and whether each echoed its input and exited 0. Exit 0 when all did.
func reapBesideLeaks() async -> Int32 {
    let leakers = DescriptorLeakers(count: 100)
    defer { leakers.stop() }
    let finished = Locked<[(Int, ProcessRunner.Outcome)]>([])
    for index in 0..<20 {
        // Detached and not awaited: a run that never ends must fail the check, not hang it.
        Task.detached {
            // `cat` reads stdin to its end: a leaked copy of the stdin pipe's write end would keep it waiting too.
            guard let outcome = try? await ProcessRunner.run(["cat"], input: Data("run \(index)".utf8), environment: nil, directory: nil, timeoutSeconds: 3600)
            else { return }
            finished.withLock { $0.append((index, outcome)) }
        }
    }
    for _ in 0..<200 where finished.current.count < 20 { try? await Task.sleep(nanoseconds: 100_000_000) }
    let settled = finished.current
    let right = settled.filter { index, outcome in
        String(decoding: outcome.stdout, as: UTF8.self) == "run \(index)" && outcome.status == 0 && !outcome.timedOut && !outcome.signalled
    }
    print("settled \(settled.count) right \(right.count)")
    return right.count == 20 ? 0 : 1
}

/// `exec-beside-libuv --config PATH`: the job's `test` (an `exec` backend) while this process's libuv
/// loop spawns long-lived children; prints `ok error attempts exit` of the run.
func execBesideLibuv(config: String) async throws -> Int32 {
    let job = try await TestJob.prepare(
        config: try JobConfig.load(contentsOf: URL(fileURLWithPath: config)), components: .builtin(), settings: JobSettings())
    let outcome = try await UVLoop.withLoop { loop in
        // A worker started and ended before the run (the coordinator's spawner once installed
        // libuv's SIGCHLD handler here; `ChildProcess` reaps on a thread of its own).
        let first = try await UVProcess.spawn(executable: "/bin/sh", arguments: ["-c", "exit 0"], loop: loop)
        _ = await first.waitForExit()
        let running = Task { try await job.test() }
        // Long-lived libuv children started while the exec calls run.
        var sleepers: [UVProcess] = []
        for _ in 0..<20 {
            sleepers.append(try await UVProcess.spawn(executable: "/bin/sleep", arguments: ["120"], loop: loop))
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let outcome = try await running.value
        for sleeper in sleepers {
            sleeper.kill(SIGKILL)
            _ = await sleeper.waitForExit()
        }
        return outcome
    }
    let statistics = outcome.run?.statistics
    print("\(statistics?.ok ?? -1) \(statistics?.error ?? -1) \(statistics?.attempts ?? -1) \(outcome.exitStatus)")
    return 0
}

/// `reap-beside-swallowed-sigchld`: 4 runs through `ProcessRunner` while a SIGCHLD handler that
/// swallows the signal is installed (as libuv's handles only its own children); prints their exit
/// statuses in order once all settled within 20 s. Exit 0 when they did. (In the test process the
/// swap would take libuv's own handler away from the cluster tests running meanwhile.)
func reapBesideSwallowedSigchld() async -> Int32 {
    var swallow = sigaction()
    swallow.__sigaction_handler = .init(sa_handler: { _ in })
    sigemptyset(&swallow.sa_mask)
    swallow.sa_flags = SA_RESTART
    sigaction(SIGCHLD, &swallow, nil)
    let finished = Locked<[Int32]>([])
    for index in 0..<4 {
        Task.detached {
            guard let outcome = try? await ProcessRunner.run(
                ["sh", "-c", "cat; exit \(index + 3)"], input: Data("run \(index)".utf8), environment: nil, directory: nil,
                timeoutSeconds: 3600),
                !outcome.timedOut, !outcome.signalled, String(decoding: outcome.stdout, as: UTF8.self) == "run \(index)"
            else { return }
            finished.withLock { $0.append(outcome.status) }
        }
    }
    for _ in 0..<200 where finished.current.count < 4 { try? await Task.sleep(nanoseconds: 100_000_000) }
    let statuses = finished.current.sorted()
    print("statuses \(statuses.map(String.init).joined(separator: " "))")
    return statuses == [3, 4, 5, 6] ? 0 : 1
}
