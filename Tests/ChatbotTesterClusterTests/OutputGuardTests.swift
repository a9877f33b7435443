import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterTesting
import Foundation
import Testing

/// What protects a run's files from other runs and other users: the output directory's lock, the
/// dataset check shared by every mode, the workers' private state directories.
@Suite(.serialized) struct OutputGuardTests {
    static let config = """
        name: guard
        backends:
          bot: {type: scripted, default: "ok"}
        dataset: cases.jsonl
        run: {target: bot, concurrency: 2}
        evaluate:
          metrics:
            - {type: contains, name: says-ok, value: "ok"}
        """

    static func job(_ directory: URL, cases: [String], out: String = "out") async throws -> TestJob {
        try (cases.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
        let configURL = directory.appendingPathComponent("job.yaml")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        return try await TestJob.prepare(
            config: JobConfig.load(contentsOf: configURL), components: .builtin(),
            settings: JobSettings(outputDirectory: directory.appendingPathComponent(out).path))
    }

    static func cases(_ count: Int) -> [String] {
        (0..<count).map { #"{"id":"c\#($0)","input":"question \#($0)"}"# }
    }

    static var workerCommand: ClusterRun.WorkerCommand { .init(executable: ClusterTestSupport.hostPath, arguments: ["worker"]) }

    static func error(_ body: () async throws -> Void) async -> ChatbotTesterError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? ChatbotTesterError
        }
    }

    @Test func duplicateIdsAreRefusedWithFileAndLinesInOneProcessAndWithWorkers() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = Self.cases(2) + [#"{"id":"c0","input":"again"}"#]
        let single = try await Self.job(directory, cases: lines, out: "single")
        let clustered = try await Self.job(directory, cases: lines, out: "cluster")
        let dataset = directory.appendingPathComponent("cases.jsonl")
        let expected = "\(dataset.path):3: field 'id': duplicate case id 'c0' (first on line 1)"
        let inOneProcess = await Self.error { _ = try await single.test() }
        #expect(inOneProcess?.code == .invalidInput)
        #expect(inOneProcess?.message.contains(expected) == true)
        let withWorkers = await Self.error {
            _ = try await clustered.test(stage: ShardedRunStage(workers: 2, workerCommand: Self.workerCommand))
        }
        #expect(withWorkers?.code == .invalidInput)
        #expect(withWorkers?.message.contains(expected) == true)
        // Refused before anything ran: no journal, no spool.
        #expect(!FileManager.default.fileExists(atPath: single.output("results.journal.jsonl").path))
        #expect(!FileManager.default.fileExists(atPath: clustered.output("spool").path))
    }

    /// A repeated id on the very last line — after many shards' worth of cases, which a sharded
    /// run spools in the pass that checks the dataset — is refused with file:line in one process,
    /// with workers and by an indexed plan: nothing is played, no spool or plan is left.
    @Test func aDuplicateIdOnTheLastLineIsRefusedWithFileAndLineInEveryMode() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = Self.cases(3_000) + [#"{"id":"c7","input":"again"}"#]
        let dataset = directory.appendingPathComponent("cases.jsonl")
        let expected = "\(dataset.path):3001: field 'id': duplicate case id 'c7' (first on line 8)"
        let single = try await Self.job(directory, cases: lines, out: "single")
        let inOneProcess = await Self.error { _ = try await single.test() }
        #expect(inOneProcess?.code == .invalidInput && inOneProcess?.message.contains(expected) == true, "\(String(describing: inOneProcess))")
        for resume in [false, true] {
            let clustered = try await TestJob.prepare(
                config: JobConfig.load(contentsOf: directory.appendingPathComponent("job.yaml")), components: .builtin(),
                settings: JobSettings(outputDirectory: directory.appendingPathComponent("cluster").path, resume: resume))
            let withWorkers = await Self.error {
                _ = try await clustered.test(stage: ShardedRunStage(workers: 2, workerCommand: Self.workerCommand, samplesPerShard: 64))
            }
            #expect(withWorkers?.code == .invalidInput && withWorkers?.message.contains(expected) == true, "\(String(describing: withWorkers))")
            #expect(!FileManager.default.fileExists(atPath: clustered.output("spool").path), "resume: \(resume)")
            #expect(!FileManager.default.fileExists(atPath: clustered.output("results.jsonl").path))
        }
        let store = FileArtifactStore(root: directory.appendingPathComponent("store"))
        let planned = await Self.error {
            _ = try await IndexedRun.plan(
                job: single, store: store, name: "store/", shards: 4, parallelism: 2, scratch: directory.appendingPathComponent("scratch"))
        }
        #expect(planned?.code == .invalidInput && planned?.message.contains(expected) == true, "\(String(describing: planned))")
        #expect(await !store.exists(IndexedRun.planKey))
    }

