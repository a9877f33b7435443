import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// Indexed runs (`plan` → `worker --store` per index → `merge`) through the CLI, as a scheduler
/// runs them, against a file store and against moto's S3 with authentication on.
@Suite(.serialized) struct IndexedRunTests {
    enum StoreKind: String, CaseIterable, Sendable { case file, s3 }

    /// A store of `kind` under a fresh name, and the environment its commands need.
    struct Store: Sendable {
        var url: String
        var environment: [String: String]
        var artifacts: any ArtifactStore

        init(_ kind: StoreKind) async throws {
            switch kind {
            case .file:
                url = try CLITests.temporaryDirectory().appendingPathComponent("store").path
                environment = [:]
            case .s3:
                let server = try await MotoServer.shared.start()
                url = "s3://\(server.bucket)/indexed/\(UUID().uuidString.lowercased())"
                environment = [
                    "AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_ACCESS_KEY_ID": server.accessKeyId, "AWS_SECRET_ACCESS_KEY": server.secretAccessKey,
                    "AWS_REGION": server.region, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                ]
            }
            artifacts = try ArtifactStoreLocation.open(url, environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new })
        }

        /// Every journaled line of every attempt on `shard`.
        func journalLines(shard: Int) async throws -> [String] {
            var lines: [String] = []
            for key in try await artifacts.list(prefix: IndexedRun.journalPrefix(shard: shard)) {
                for try await (_, text) in artifacts.lines(of: key) { lines.append(String(text)) }
            }
            return lines
        }

