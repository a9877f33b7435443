import ChatbotTesterCore
import Foundation
import Testing

/// Children spawned through Core's `ProcessRunner` are seen to exit while another spawner that
/// closes nothing (libuv's `uv_spawn`, which started the coordinator's workers until they moved to
/// Core's `ChildProcess`, or any library's `posix_spawn` without file actions) starts
/// long-lived processes that keep every inheritable descriptor. Foundation's `Process` learns of an
/// exit when a socket the child inherited closes, and its pipes were inheritable: with it, a leaked
/// descriptor held calls until their deadline (CI hung on it; an exec job took 37 s instead of 4).
/// `ProcessRunner` reaps with `waitpid` and keeps its descriptors close-on-exec.
///
/// Both scenarios run in `cluster-test-host`, a process of their own: here the leaked children would
/// hold the pipes of every other test running at the same time.
@Suite(.serialized) struct ExecBesideLibuvTests {
    @Test func childrenAreSeenToExitWhileAnotherSpawnerLeaksDescriptors() async throws {
        let outcome = try await ProcessRunner.run(
            [ClusterTestSupport.hostPath, "reap-beside-leaks"], input: Data(), environment: nil, directory: nil, timeoutSeconds: 120)
        let report = String(decoding: outcome.stdout, as: UTF8.self)
        #expect(outcome.status == 0 && !outcome.timedOut, "ProcessRunner did not see its children exit within 20 s: \(report) \(String(decoding: outcome.stderr, as: UTF8.self))")
        #expect(report == "settled 20 right 20\n")
    }

    /// A SIGCHLD handler that swallows the signal does not hide the exit either: nothing in
    /// `ProcessRunner` listens for SIGCHLD. (Swapping the handler in the test process would take
    /// libuv's away from the cluster tests running meanwhile: their workers' exits went unseen.)
    @Test func childrenAreSeenToExitWhileASigchldHandlerSwallowsTheSignal() async throws {
        let outcome = try await ProcessRunner.run(
            [ClusterTestSupport.hostPath, "reap-beside-swallowed-sigchld"], input: Data(), environment: nil, directory: nil, timeoutSeconds: 120)
        #expect(outcome.status == 0 && !outcome.timedOut, "\(String(decoding: outcome.stdout, as: UTF8.self)) \(String(decoding: outcome.stderr, as: UTF8.self))")
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "statuses 3 4 5 6\n")
    }

    @Test func execJobCompletesWhileALibuvLoopSpawnsChildren() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bot = directory.appendingPathComponent("bot.sh")
        try """
            input=$(cat)
            printf '{"reply":"exec ok"}\\n'
            """.write(to: bot, atomically: true, encoding: .utf8)
        let cases = (0..<12).map { #"{"id":"c\#($0)","input":"hello \#($0)"}"# }.joined(separator: "\n") + "\n"
        try cases.write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
        let configURL = directory.appendingPathComponent("job.yaml")
        try """
            name: exec-beside-libuv
            backends:
              bot:
                type: exec
                command: [sh, \(bot.path)]
                processTimeoutSeconds: 30
            dataset: \(directory.appendingPathComponent("cases.jsonl").path)
            run:
              target: bot
              concurrency: 3
              timeoutSeconds: 40
            evaluate:
              metrics:
                - {type: contains, name: says-ok, value: "exec ok"}
            output: \(directory.appendingPathComponent("out").path)
            """.write(to: configURL, atomically: true, encoding: .utf8)
        let outcome = try await ProcessRunner.run(
            [ClusterTestSupport.hostPath, "exec-beside-libuv", "--config", configURL.path], input: Data(), environment: nil, directory: nil,
            timeoutSeconds: 120)
        #expect(outcome.status == 0 && !outcome.timedOut, "\(String(decoding: outcome.stderr, as: UTF8.self))")
        // ok, error, attempts (one each: no call waited for its deadline and was retried), exit status.
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "12 0 12 0\n")
    }
}