    /// A sharded run plays nothing of a dataset it refuses, however late the bad line: shards are
    /// handed out only once the pass that spools the dataset has checked every line, as one process
    /// refuses before its first request (`ShardedRunStage.playsWhileSpooling` is the SDK's opt-in to
    /// play shards as they are committed, which played 550 of these cases before the refusal when
    /// the lead tried it).
    @Test func aShardedRunPlaysNothingOfADatasetRefusedOnItsLastLine() async throws {
        try await withMockLLMServer(.init()) { server in
            let directory = try ClusterTestSupport.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let lines = Self.cases(40_000) + [#"{"id":"c7","input":"again"}"#]
            try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
            let configURL = directory.appendingPathComponent("job.yaml")
            try """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m}
                dataset: cases.jsonl
                run: {target: bot, concurrency: 4}
                """.write(to: configURL, atomically: true, encoding: .utf8)
            let job = try await TestJob.prepare(
                config: JobConfig.load(contentsOf: configURL), components: .builtin(),
                settings: JobSettings(outputDirectory: directory.appendingPathComponent("out").path))
            let stage = ShardedRunStage(workers: 2, workerCommand: Self.workerCommand, samplesPerShard: 64)
            let refused = await Self.error { _ = try await job.test(stage: stage) }
            #expect(refused?.code == .invalidInput && refused?.message.contains(":40001: field 'id': duplicate case id 'c7'") == true)
            #expect(server.stats.requests == 0, "\(server.stats.requests) requests for a refused dataset")
        }
    }

    @Test func aBusyOutputDirectoryIsRefusedNamingTheHolderAndItsSpoolIsKept() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = try await Self.job(directory, cases: Self.cases(6))
        // The running run's spool.
        let spool = try await ClusterRun.prepareSpool(job: job, dataset: directory.appendingPathComponent("cases.jsonl"), at: job.output("spool"))
        let holder = OutputDirectoryLock.Holder(pid: 4242, host: "elsewhere", command: "chatbot-tester test", startedAt: Date())
        let running = try OutputDirectoryLock.acquire(job.outputDirectory, holder: holder)
        for attempt in ["cluster", "single"] {
            let refused = await Self.error {
                if attempt == "cluster" {
                    _ = try await job.test(stage: ShardedRunStage(workers: 1, workerCommand: Self.workerCommand))
                } else {
                    _ = try await job.test()
                }
            }
            #expect(refused?.code == .busy, "\(attempt)")
            #expect(refused?.message.contains("pid 4242 on elsewhere (chatbot-tester test") == true, "\(attempt)")
        }
        // `test` without --resume would have removed the spool: it is still there, intact.
        #expect(try ClusterSpool.open(at: spool.directory).manifest == spool.manifest)
        running.release()
        let outcome = try await withTimeout(120) {
            try await job.test(stage: ShardedRunStage(workers: 1, workerCommand: Self.workerCommand))
        }
        #expect(outcome.run?.statistics.recorded == 6 && outcome.evaluation?.passed == true)
    }

    /// Another user's directory is never a worker's state: the worker refuses to start and the
    /// directory stays untouched.
    @Test func aWorkerStateDirectoryOwnedByAnotherUserIsNeverUsed() async throws {
        guard geteuid() == 0 else { return }  // chown needs root
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let foreign = directory.appendingPathComponent("planted")
        mkdir(foreign.path, 0o700)
        #expect(chown(foreign.path, 65534, 65534) == 0)
        var options = ClusterTestSupport.options(workers: 1, spool: directory.appendingPathComponent("spool"))
        options.workerCommand.arguments += ["--state-dir", foreign.path]
        options.maxRestartsPerWorker = 0
        let failing = options
        let failure = try await withTimeout(60) {
            do {
                _ = try await ClusterRun.run(samples: ClusterTestSupport.samples(4), setup: ClusterTestSupport.setup(), options: failing)
                return nil as ChatbotTesterError?
            } catch {
                return error as? ChatbotTesterError
            }
        }
        #expect(failure != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign.path).isEmpty)
        #expect(try ClusterSpool.open(at: directory.appendingPathComponent("spool")).journaledIds().isEmpty)
    }
}
