import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
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

    /// A fresh directory for a coordinator run of the quickstart: the directory (remove it after),
    /// the socket's path, the output directory and the config's path.
    static func quickstartPlaces() throws -> (directory: URL, socket: String, out: URL, config: String) {
        let directory = try ClusterTestSupport.temporaryDirectory()
        return (
            directory, directory.appendingPathComponent("sock/c.sock").path, directory.appendingPathComponent("out"),
            OpsFilesTests.root.appendingPathComponent("examples/quickstart.yaml").path
        )
    }

    @Test func coordinatorAndWorkerCommandsRunTheQuickstart() async throws {
        guard let cli = Self.cli() else { return }
        let (directory, socket, out, config) = try Self.quickstartPlaces()
        defer { try? FileManager.default.removeItem(at: directory) }
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

    /// A worker appends its record to the journal itself and sends the frame saying so after; one
    /// that is lost, or stopped, in between leaves a line the coordinator never counted. Here a
    /// worker of the test's own appends a valid record for its first sample and never sends it; the
    /// coordinator is then stopped (SIGTERM) and the worker leaves. The interrupted run's merge
    /// takes the line into `results.jsonl` (the journal is the truth: a resume counts it as done),
    /// and `run-summary.json` counts it with what was merged instead of saying nothing was played.
    @Test func aRecordAWorkerJournaledButNeverSentIsCountedWithTheMergedResults() async throws {
        guard let cli = Self.cli() else { return }
        let (directory, socket, out, config) = try Self.quickstartPlaces()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (end, lateId) = try await withTimeout(120) {
            try await UVLoop.withLoop { loop in
                let coordinator = try await UVProcess.spawn(
                    executable: cli, arguments: ["coordinator", "--socket", socket, "--out", out.path, "--no-progress", config], loop: loop)
                var connected: UVPipeConnection?
                for _ in 0..<600 where connected == nil {
                    connected = try? await UVPipeConnection.connect(path: socket, loop: loop)
                    if connected == nil { try await Task.sleep(nanoseconds: 50_000_000) }
                }
                guard let worker = connected else { throw ChatbotTesterError(.io, "the coordinator never listened on \(socket)") }
                let codec = ClusterMessageCodec()
                worker.enqueue([try codec.encode(.hello(.init(workerId: "late", pid: Int(getpid()))))])
                var journal: String?
                var first: IndexedSample?
                while first == nil, let payload = await worker.receive() {
                    switch try codec.decodeAtWorker(payload, peer: "coordinator") {
                    case .welcome(let welcome): journal = welcome.recordJournal?.path
                    case .assign(let assignment): first = assignment.samples.first
                    default: break
                    }
                }
                guard let journal, let first else { throw ChatbotTesterError(.proto, "no journal offered, or no sample assigned") }
                // The line as a worker appends it (`WorkerRecordJournal`): a newline of its own first.
                let record = ClusterRecord(sampleId: first.sample.id, index: first.index, run: RunRecord(sample: first.sample, target: "bot"), evals: [])
                let (_, line) = try record.journaledUnit()
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: journal))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data([0x0A]) + line)
                try handle.close()
                // The run stops before the frame is sent; then the worker is gone.
                coordinator.kill(SIGTERM)
                try await Task.sleep(nanoseconds: 300_000_000)
                worker.close(reason: nil)
                return (await coordinator.waitForExit(), first.sample.id)
            }
        }
        #expect(end.status == 3 && end.signal == 0, "\(end)")
        let results = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(results.count == 1 && results.first?.contains("\"sampleId\":\"\(lateId)\"") == true, "\(results)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("run-summary.json"))) as? [String: Any]
        let statistics = summary?["statistics"] as? [String: Any]
        #expect(summary?["stopReason"] as? String == "cancelled")
        #expect(summary?["played"] as? Int == 1, "\(summary ?? [:])")
        #expect(statistics?["ok"] as? Int == 1 && statistics?["error"] as? Int == 0, "\(statistics ?? [:])")
        let events = try String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(events.contains("1 record(s) a worker appended to the journal were not counted"))
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
