import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// `s3://` outputs and datasets in the CLI's verbs, against moto's S3 with IAM authentication on
/// (`ops/s3-test-server.py`, as the store's own tests start it).
@Suite(.serialized) struct S3OutputCLITests {
    typealias Server = MotoServer.Info

    /// The test process's one moto server (shared with `IndexedRunTests`).
    static let server: Task<Server, any Error> = Task { try await MotoServer.shared.start() }

    /// The environment a user's shell would have: credentials and a custom endpoint.
    static func environment(_ server: Server, secret: String? = nil) -> [String: String] {
        [
            "AWS_ACCESS_KEY_ID": server.accessKeyId, "AWS_SECRET_ACCESS_KEY": secret ?? server.secretAccessKey,
            "AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_REGION": server.region, "AWS_PROFILE": "",
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "CHATBOT_TESTER_MIRROR_SECONDS": "0.05",
        ]
    }

    /// The test's view of a prefix of the bucket.
    static func store(_ server: Server, _ url: String) throws -> any ArtifactStore {
        try S3ArtifactStore(url: url, environment: AWSEnvironment(variables: environment(server)))
    }

    static func freshPrefix(_ server: Server) -> String { "s3://\(server.bucket)/cli/\(UUID().uuidString)" }

    static func lines(_ data: Data) -> [String] { String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init) }

    /// Per-case verdicts of an evals file, in order.
    static func verdicts(_ data: Data) throws -> [String] {
        try lines(data).map { line in
            let eval = try JSONCoding.decoder().decode(EvalRecord.self, from: Data(line.utf8))
            return "\(eval.sampleId) \(eval.metric) \(eval.score ?? -1) \(eval.passed.map(String.init) ?? "-")"
        }
    }

    /// The case ids of a results file (or journal), in order.
    static func ids(_ data: Data) throws -> [String] {
        try lines(data).map { line in
            let value = try JSONCoding.decoder().decode(JSONValue.self, from: Data(line.utf8))
            return (value["sampleId"] ?? value["record"]?["sampleId"])?.stringValue ?? "?"
        }
    }

    @Test func testWithAnS3OutWritesWhatALocalRunWrites() async throws {
        let server = try await Self.server.value
        let directory = try CLITests.temporaryDirectory()
        let local = directory.appendingPathComponent("local")
        let remote = Self.freshPrefix(server)
        let env = Self.environment(server)
        let first = try await CLITests.run(["test", "examples/quickstart.yaml", "--out", local.path, "--no-progress"], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try await CLITests.run(["test", "examples/quickstart.yaml", "--out", remote, "--no-progress"], environment: env)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("\(remote)/report.html"))
        let store = try Self.store(server, remote)
        let keys = try await store.list(prefix: "")
        for name in ["results.jsonl", "evals.jsonl", "summary.json", "report.html", "report.md", "junit.xml", "results.csv", "run-summary.json", "job.json", "events.jsonl", RunJournal.defaultKey] {
            #expect(keys.contains(name), "\(name) missing from \(keys)")
        }
        // Nothing private or local travels: no response cache, no spool, no local copies.
        #expect(!keys.contains { $0.hasPrefix(".state") || $0.hasPrefix(".inputs") || $0.hasPrefix("spool") })
        #expect(try Self.verdicts(try await store.read("evals.jsonl")) == Self.verdicts(try Data(contentsOf: local.appendingPathComponent("evals.jsonl"))))
        #expect(try Self.ids(try await store.read("results.jsonl")) == Self.ids(try Data(contentsOf: local.appendingPathComponent("results.jsonl"))))
        let summary = try JSONCoding.decoder().decode(JSONValue.self, from: try await store.read("summary.json"))
        let localSummary = try JSONCoding.decoder().decode(JSONValue.self, from: try Data(contentsOf: local.appendingPathComponent("summary.json")))
        #expect(summary["passed"] == localSummary["passed"])
        #expect(summary["metrics"] == localSummary["metrics"])

        // `report` and `evaluate` read the remote run and write next to it, or to another prefix.
        let reports = Self.freshPrefix(server)
        let report = try await CLITests.run(["report", remote, "--out", reports], environment: env)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(try await Self.store(server, reports).exists("junit.xml"))
        let evaluated = Self.freshPrefix(server)
        let evaluate = try await CLITests.run(
            ["evaluate", "examples/quickstart.yaml", "--results", "\(remote)/results.jsonl", "--out", evaluated, "--no-progress"], environment: env)
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        #expect(try Self.verdicts(try await Self.store(server, evaluated).read("evals.jsonl")) == Self.verdicts(try await store.read("evals.jsonl")))

        // Another job's run in the same prefix is refused, as in a directory.
        let other = directory.appendingPathComponent("other.yaml")
        let text = try String(contentsOf: CLITests.repository.appendingPathComponent("examples/quickstart.yaml"), encoding: .utf8)
        try text.replacingOccurrences(of: "concurrency: 8", with: "concurrency: 4")
            .replacingOccurrences(of: "dataset: data/quickstart.jsonl", with: "dataset: \(CLITests.repository.path)/examples/data/quickstart.jsonl")
            .write(to: other, atomically: true, encoding: .utf8)
        let refused = try await CLITests.run(["test", other.path, "--out", remote, "--no-progress"], environment: env)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("another job") && refused.stderr.contains("\(remote)/job.json"), "\(refused.stderr)")
    }

    @Test func datasetsAreReadFromS3AndBadLinesNameTheObject() async throws {
        let server = try await Self.server.value
        let prefix = Self.freshPrefix(server)
        let store = try Self.store(server, prefix)
        let cases = try Data(contentsOf: CLITests.repository.appendingPathComponent("examples/data/quickstart.jsonl"))
        try await store.write(cases, to: "data/cases.jsonl")
        try await store.write(Data("{\"id\":\"a\",\"input\":\"x\"}\n{\"id\":\"b\"}\n".utf8), to: "data/bad.jsonl")
        let directory = try CLITests.temporaryDirectory()
        let config = directory.appendingPathComponent("job.yaml")
        let text = try String(contentsOf: CLITests.repository.appendingPathComponent("examples/quickstart.yaml"), encoding: .utf8)
        try text.replacingOccurrences(of: "dataset: data/quickstart.jsonl", with: "dataset: \(prefix)/data/cases.jsonl")
            .write(to: config, atomically: true, encoding: .utf8)
        let env = Self.environment(server)

        let out = directory.appendingPathComponent("out")
        let run = try await CLITests.run(["test", config.path, "--out", out.path, "--no-progress"], environment: env)
        #expect(run.status == 0, "\(run.stderr)")
        let expected = Self.lines(cases).filter { !$0.isEmpty }.count
        #expect(Self.lines(try Data(contentsOf: out.appendingPathComponent("results.jsonl"))).count == expected)
        // The local copy of the dataset is gone when the command ends.
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(".inputs").path))

        let valid = try await CLITests.run(["validate", "\(prefix)/data/cases.jsonl", config.path], environment: env)
        #expect(valid.status == 0, "\(valid.stderr)")
        let bad = try await CLITests.run(["validate", "\(prefix)/data/bad.jsonl"], environment: env)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("\(prefix)/data/bad.jsonl:2"), "\(bad.stderr)")

        // A missing object and refused credentials: exit 2, naming the bucket and key.
        let missing = try await CLITests.run(["run", config.path, "--out", out.path, "--dataset", "\(prefix)/data/none.jsonl", "--no-progress"], environment: env)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no object \(prefix)/data/none.jsonl"), "\(missing.stderr)")
        let wrongSecret = "not-the-secret-\(UUID().uuidString)"
        let refused = try await CLITests.run(
            ["test", "examples/quickstart.yaml", "--out", Self.freshPrefix(server), "--no-progress"], environment: Self.environment(server, secret: wrongSecret))
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("S3 refused the credentials") && refused.stderr.contains("s3://\(server.bucket)/cli/"), "\(refused.stderr)")
        #expect(!refused.stderr.contains(wrongSecret))

        // `generate -o s3://…` writes the dataset object.
        let generated = try await CLITests.run(["generate", "examples/generate.yaml", "-o", "\(prefix)/generated.jsonl", "--no-progress"], environment: env)
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(!Self.lines(try await store.read("generated.jsonl")).isEmpty)
    }

    /// In one process the Runner's journal is mirrored; with `--workers 2` the cluster spool's.
    @Test(arguments: [0, 2])
    func aKilledRunResumesFromTheStoreWithEveryIdOnceAndNoSecretStored(_ workers: Int) async throws {
        let flags = workers > 0 ? ["--workers", String(workers)] : []
        let journal = workers > 0 ? "spool/journal.jsonl" : RunJournal.defaultKey
        let server = try await Self.server.value
        try await withMockLLMServer(.init(latencyMs: 40)) { llm in
            let directory = try CLITests.temporaryDirectory()
            // 400 cases at 40 ms and concurrency 4 take 4 s: the kill (at 20 mirrored records) lands long
            // before the end even when the store is slow to list and read the journal's parts under load
            // (with 150 cases a loaded CI machine once saw the run finish first).
            let count = 400
            try (0..<count).map { #"{"id":"c\#($0)","input":"hello \#($0)"}"# }.joined(separator: "\n")
                .write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
            let config = directory.appendingPathComponent("job.yaml")
            try """
                backends:
                  bot: {type: openai, baseURL: "\(llm.openAIBaseURL)", model: m, apiKey: {env: BOT_KEY}}
                dataset: cases.jsonl
                run: {concurrency: 4, syncEvery: 1}
                evaluate:
                  metrics:
                    - {type: length, name: replied, unit: words, min: 1}
                """.write(to: config, atomically: true, encoding: .utf8)
            let remote = Self.freshPrefix(server)
            let store = try Self.store(server, remote)
            let botKey = "bot-key-\(UUID().uuidString)"
            var env = Self.environment(server)
            env["BOT_KEY"] = botKey
            env["CHATBOT_TESTER_LEASE_SECONDS"] = "7"
            let mirrored = Locked(0)
            // Poll the store from a helper task; the run is SIGKILLed once 20 records are there.
            // On a thread of its own: a poller on the pool, which the whole suite can hold for seconds,
            // would look only after the run had finished.
            let poller = Task(executorPreference: DedicatedThreadExecutor.watchers) {
                while !Task.isCancelled {
                    let lines = (try? await store.read(journal)).map { Self.lines($0).count } ?? 0
                    mirrored.withLock { $0 = lines }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            let killed = try await CLITests.run(["test", config.path, "--out", remote, "--no-progress"] + flags, environment: env, signal: SIGKILL) {
                mirrored.withLock { $0 } >= 20
            }
            poller.cancel()
            #expect(killed.status == SIGKILL || killed.status == 9, "\(killed.stderr)")
            let kept = Set(try Self.ids(try await store.read(journal))).count
            #expect(kept >= 20 && kept < count)
            // The killed run's lease has the length its environment set (CHATBOT_TESTER_LEASE_SECONDS).
            let lease = try #require(try await RemoteOutputLock.newest(in: store)?.lease)
            #expect(lease.leaseSeconds == 7 && !lease.released)
            // Killed: the lease is not released, but its holder is gone; the resume (elsewhere, as a
            // new staging directory) continues from the store.
            let before = llm.stats.byPath["/v1/chat/completions"] ?? 0
            let resumed = try await CLITests.run(["test", config.path, "--out", remote, "--no-progress", "--resume"] + flags, environment: env)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let ids = try Self.ids(try await store.read("results.jsonl"))
            #expect(ids.count == count)
            #expect(Set(ids).count == count)
            let played = (llm.stats.byPath["/v1/chat/completions"] ?? 0) - before
            #expect(played <= count - kept, "replayed \(played) for \(count - kept) missing")
            // No secret value in any object: the bot's key, the AWS secret.
            for key in try await store.list(prefix: "") {
                let text = String(decoding: try await store.read(key), as: UTF8.self)
                #expect(!text.contains(botKey), "\(key) holds the bot key")
                #expect(!text.contains(server.secretAccessKey), "\(key) holds the AWS secret")
            }
        }
    }

    /// A run played one way to an `s3://` output and resumed the other way: the resume takes over
    /// the journal it restored from the store, stores it under the other way's key and drops the
    /// first way's, so the store holds one journal and a later resume finds nothing left to play.
    @Test(arguments: [0, 2])
    func aRunResumedTheOtherWayLeavesOneJournalInTheStore(_ firstWorkers: Int) async throws {
        let server = try await Self.server.value
        let first = firstWorkers > 0 ? ["--workers", "2"] : [], second = firstWorkers > 0 ? [] : ["--workers", "2"]
        let firstJournal = firstWorkers > 0 ? "spool/journal.jsonl" : RunJournal.defaultKey
        let secondJournal = firstWorkers > 0 ? RunJournal.defaultKey : "spool/journal.jsonl"
        try await withMockLLMServer(.init(latencyMs: 1)) { llm in
            let directory = try CLITests.temporaryDirectory()
            try (0..<12).map { n in
                n % 4 == 0 ? #"{"id":"c\#(n)","input":"MOCK_FAULT: 500 times=1\nMOCK_REPLY: hello \#(n)"}"# : #"{"id":"c\#(n)","input":"MOCK_REPLY: hello \#(n)"}"#
            }.joined(separator: "\n").write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
            let config = directory.appendingPathComponent("job.yaml")
            try """
                backends:
                  bot: {type: openai, baseURL: "\(llm.openAIBaseURL)", model: m, retry: {attempts: 1}}
                dataset: cases.jsonl
                run: {concurrency: 2}
                evaluate: {metrics: [{type: contains, value: hello}]}
                """.write(to: config, atomically: true, encoding: .utf8)
            let remote = Self.freshPrefix(server)
            let store = try Self.store(server, remote)
            let env = Self.environment(server)
            let played = try await CLITests.run(["test", config.path, "--out", remote, "--no-progress"] + first, environment: env)
            #expect(played.status == 0, "\(played.stderr)")
            let firstStored = await store.exists(firstJournal), secondStored = await store.exists(secondJournal)
            #expect(firstStored && !secondStored)
            let before = llm.stats.byPath["/v1/chat/completions"] ?? 0
            let resumed = try await CLITests.run(
                ["test", config.path, "--out", remote, "--no-progress", "--resume", "--retry-errors"] + second, environment: env)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect((llm.stats.byPath["/v1/chat/completions"] ?? 0) - before == 3, "only the errored cases are played again")
            #expect(try Self.ids(try await store.read("results.jsonl")) == (0..<12).map { "c\($0)" })
            let takenOverStays = await store.exists(firstJournal)
            #expect(!takenOverStays, "the taken-over journal stays in the store")
            #expect(Set(try Self.ids(try await store.read(secondJournal))) == Set((0..<12).map { "c\($0)" }))
            // Resumed again the second way, from the store: nothing is left to play.
            let again = try await CLITests.run(["test", config.path, "--out", remote, "--no-progress", "--resume"] + second, environment: env)
            #expect(again.status == 0, "\(again.stderr)")
            #expect((llm.stats.byPath["/v1/chat/completions"] ?? 0) - before == 3)
            #expect(try Self.ids(try await store.read("results.jsonl")) == (0..<12).map { "c\($0)" })
        }
    }

    @Test func oneRunAtATimePerRemoteOutput() async throws {
        let server = try await Self.server.value
        let store = try Self.store(server, Self.freshPrefix(server))
        let first = try await RemoteOutputLock.acquire(store: store, url: "s3://x/first")
        let other = OutputDirectoryLock.Holder(pid: 1, host: "another-pod", command: "chatbot-tester test", startedAt: Date())
        await #expect(throws: ChatbotTesterError.self) { try await RemoteOutputLock.acquire(store: store, url: "s3://x/first", holder: other) }
        do {
            _ = try await RemoteOutputLock.acquire(store: store, url: "s3://x/first", holder: other)
        } catch let error as ChatbotTesterError {
            #expect(error.code == .busy)
            #expect(error.message.contains("pid \(getpid())"))
        }
        await first.release()
        // Released: the next run takes the next generation, and keeps it by renewing its lease.
        // (Leases are stored with whole seconds: a 2 s lease renewed every 0.5 s, checked after 3 s.)
        let second = try await RemoteOutputLock.acquire(store: store, url: "s3://x/first", holder: other, leaseSeconds: 2)
        try await Task.sleep(for: .seconds(3))
        await #expect(throws: ChatbotTesterError.self) { try await RemoteOutputLock.acquire(store: store, url: "s3://x/first") }
        await second.release()
        // A lease its holder stopped renewing (a killed pod) is taken over.
        let newest = try #require(try await RemoteOutputLock.newest(in: store))
        let gone = RemoteOutputLock.Lease(
            holder: .init(pid: 7, host: "gone-pod", command: "test", startedAt: Date()), renewedAt: Date().addingTimeInterval(-120), leaseSeconds: 60,
            released: false)
        #expect(try await store.createIfAbsent(JSONCoding.encoder().encode(gone), at: String(format: "\(RemoteOutputLock.prefix)%010d", newest.generation + 1)))
        let third = try await RemoteOutputLock.acquire(store: store, url: "s3://x/first")
        #expect(try await RemoteOutputLock.newest(in: store)?.generation == newest.generation + 2)
        await third.release()
        // Eight racing runs for a free lock: exactly one wins.
        let winners = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let holder = OutputDirectoryLock.Holder(pid: Int32(100 + index), host: "pod-\(index)", command: "test", startedAt: Date())
                    return (try? await RemoteOutputLock.acquire(store: store, url: "s3://x/first", holder: holder)) != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
    }
}