        func attempts(shard: Int) async throws -> [IndexedAttemptStatus] {
            var out: [IndexedAttemptStatus] = []
            for key in try await artifacts.list(prefix: IndexedRun.attemptPrefix(shard: shard)) {
                out.append(try JSONCoding.decoder().decode(IndexedAttemptStatus.self, from: try await artifacts.read(key)))
            }
            return out
        }
    }

    static let secret = "sk-indexed-secret-value-4711"

    static func job(_ server: MockLLMServer, cases: Int, model: String = "m") throws -> URL {
        try ParityTests.job(
            """
            name: indexed
            backends:
              bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: "\(model)", apiKey: {env: BOT_KEY}}
            dataset: cases.jsonl
            run: {concurrency: 4}
            evaluate:
              metrics:
                - {type: length, name: not-empty, unit: chars, min: 1}
            """, cases: ParityTests.cases(cases))
    }

    /// Runs the CLI with the store's environment and the bot's key.
    static func cli(_ arguments: [String], _ store: Store, _ extra: [String: String] = [:]) async throws -> CLITests.Result {
        try await CLITests.run(arguments + ["--store", store.url], environment: store.environment.merging(["BOT_KEY": secret]) { _, new in new }.merging(extra) { _, new in new })
    }

    /// `plan` of the job in `directory` into `store`, which must succeed.
    static func plan(_ directory: URL, _ store: Store, _ arguments: [String], _ extra: [String: String] = [:]) async throws {
        let planned = try await cli(["plan", directory.appendingPathComponent("job.yaml").path] + arguments, store, extra)
        #expect(planned.status == 0, "\(planned.stderr)")
    }

    /// `merge --out <directory>/merged`, which must exit `status`; returns the output directory.
    static func merge(_ directory: URL, _ store: Store, status: Int32 = 0) async throws -> URL {
        let merged = directory.appendingPathComponent("merged")
        let merge = try await cli(["merge", "--out", merged.path, "--no-progress"], store)
        #expect(merge.status == status, "\(merge.stderr)")
        return merged
    }

    /// Workers started at once, one per entry of `indexes`, each given its index as a Kubernetes Indexed Job does.
    static func workers(_ indexes: [Int], _ store: Store) async throws -> [CLITests.Result] {
        try await withThrowingTaskGroup(of: (Int, CLITests.Result).self) { group in
            for (n, index) in indexes.enumerated() {
                group.addTask { (n, try await cli(["worker"], store, ["JOB_COMPLETION_INDEX": String(index)])) }
            }
            var out: [(Int, CLITests.Result)] = []
            for try await result in group { out.append(result) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func mergedRunEqualsASingleProcessRunAndNoSecretReachesTheStore(_ kind: StoreKind) async throws {
        try await withMockLLMServer(.init(latencyMs: 1)) { server in
            let directory = try Self.job(server, cases: 40)
            let config = directory.appendingPathComponent("job.yaml").path
            let single = directory.appendingPathComponent("single")
            let alone = try await CLITests.run(["test", config, "--out", single.path, "--no-progress"], environment: ["BOT_KEY": Self.secret])
            #expect(alone.status == 0, "\(alone.stderr)")

            let store = try await Store(kind)
            let planned = try await Self.cli(["plan", config, "--shards", "3", "--parallelism", "3"], store)
            #expect(planned.status == 0, "\(planned.stderr)")
            let again = try await Self.cli(["plan", config, "--shards", "3", "--parallelism", "3"], store)
            #expect(again.status == 0 && again.stdout.contains("already planned"), "\(again.stdout) \(again.stderr)")
            for (index, worker) in try await Self.workers([0, 1, 2], store).enumerated() {
                #expect(worker.status == 0, "worker \(index): \(worker.stderr)")
            }
            let status = try await Self.cli(["status", "--json"], store)
            #expect(status.status == 0, "\(status.stdout) \(status.stderr)")
            let merged = directory.appendingPathComponent("merged")
            let merge = try await Self.cli(["merge", "--out", merged.path, "--no-progress"], store)
            #expect(merge.status == alone.status, "\(merge.stderr)")

            for name in ["results.jsonl", "evals.jsonl"] {
                let expected = ParityTests.lines(single.appendingPathComponent(name)).map(ParityTests.normalized)
                #expect(expected.count == 40)
                #expect(ParityTests.lines(merged.appendingPathComponent(name)).map(ParityTests.normalized) == expected, "\(name)")
            }
            // Summaries equal but for the wall-clock latency sum of the bot's replies (two runs, two timings).
            func summary(_ out: URL) -> JSONValue? {
                guard case .object(var object)? = ParityTests.json(out.appendingPathComponent("summary.json")).map(ParityTests.stripped),
                    case .object(var aggregate)? = object["aggregate"], case .object(var runs)? = aggregate["runs"]
                else { return nil }
                runs["latencySeconds"] = nil
                aggregate["runs"] = .object(runs)
                object["aggregate"] = .object(aggregate)
                return .object(object)
            }
            #expect(summary(merged) != nil && summary(merged) == summary(single))
            let runSummaries = [single, merged].map { ParityTests.json($0.appendingPathComponent("run-summary.json")) }
            #expect(runSummaries.map { $0?["stopReason"] } == [.string("completed"), .string("completed")])
            #expect(runSummaries[0]?["statistics"].map(ParityTests.stripped) == runSummaries[1]?["statistics"].map(ParityTests.stripped))
            for name in ParityTests.outputs {
                #expect(await store.artifacts.exists(name), "the store misses \(name)")
            }
            // No secret value anywhere in the store: the key, nor in any encoding we write.
            var keys = 0
            for key in try await store.artifacts.list(prefix: "") {
                keys += 1
                let text = String(decoding: try await store.artifacts.read(key), as: UTF8.self)
                #expect(!text.contains(Self.secret), "\(key) holds the secret")
            }
            #expect(keys > 10)
            #expect(server.stats.requests == 80)  // each case once per run: nothing played twice
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aWorkerKilledMidShardResumesWithNothingLostOrDoubled(_ kind: StoreKind) async throws {
        try await withMockLLMServer(.init(latencyMs: 200)) { server in
            let directory = try Self.job(server, cases: 60)
            let store = try await Store(kind)
            try await Self.plan(directory, store, ["--shards", "1"])
            // Journal syncs are per second: wait for some, then SIGKILL mid-shard.
            let process = Process()
            process.executableURL = CLITests.binary
            process.arguments = ["worker", "--store", store.url, "--shard", "0"]
            process.currentDirectoryURL = CLITests.repository
            process.environment = ProcessInfo.processInfo.environment.merging(store.environment.merging(["BOT_KEY": Self.secret]) { _, new in new }) { _, new in new }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning, Date() < deadline, try await store.journalLines(shard: 0).count < 8 {
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(process.processIdentifier, SIGKILL)
            #expect(ChildExit.wait(for: process) == SIGKILL, "the worker finished before it could be killed")
            let before = try await store.journalLines(shard: 0).count
            #expect(before >= 8 && before < 60, "\(before) journaled before the kill")
            let restarted = try await Self.cli(["worker", "--shard", "0"], store)
            #expect(restarted.status == 0, "\(restarted.stderr)")
            let attempts = try await store.attempts(shard: 0).sorted { $0.attempt < $1.attempt }
            #expect(attempts.count == 2)
            #expect(attempts.last?.resumed == before && attempts.last?.played == 60 - before, "\(attempts)")
            let merged = try await Self.merge(directory, store)
            #expect(ParityTests.ids(merged) == (0..<60).map { "c\($0)" })
        }
    }

    @Test(arguments: StoreKind.allCases)
    func twoWorkersOnOneIndexAtOnceRecordEachCaseOnce(_ kind: StoreKind) async throws {
        try await withMockLLMServer(.init(latencyMs: 100)) { server in
            let directory = try Self.job(server, cases: 40)
            let store = try await Store(kind)
            try await Self.plan(directory, store, ["--shards", "1"])
            for worker in try await Self.workers([0, 0], store) {
                #expect(worker.status == 0, "\(worker.stderr)")
            }
            let attempts = try await store.attempts(shard: 0).sorted { $0.startedAt < $1.startedAt }
            #expect(attempts.count == 2 && attempts.allSatisfy { $0.state == .done })
            // They overlapped (the second started before the first finished) and both played.
            #expect(attempts.count == 2 && attempts[1].startedAt < attempts[0].updatedAt, "\(attempts)")
            #expect(attempts.allSatisfy { $0.played > 0 }, "\(attempts)")
            let journaled = try await store.journalLines(shard: 0).count
            #expect(journaled >= 40)
            let merged = try await Self.merge(directory, store)
            #expect(ParityTests.ids(merged) == (0..<40).map { "c\($0)" })
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anEnvironmentThatExpandsTheConfigDifferentlyIsRefused(_ kind: StoreKind) async throws {
        try await withMockLLMServer(.init(latencyMs: 0)) { server in
            let directory = try Self.job(server, cases: 4, model: "${BOT_MODEL}")
            let store = try await Store(kind)
            let config = directory.appendingPathComponent("job.yaml").path
            let planned = try await Self.cli(["plan", config, "--shards", "2"], store, ["BOT_MODEL": "model-a"])
            #expect(planned.status == 0, "\(planned.stderr)")
            let plan = String(decoding: try await store.artifacts.read(IndexedRun.planKey), as: UTF8.self)
            #expect(plan.contains("backends.bot.model") && !plan.contains("model-a"))
            let refused = try await Self.cli(["worker", "--shard", "0"], store, ["BOT_MODEL": "model-b"])
            #expect(refused.status == 2, "\(refused.stderr)")
            #expect(refused.stderr.contains("BOT_MODEL") && refused.stderr.contains("backends.bot.model"), "\(refused.stderr)")
            #expect(try await store.journalLines(shard: 0).isEmpty)
            let noIndex = try await CLITests.run(
                ["worker", "--store", store.url], environment: store.environment.merging(["JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": ""]) { _, new in new })
            #expect(noIndex.status == 2 && noIndex.stderr.contains("JOB_COMPLETION_INDEX"), "\(noIndex.stderr)")
            let outside = try await Self.cli(["worker", "--shard", "2"], store, ["BOT_MODEL": "model-a"])
            #expect(outside.status == 2 && outside.stderr.contains("outside"), "\(outside.stderr)")
            for worker in try await Self.workers([0, 1], store) where worker.status != 0 {
                // BOT_MODEL is unset here: ${BOT_MODEL} has no default, a config error.
                #expect(worker.status == 2, "\(worker.stderr)")
            }
            let merge = try await Self.cli(["merge", "--no-progress"], store, ["BOT_MODEL": "model-b"])
            #expect(merge.status == 2 && merge.stderr.contains("BOT_MODEL"), "\(merge.stderr)")
        }
    }
}

extension IndexedRunTests {
    @Test func theSplitRuleSharesRatesByParallelismAndTotalsByCases() {
        let share = IndexedRunPlan.Share(parallelism: 4, fraction: 0.25)
        #expect(share.concurrency(32) == 8 && share.concurrency(6) == 2 && share.concurrency(1) == 1)
        let rate = share.rate(RateLimits(requestsPerMinute: 6000, tokensPerMinute: 400_000))
        #expect(rate.requestsPerMinute == 1500 && rate.tokensPerMinute == 100_000)
        #expect(share.budget(10) == 2.5 && share.budget(nil) == nil)
        let policy = share.failurePolicy(FailurePolicy(maxFailures: 10, maxFailureRate: 0.2, minSamples: 20))
        #expect(policy.maxFailures == 3 && policy.maxFailureRate == 0.2 && policy.minSamples == 5)
    }

    @Test(arguments: StoreKind.allCases)
    func eachIndexStopsAtItsShareOfTheBudgetAndTheMergeSaysSo(_ kind: StoreKind) async throws {
        try await withMockLLMServer(.init(latencyMs: 5)) { server in
            let directory = try ParityTests.job(
                """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, apiKey: {env: BOT_KEY}, pricing: {inputPerMTok: 1000, outputPerMTok: 1000}}
                dataset: cases.jsonl
                run: {concurrency: 2, budgetUSD: 0.2}
                """, cases: ParityTests.cases(60))
            let store = try await Store(kind)
            try await Self.plan(directory, store, ["--shards", "2", "--parallelism", "2"])
            for worker in try await Self.workers([0, 1], store) {
                #expect(worker.status == 3 && worker.stderr.contains("budgetExceeded"), "\(worker.stderr)")
            }
            // A retry cannot help: what earlier attempts spent counts, so it stops before playing.
            let again = try await Self.cli(["worker", "--shard", "0"], store)
            #expect(again.status == 3, "\(again.stderr)")
            #expect(try await store.attempts(shard: 0).sorted { $0.attempt < $1.attempt }.last?.played == 0)
            let status = try await Self.cli(["status"], store)
            #expect(status.status == 1 && status.stdout.contains("stopped: budgetExceeded"), "\(status.stdout)")
            let merged = try await Self.merge(directory, store, status: 3)
            let summary = ParityTests.json(merged.appendingPathComponent("run-summary.json"))
            #expect(summary?["stopReason"] == .string("budgetExceeded"))
            let ids = ParityTests.ids(merged)
            #expect(!ids.isEmpty && ids.count < 60 && Set(ids).count == ids.count)
        }
    }

    @Test func theWorkersRunningAtOnceShareRunConcurrency() async throws {
        try await withMockLLMServer(.init(latencyMs: 50)) { server in
            let directory = try Self.job(server, cases: 48)  // run.concurrency: 4
            let store = try await Store(.file)
            try await Self.plan(directory, store, ["--shards", "2", "--parallelism", "2"])
            for worker in try await Self.workers([0, 1], store) {
                #expect(worker.status == 0, "\(worker.stderr)")
            }
            // Each of the 2 workers holds at most ⌈4 / 2⌉ = 2 cases in flight: 4 at the bot, not 8.
            #expect(server.stats.maxInFlight <= 4, "\(server.stats)")
            #expect(server.stats.requests == 48)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aDamagedSpoolObjectIsRefusedNamingIt(_ kind: StoreKind) async throws {
        try await withMockLLMServer(.init(latencyMs: 0)) { server in
            let directory = try Self.job(server, cases: 6)
            let store = try await Store(kind)
            try await Self.plan(directory, store, ["--shards", "2"])
            let key = "spool/shards/shard-00001.jsonl"
            var data = try await store.artifacts.read(key)
            data[data.startIndex + 10] ^= 0x01
            try await store.artifacts.write(data, to: key)
            let refused = try await Self.cli(["worker", "--shard", "1"], store)
            #expect(refused.status == 2 && refused.stderr.contains(key), "\(refused.stderr)")
            let fine = try await Self.cli(["worker", "--shard", "0"], store)
            #expect(fine.status == 0, "\(fine.stderr)")
        }
    }
}
