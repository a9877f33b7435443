import ChatbotTester
import ChatbotTesterClusterUV
import ChatbotTesterCore
import Foundation
import Testing

/// An `exec` backend job run in a process whose libuv loop spawns children meanwhile (as the
/// coordinator's does for its workers): libuv's SIGCHLD handler is installed, and each libuv child
/// keeps every inheritable descriptor of this process. The `exec` children must still be seen to
/// exit and their pipes to close: Core's `ProcessRunner` reaps with `waitpid` and keeps its
/// descriptors close-on-exec (with Foundation's `Process` a leaked descriptor held calls until
/// their 30 s deadline: the job took 37 s instead of 4).
@Suite(.serialized) struct ExecBesideLibuvTests {
    @Test func execJobCompletesWhileALibuvLoopOwnsSigchld() async throws {
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
        let job = try await TestJob.prepare(config: try JobConfig.load(contentsOf: configURL), components: .builtin(), settings: JobSettings())

        let outcome = try await UVLoop.withLoop { loop in
            // The first spawn installs libuv's SIGCHLD handler.
            let first = try await UVProcess.spawn(executable: "/bin/sh", arguments: ["-c", "exit 0"], loop: loop)
            _ = await first.waitForExit()
            let running = Task { try await withTimeout(90) { try await job.test() } }
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
        #expect(outcome.run?.statistics.error == 0)
        #expect(outcome.run?.statistics.ok == 12)
        // One attempt each: no call waited for its deadline and was retried.
        #expect(outcome.run?.statistics.attempts == 12)
        #expect(outcome.exitStatus == 0)
    }
}
