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
    static func workers(_ indexes: [Int], _ store: Store, _ flags: [String] = []) async throws -> [CLITests.Result] {
        try await withThrowingTaskGroup(of: (Int, CLITests.Result).self) { group in
            for (n, index) in indexes.enumerated() {
                group.addTask { (n, try await cli(["worker"] + flags, store, ["JOB_COMPLETION_INDEX": String(index)])) }
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

    /// `plan` reads the dataset once and spools each case as its line wrote it (`samplesAsWritten`,
    /// as `test --workers` does); the indexed workers record the cases as one process records them
    /// — in the awkward shapes of the parity rows: spaces, escapes, numbers at the parser's edges,
    /// an id that must be escaped, turns.
    @Test func aPlanSpoolsTheCasesAsWrittenAndTheMergedRunRecordsThemAsOneProcess() async throws {
        let shapes = ParityTests.awkwardShapes
        let count = 50
        let lines = (0..<count).map { shapes[$0 % shapes.count]($0) }
        let directory = try ParityTests.job(ParityTests.scriptedRefundJob, cases: lines.map { $0 + "\n" }.joined())
        let config = directory.appendingPathComponent("job.yaml").path
        let single = directory.appendingPathComponent("single")
        let alone = try await CLITests.run(["test", config, "--out", single.path, "--no-progress"])
        #expect(alone.status == 0, "\(alone.stderr)")

        let store = try await Store(.file)
        try await Self.plan(directory, store, ["--shards", "3", "--parallelism", "3"])
        let manifest = try JSONValue(parsing: String(decoding: try await store.artifacts.read(IndexedRun.spoolPrefix + "manifest.json"), as: UTF8.self))
        #expect(manifest["samplesAsWritten"] == .bool(true))
        guard case .array(let shards)? = manifest["shards"] else { Issue.record("no shards in the manifest"); return }
        #expect(shards.count == 3)
        var spooled: [String] = []
        for shard in shards {
            guard let file = shard["file"]?.stringValue else { continue }
            for try await (_, text) in store.artifacts.lines(of: IndexedRun.spoolPrefix + file) { spooled.append(String(text)) }
        }
        // Each case's line as the dataset wrote it (the whitespace around it aside), in order.
        #expect(spooled.count == count)
        for (index, line) in spooled.enumerated() where index < count {
            let written = lines[index].trimmingCharacters(in: .whitespaces)
            #expect(line == #"{"index":\#(index),"sample":\#(written)}"#, "shard line \(index)")
        }
        for (index, worker) in try await Self.workers([0, 1, 2], store).enumerated() {
            #expect(worker.status == 0, "worker \(index): \(worker.stderr)")
        }
        let merged = try await Self.merge(directory, store)
        let results = [single, merged].map { ParityTests.lines($0.appendingPathComponent("results.jsonl")) }
        #expect(results[0].count == count)
        #expect(results[0].map(ParityTests.sampleText) == results[1].map(ParityTests.sampleText))
        #expect(results[0].map(ParityTests.normalized) == results[1].map(ParityTests.normalized))
        #expect(
            ParityTests.lines(single.appendingPathComponent("evals.jsonl")).map(ParityTests.normalized)
                == ParityTests.lines(merged.appendingPathComponent("evals.jsonl")).map(ParityTests.normalized))
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
        // 40 cases of 300 ms at concurrency 4: about 3 s of play each, so the two overlap even when
        // a loaded machine starts the second process a second late (at 100 ms CI once saw the first
        // finish before the second started).
        try await withMockLLMServer(.init(latencyMs: 300)) { server in
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

/// One semantics: what `test` promises, indexed workers keep (retry-errors, progress, event log,
/// run-summary), and the split of the run's rate limits reaches each worker's rate limiter.
extension IndexedRunTests {
    /// The error codes of a run-summary's `errorExamples` (the messages name the server's port).
    static func errorCodes(_ summary: JSONValue?) -> [String]? {
        summary?["errorExamples"]?.objectValue.map { $0.keys.sorted() }
    }

    /// Every line of every object under `prefix`.
    static func lines(under prefix: String, _ store: Store) async throws -> [String] {
        var lines: [String] = []
        for key in try await store.artifacts.list(prefix: prefix) {
            for try await (_, text) in store.artifacts.lines(of: key) { lines.append(String(text)) }
        }
        return lines
    }

    @Test(arguments: StoreKind.allCases)
    func workersRetryErrorsShowProgressAndLogEventsAsTestDoes(_ kind: StoreKind) async throws {
        // Every fourth case fails once (`times=1`, no retry): recorded as an error the first time.
        func job(_ server: MockLLMServer) throws -> URL {
            try ParityTests.job(
                """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, apiKey: {env: BOT_KEY}, retry: {attempts: 1}}
                dataset: cases.jsonl
                run: {concurrency: 2}
                """, cases: ParityTests.cases(12) { $0 % 4 == 0 ? "MOCK_FAULT: 500 times=1 case \($0)" : "hello \($0)" })
        }
        // The single-process run: errors first (exit 1, as with no metric a recorded error fails the
        // test), then `--resume --retry-errors` fixes them.
        var single: [JSONValue?] = []
        try await withMockLLMServer(.init(latencyMs: 1)) { server in
            let directory = try job(server)
            let config = directory.appendingPathComponent("job.yaml").path
            let out = directory.appendingPathComponent("out")
            let first = try await CLITests.run(["test", config, "--out", out.path, "--no-progress"], environment: ["BOT_KEY": Self.secret])
            #expect(first.status == 1, "\(first.stderr)")
            single.append(ParityTests.json(out.appendingPathComponent("run-summary.json")))
            // A plain resume keeps the recorded errors: keptErrors 3.
            let kept = try await CLITests.run(["test", config, "--out", out.path, "--no-progress", "--resume"], environment: ["BOT_KEY": Self.secret])
            #expect(kept.status == 1, "\(kept.stderr)")
            single.append(ParityTests.json(out.appendingPathComponent("run-summary.json")))
            let retried = try await CLITests.run(
                ["test", config, "--out", out.path, "--no-progress", "--resume", "--retry-errors"], environment: ["BOT_KEY": Self.secret])
            #expect(retried.status == 0, "\(retried.stderr)")
            single.append(ParityTests.json(out.appendingPathComponent("run-summary.json")))
        }
        #expect(Self.errorCodes(single[0])?.isEmpty == false, "\(String(describing: single[0]))")
        #expect(single.map { $0?["keptErrors"] } == [.int(0), .int(3), .int(0)], "\(single.map { $0?["keptErrors"] })")

        try await withMockLLMServer(.init(latencyMs: 1)) { server in
            let directory = try job(server)
            let store = try await Store(kind)
            try await Self.plan(directory, store, ["--shards", "2", "--parallelism", "2"])
            // Progress on (stderr is not a terminal: plain lines, as `test` writes them).
            for worker in try await Self.workers([0, 1], store) {
                #expect(worker.status == 0, "\(worker.stderr)")
                #expect(worker.stderr.contains("run: done 6/6") && worker.stderr.contains("errors"), "\(worker.stderr)")
            }
            var merged = try await Self.merge(directory, store, status: 1)
            let first = ParityTests.json(merged.appendingPathComponent("run-summary.json"))
            // The same error examples (by code) and statistics as the single-process run.
            #expect(Self.errorCodes(first) == Self.errorCodes(single[0]), "\(String(describing: first))")
            #expect(first?["statistics"].map(ParityTests.stripped) == single[0]?["statistics"].map(ParityTests.stripped))
            #expect(first?["keptErrors"] == single[0]?["keptErrors"], "\(String(describing: first))")

            // Each attempt logged its events to the store: the Runner's, masked.
            let events = try await Self.lines(under: "events/", store)
            let kinds = events.compactMap { (try? JSONValue(parsing: $0))?["kind"]?.stringValue }
            #expect(kinds.filter { $0 == "run.started" }.count == 2 && kinds.filter { $0 == "run.completed" }.count == 2, "\(kinds)")
            #expect(kinds.filter { $0 == "run.sample.failed" }.count == 3 && kinds.filter { $0 == "run.sample.completed" }.count == 9, "\(kinds)")
            #expect(kinds.filter { $0 == "run.sample.started" }.count == 12 && kinds.filter { $0 == "evaluate.sample.completed" }.count == 12, "\(kinds)")
            #expect(events.allSatisfy { !$0.contains(Self.secret) })
            // The merge's own events.jsonl says where they are.
            let mergeEvents = ParityTests.lines(merged.appendingPathComponent("events.jsonl"))
            #expect(mergeEvents.contains { $0.contains("the workers' events: 2 attempt logs under") }, "\(mergeEvents.filter { $0.contains("workers") })")

            // Run again without --retry-errors: nothing is played, the errors are kept and it says so.
            let before = server.stats.requests
            let kept = try await Self.cli(["worker", "--shard", "0"], store)
            #expect(kept.status == 0 && kept.stderr.contains("--retry-errors"), "\(kept.stderr)")
            #expect(server.stats.requests == before)
            // The other index run again plainly too: the merge keeps the errors as `test --resume` does.
            let keptToo = try await Self.cli(["worker", "--shard", "1", "--no-progress"], store)
            #expect(keptToo.status == 0, "\(keptToo.stderr)")
            #expect(server.stats.requests == before)
            try? FileManager.default.removeItem(at: merged)
            merged = try await Self.merge(directory, store, status: 1)
            let resumed = ParityTests.json(merged.appendingPathComponent("run-summary.json"))
            #expect(resumed?["keptErrors"] == single[1]?["keptErrors"], "\(String(describing: resumed))")
            #expect(resumed?["statistics"].map(ParityTests.stripped) == single[1]?["statistics"].map(ParityTests.stripped))
            #expect(Self.errorCodes(resumed) == Self.errorCodes(single[1]))
            // A retry-errors round plays only the errored cases; the merge then equals the single run's retry.
            for worker in try await Self.workers([0, 1], store, ["--retry-errors", "--no-progress"]) {
                #expect(worker.status == 0, "\(worker.stderr)")
            }
            #expect(server.stats.requests - before == 3, "only the errored cases are played again")
            try? FileManager.default.removeItem(at: merged)
            merged = try await Self.merge(directory, store, status: 0)
            let second = ParityTests.json(merged.appendingPathComponent("run-summary.json"))
            #expect(Self.errorCodes(second) == [] && Self.errorCodes(single[2]) == [])
            #expect(second?["statistics"].map(ParityTests.stripped) == single[2]?["statistics"].map(ParityTests.stripped))
            #expect(second?["keptErrors"] == single[2]?["keptErrors"], "\(String(describing: second))")
            let statuses = ParityTests.lines(merged.appendingPathComponent("results.jsonl")).compactMap { (try? JSONValue(parsing: $0))?["status"]?.stringValue }
            #expect(statuses == Array(repeating: "ok", count: 12))
        }
    }

    /// A worker's request rate at the bot, over a window of at least `seconds` after its first
    /// request (measured, not assumed: a slow test only widens it); the worker is then stopped.
    static func requestRate(_ store: Store, _ server: MockLLMServer, seconds: Double) async throws -> (requests: Int, seconds: Double) {
        let window = Locked<(start: ContinuousClock.Instant?, seconds: Double, requests: Int)>((nil, 0, 0))
        let worker = try await CLITests.run(
            ["worker", "--store", store.url, "--shard", "0", "--no-progress"], environment: ["BOT_KEY": Self.secret], signal: SIGTERM
        ) {
            let requests = server.stats.requests
            return window.withLock { w in
                let now = ContinuousClock.now
                guard let start = w.start else {
                    if requests > 0 { w.start = now }
                    return false
                }
                let elapsed = now - start
                w.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                w.requests = requests
                return w.seconds >= seconds
            }
        }
        #expect(worker.status == 128 + SIGTERM, "\(worker.stderr)")
        let seen = window.current
        return (seen.requests, seen.seconds)
    }

    /// 120 requests a minute for the run (2 a second). With `--parallelism 4` each worker's rate
    /// limiter gets 30 a minute (one per 2 s) and 1/4 of the tokens; with `--parallelism 1` the
    /// whole rate: the difference over 8 s is many requests, counted at the bot.
    @Test(arguments: [4, 1])
    func theRateLimitSplitReachesEachWorkersRateLimiter(_ parallelism: Int) async throws {
        try await withMockLLMServer(.init(latencyMs: 0)) { server in
            let directory = try ParityTests.job(
                """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, apiKey: {env: BOT_KEY}, rateLimit: {requestsPerMinute: 120, tokensPerMinute: 4000000}}
                dataset: cases.jsonl
                run: {concurrency: 8}
                """, cases: ParityTests.cases(160))
            let store = try await Store(.file)
            try await Self.plan(directory, store, ["--shards", "4", "--parallelism", String(parallelism)])
            let seen = try await Self.requestRate(store, server, seconds: 8)
            let perSecond = 2 / Double(parallelism)
            if parallelism > 1 {
                // The first, then one per 2 s of the window (+1 for a request racing the count).
                let allowed = 1 + Int((seen.seconds * perSecond).rounded(.up)) + 1
                #expect(seen.requests >= 2 && seen.requests <= allowed, "\(seen.requests) requests in \(seen.seconds) s; at most \(allowed) at 30/min")
            } else {
                // Unsplit: at least half the run's rate (the split's would give a quarter).
                #expect(seen.requests >= Int(seen.seconds), "\(seen.requests) requests in \(seen.seconds) s at 120/min")
            }
            // What the worker's rate limiter was built with, in the attempt's event log: rpm/P and tpm/P.
            let events = try await Self.lines(under: "events/", store)
            let expected = "rate limit of bot for this worker: \(120 / parallelism) requests/min, \(4_000_000 / parallelism) tokens/min (1/\(parallelism) of the run's)"
            #expect(events.contains { $0.contains(expected) }, "\(events.filter { $0.contains("rate limit") })")
        }
    }

    /// 24,000 tokens a minute for the run (400 a second) and requests barely limited (6,000 a
    /// minute). Each call is 100 tokens at the bot (96 one-token words + a reply cut at the bot's
    /// `maxTokens: 4`), which the limiter estimates at 104 before sending. With `--parallelism 4`
    /// a worker gets 100 tokens/s: about one call a second, where its rpm/P share (25/s) would
    /// allow 25; with `--parallelism 1` the whole 400/s. Counted at the bot over 8 s or more.
    @Test(arguments: [4, 1])
    func theTokenRateSplitReachesEachWorkersRateLimiter(_ parallelism: Int) async throws {
        try await withMockLLMServer(.init(latencyMs: 0)) { server in
            let words = 96, maxTokens = 4
            let prompt = Array(repeating: "abc", count: words).joined(separator: " ")
            let directory = try ParityTests.job(
                """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, apiKey: {env: BOT_KEY}, maxTokens: \(maxTokens), rateLimit: {requestsPerMinute: 6000, tokensPerMinute: 24000}}
                dataset: cases.jsonl
                run: {concurrency: 8}
                """, cases: ParityTests.cases(240) { _ in prompt })
            let store = try await Store(.file)
            try await Self.plan(directory, store, ["--shards", "4", "--parallelism", String(parallelism)])
            let seen = try await Self.requestRate(store, server, seconds: 8)
            // Every call carried the bot's max_tokens, and the bot counted 100 tokens for it.
            let bodies = server.recordedRequests().compactMap(\.json)
            #expect(!bodies.isEmpty && bodies.allSatisfy { $0["max_tokens"] == .int(maxTokens) && $0["messages"]?.arrayValue?.count == 1 })
            let perCall = words + maxTokens
            // Tokens the worker may send in the window: its burst (1 s of its rate) plus its rate
            // over the window, + 2 calls (one before the window's start was seen, one racing the count).
            let perSecond = 24000 / 60 / Double(parallelism)
            let allowed = Int(((perSecond + seen.seconds * perSecond) / Double(perCall)).rounded(.up)) + 2
            if parallelism > 1 {
                // rpm/P alone would allow 25 a second: the token share is what holds it.
                #expect(seen.requests >= 4 && seen.requests <= allowed, "\(seen.requests) requests in \(seen.seconds) s; at most \(allowed) at \(perSecond) tokens/s")
            } else {
                // Unsplit: at least twice what the split's share (100 tokens/s) would allow.
                let split = Int(((100 + seen.seconds * 100) / Double(perCall)).rounded(.up)) + 2
                #expect(seen.requests >= 2 * split && seen.requests <= allowed, "\(seen.requests) requests in \(seen.seconds) s at 400 tokens/s")
            }
            let events = try await Self.lines(under: "events/", store)
            let expected = "rate limit of bot for this worker: \(6000 / parallelism) requests/min, \(24000 / parallelism) tokens/min (1/\(parallelism) of the run's)"
            #expect(events.contains { $0.contains(expected) }, "\(events.filter { $0.contains("rate limit") })")
        }
    }

    /// Silence is the age of an attempt's state object by the store's own clock (file system or S3
    /// server), so a worker whose clock is an hour off is judged right: one an hour behind that
    /// just wrote its state plays on; one an hour ahead that has been silent longer than
    /// `--lost-after` is lost. Judged by the `updatedAt` each wrote, it would be the other way round.
    @Test(arguments: StoreKind.allCases) func silenceIsJudgedByTheStoresClockNotTheWorkers(_ kind: StoreKind) async throws {
        try await withMockLLMServer { server in
            let directory = try Self.job(server, cases: 4)
            let store = try await Store(kind)
            try await Self.plan(directory, store, ["--shards", "2"])
            let now = Date()
            var ahead = IndexedAttemptStatus(shard: 1, attempt: "ahead", cases: 2, resumed: 0)
            ahead.host = "clock-ahead"
            ahead.updatedAt = now.addingTimeInterval(3600)
            try await store.artifacts.write(JSONCoding.encoder().encode(ahead), to: IndexedRun.attemptPrefix(shard: 1) + "ahead.json")
            // S3's Last-Modified and Date have whole seconds: wait past two of them.
            try await Task.sleep(for: .milliseconds(3100))
            var behind = IndexedAttemptStatus(shard: 0, attempt: "behind", cases: 2, resumed: 0)
            behind.host = "clock-behind"
            behind.updatedAt = now.addingTimeInterval(-3600)
            try await store.artifacts.write(JSONCoding.encoder().encode(behind), to: IndexedRun.attemptPrefix(shard: 0) + "behind.json")
            let result = try await Self.cli(["status", "--lost-after", "2", "--json"], store)
            let status = try JSONCoding.decoder().decode(IndexedRunStatus.self, from: Data(result.stdout.utf8))
            #expect(status.shards.map(\.state) == [.running, .failed], "\(result.stdout)")
            #expect(status.shards[1].detail?.contains("attempt ahead on clock-ahead went silent") == true, "\(result.stdout)")
            // Where the store cannot say (a store of the SDK without `age(of:)`), the worker's own
            // `updatedAt` is what there is.
            let fallback = try await IndexedRunStatus.read(store: AgelessStore(base: store.artifacts), name: store.url, staleSeconds: 2)
            #expect(fallback.shards.map(\.state) == [.failed, .running])
        }
    }

    /// A store that cannot tell an artifact's age (the protocol's default).
    struct AgelessStore: ArtifactStore {
        let base: any ArtifactStore
        func write(_ data: Data, to key: String) async throws { try await base.write(data, to: key) }
        func read(_ key: String) async throws -> Data { try await base.read(key) }
        func exists(_ key: String) async -> Bool { await base.exists(key) }
        func list(prefix: String) async throws -> [String] { try await base.list(prefix: prefix) }
        func delete(_ key: String) async throws { try await base.delete(key) }
        func openJournal(_ key: String) async throws -> any ArtifactJournal { try await base.openJournal(key) }
        func lines(of key: String) -> AsyncThrowingStream<(line: Int, text: Substring), any Error> { base.lines(of: key) }
    }

    @Test func statusLostAfterAndTheWorkersHeartbeatAreSettable() async throws {
        try await withMockLLMServer(.init(latencyMs: 500)) { server in
            let directory = try Self.job(server, cases: 60)  // run.concurrency 4: ~7.5 s
            let store = try await Store(.file)
            try await Self.plan(directory, store, ["--shards", "1"])
            // Heartbeats every 0.2 s: the attempt's state changes several times within seconds (at
            // the default 15 s it would not), then the worker is killed without a word.
            let updates = Locked(Set<Date>())
            let artifacts = store
            // On a thread of its own: a poller on the pool, which the whole suite can hold for seconds,
            // would look only after the run had finished.
            let poller = Task(executorPreference: DedicatedThreadExecutor.watchers) {
                while !Task.isCancelled {
                    if let attempt = try? await artifacts.attempts(shard: 0).first { _ = updates.withLock { $0.insert(attempt.updatedAt) } }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            let killed = try await CLITests.run(
                ["worker", "--store", store.url, "--shard", "0", "--heartbeat", "0.2", "--no-progress"], environment: ["BOT_KEY": Self.secret],
                signal: SIGKILL
            ) { updates.withLock { $0.count } >= 3 }
            poller.cancel()
            #expect(killed.status == SIGKILL || killed.status == 9, "\(killed.stderr)")
            let running = try await Self.cli(["status", "--lost-after", "3600"], store)
            #expect(running.status == 1 && running.stdout.contains("running 1"), "\(running.stdout)")
            try await Task.sleep(for: .milliseconds(1500))
            let lost = try await Self.cli(["status", "--lost-after", "1"], store)
            #expect(lost.status == 1 && lost.stdout.contains("went silent") && lost.stdout.contains("failed 1"), "\(lost.stdout)")
            let invalid = try await Self.cli(["status", "--lost-after", "0"], store)
            #expect(invalid.status != 0 && invalid.stderr.contains("--lost-after"), "\(invalid.stderr)")
        }
    }
}
