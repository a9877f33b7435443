import ChatbotTester
import ChatbotTesterClusterUV
import Foundation
import Testing

/// `chatbot-tester coordinator` and `chatbot-tester worker` as users run them: separate processes
/// meeting on a socket, the quickstart job, the reports at the end.
@Suite(.serialized) struct ClusterCommandTests {
    /// The `chatbot-tester` executable built beside the tests (an issue is recorded when missing).
    static func cli() -> String? {
        let cli = URL(fileURLWithPath: ClusterTestSupport.hostPath).deletingLastPathComponent().appendingPathComponent("chatbot-tester").path
        guard FileManager.default.isExecutableFile(atPath: cli) else {
            Issue.record("chatbot-tester is not built next to the tests (\(cli))")
            return nil
        }
        return cli
    }

    @Test func coordinatorAndWorkerCommandsRunTheQuickstart() async throws {
        guard let cli = Self.cli() else { return }
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("sock/c.sock").path
        let out = directory.appendingPathComponent("out")
        let config = OpsFilesTests.root.appendingPathComponent("examples/quickstart.yaml").path
        let (coordinatorEnd, workerEnds) = try await withTimeout(180) {
            try await UVLoop.withLoop { loop in
                let coordinator = try await UVProcess.spawn(
                    executable: cli, arguments: ["coordinator", "--socket", socket, "--out", out.path, "--no-progress", "--shard-size", "2", config],
                    loop: loop)
                var workers: [UVProcess] = []
                for index in 0..<2 {
                    workers.append(try await UVProcess.spawn(
                        executable: cli, arguments: ["worker", "--connect", socket, "--worker-id", "cli-\(index)", "--connect-timeout", "30"], loop: loop))
                }
                let end = await coordinator.waitForExit()
                var ends: [UVProcess.Termination] = []
                for worker in workers { ends.append(await worker.waitForExit()) }
                return (end, ends)
            }
        }
        // The quickstart passes every threshold: exit 0, like `test`.
        #expect(coordinatorEnd.status == 0 && coordinatorEnd.signal == 0)
        // A worker that starts after the last shard (a loaded machine) finds no socket and gives up with 3.
        #expect(workerEnds.contains { $0.status == 0 && $0.signal == 0 })
        #expect(workerEnds.allSatisfy { ($0.status == 0 || $0.status == 3) && $0.signal == 0 })
        for name in ["results.jsonl", "evals.jsonl", "summary.json", "report.html", "junit.xml", "spool/manifest.json", "spool/journal.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "missing \(name)")
        }
        let results = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(results.count == 8)
        // The socket is gone after the run.
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    /// A running `coordinator` holds its output directory: a `test` there is refused naming the
    /// coordinator's pid; once it is killed (no clean-up) its lock file is left behind and blocks
    /// nothing.
    @Test func aRunningCoordinatorHoldsItsOutputDirectory() async throws {
        guard let cli = Self.cli() else { return }
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let configURL = OpsFilesTests.root.appendingPathComponent("examples/quickstart.yaml")
        let config = try JobConfig.load(contentsOf: configURL)
        try await withTimeout(120) {
            try await UVLoop.withLoop { loop in
                // No worker ever comes: the coordinator waits, holding the directory.
                let coordinator = try await UVProcess.spawn(
                    executable: cli, arguments: ["coordinator", "--socket", directory.appendingPathComponent("c.sock").path, "--out", out.path, "--no-progress", configURL.path],
                    loop: loop)
                var holder: OutputDirectoryLock.Holder?
                for _ in 0..<600 where holder == nil {
                    holder = OutputDirectoryLock.holder(of: out)
                    if holder == nil { try await Task.sleep(nanoseconds: 50_000_000) }
                }
                #expect(holder?.pid == coordinator.pid)
                #expect(holder?.command == "chatbot-tester coordinator")
                let job = try await TestJob.prepare(config: config, components: .builtin(), settings: JobSettings(outputDirectory: out.path))
                do {
                    _ = try await job.test()
                    Issue.record("a second run on a busy output directory was not refused")
                } catch let error as ChatbotTesterError {
                    #expect(error.code == .busy)
                    #expect(error.message.contains("pid \(coordinator.pid)") && error.message.contains("chatbot-tester coordinator"))
                }
                coordinator.kill(SIGKILL)
                _ = await coordinator.waitForExit()
                #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(OutputDirectoryLock.fileName).path))
                #expect(try await job.test().exitStatus == 0)
            }
        }
    }
}
