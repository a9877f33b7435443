import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// The files in `examples/` run as they are: every config loads and prepares, every dataset is
/// valid, and every offline example runs end to end with the exit status its comments promise
/// (the mock-server ones against a `MockLLMServer` started here, its URL passed through the
/// configs' `${…}` variables).
@Suite struct ExamplesTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples", isDirectory: true)

    /// Every `examples/*.yaml`.
    static let configs: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    /// Every `examples/**/*.jsonl`, relative to `examples/`.
    static let datasets: [String] = {
        let enumerator = FileManager.default.enumerator(atPath: directory.path)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".jsonl") { found.append(path) }
        }
        return found.sorted()
    }()

    static let apiKey = "sk-examples-test-3b7e"

    /// A fresh output directory per run.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("examples-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The environment the configs' `${…}` variables expand from: no inherited values (so a
    /// developer's `MODEL` or `OPENAI_BASE_URL` cannot change the outcome), the examples directory
    /// for the exec bot, and the overrides of one test.
    static func environment(_ overrides: [String: String] = [:]) -> [String: String] {
        ["EXAMPLES_DIR": directory.path].merging(overrides) { _, new in new }
    }

    static func prepare(_ name: String, environment overrides: [String: String] = [:]) async throws -> TestJob {
        let config = try JobConfig.load(contentsOf: directory.appendingPathComponent(name), environment: environment(overrides))
        let settings = JobSettings(
            outputDirectory: try scratch().path, secrets: SecretResolver(environment: ["OPENAI_API_KEY": apiKey]))
        return try await TestJob.prepare(config: config, components: .builtin(), settings: settings)
    }

    static func evals(_ outcome: JobOutcome) async throws -> [EvalRecord] {
        try await evals(in: outcome.outputDirectory)
    }

    static func evals(in outputDirectory: URL) async throws -> [EvalRecord] {
        var records: [EvalRecord] = []
        for try await entry in JSONL.read(EvalRecord.self, from: outputDirectory.appendingPathComponent("evals.jsonl")) {
            records.append(try entry.result.get())
        }
        return records
    }

    static func failedGates(_ outcome: JobOutcome) -> [String] {
        (outcome.evaluation?.gates ?? []).filter { !$0.passed }.map { "\($0.metric) \($0.condition)" }
    }

    /// An example run as users run it: the built `chatbot-tester test` in a process of its own.
    struct CLIRun {
        struct Gate: Decodable {
            var metric: String
            var condition: String
            var passed: Bool
        }

        var status: Int32
        var outputDirectory: URL
        var stderr: String
        /// `summary.json`'s gates.
        var gates: [Gate]
        var failedGates: [String] { gates.filter { !$0.passed }.map { "\($0.metric) \($0.condition)" } }
    }

    /// Runs `examples/<name>` through the CLI, with `environment(overrides)`, the test's API key and
    /// `PATH` as its whole environment. For the examples whose gates time each case (`latency`,
    /// `ttft`): in this process their requests would wait behind every other test's work on the
    /// cooperative pool (two threads here; at load 8, cases took over 2 s), which says nothing about
    /// the example.
    static func runCLI(_ name: String, environment overrides: [String: String] = [:]) async throws -> CLIRun {
        let output = try scratch()
        var variables = environment(overrides)
        variables["OPENAI_API_KEY"] = apiKey
        variables["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let outcome = try await ProcessRunner.run(
            [BuiltExecutable.path("chatbot-tester"), "test", directory.appendingPathComponent(name).path, "--out", output.path, "--no-progress"],
            input: Data(), environment: variables, directory: nil, timeoutSeconds: 300)
        struct Summary: Decodable { var gates: [CLIRun.Gate]? }
        let summary = try? JSONDecoder().decode(Summary.self, from: Data(contentsOf: output.appendingPathComponent("summary.json")))
        return CLIRun(
            status: outcome.signalled || outcome.timedOut ? -1 : outcome.status, outputDirectory: output,
            stderr: String(decoding: outcome.stderr.suffix(4000), as: UTF8.self), gates: summary?.gates ?? [])
    }

    // MARK: Every file

    @Test func theExamplesAreThere() {
        for name in [
            "quickstart.yaml", "openai-compatible.yaml", "generate.yaml", "multi-turn.yaml", "http-bot.yaml", "exec-bot.yaml",
            "ci-gates.yaml",
        ] {
            #expect(Self.configs.contains(name), "missing examples/\(name)")
        }
        #expect(FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("README.md").path))
        #expect(FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("bots/echo_bot.py").path))
        #expect(FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("bots/http_bot.py").path))
    }

    @Test(arguments: ExamplesTests.configs) func configLoadsAndPrepares(_ name: String) async throws {
        let job = try await Self.prepare(name, environment: ["OPENAI_BASE_URL": "http://127.0.0.1:9/v1"])
        #expect(!job.targetName.isEmpty)
        #expect(job.config.dataset != nil || job.generateSpec != nil)
    }

    @Test(arguments: ExamplesTests.datasets) func datasetValidates(_ path: String) async throws {
        let url = Self.directory.appendingPathComponent(path)
        // Baselines are earlier runs' evaluations; everything else is test cases.
        let report =
            path.hasPrefix("baselines/")
            ? try await FileValidation.validate(EvalRecord.self, at: url)
            : try await FileValidation.validate(TestSample.self, at: url)
        #expect(report.badLines == 0, "\(report.errors.map(\.description))")
        #expect(report.goodLines > 0)
    }

    // MARK: Offline examples, end to end

    @Test func quickstartPasses() async throws {
        let outcome = try await Self.prepare("quickstart.yaml").test()
        #expect(outcome.exitStatus == 0, "\(Self.failedGates(outcome))")
        #expect(outcome.run?.statistics.ok == 8)
    }

    @Test func multiTurnPassesWithOneScenarioGivingUp() async throws {
        let outcome = try await Self.prepare("multi-turn.yaml").test()
        #expect(outcome.exitStatus == 0, "\(Self.failedGates(outcome))")
        let run = try #require(outcome.run)
        #expect(run.statistics.ok == 5)
        #expect(run.statistics.stopReasons["goal_reached"] == 2)
        #expect(run.statistics.stopReasons["gave_up"] == 1)
        let evals = try await Self.evals(outcome)
        let goal = evals.filter { $0.metric == "goal" }
        #expect(goal.first { $0.sampleId == "sim-out-of-scope" }?.passed == false)
        #expect(goal.first { $0.sampleId == "sim-refund" }?.passed == true)
        #expect(evals.filter { $0.metric == "gives-rma" }.allSatisfy { $0.passed == true })
    }

    @Test func generateMakesEverySourceAndPasses() async throws {
        let outcome = try await Self.prepare("generate.yaml").test()
        #expect(outcome.exitStatus == 0, "\(Self.failedGates(outcome))")
        let report = try #require(outcome.generation)
        #expect(report.generated == 38)   // 6 template + 6 synthesized + 2 persona + 12 probes + 12 perturbed
        for source in ["template", "synthesize", "persona", "adversarial", "perturbation"] {
            #expect((report.bySource[source] ?? 0) > 0, "no \(source) cases: \(report.bySource)")
        }
        #expect(report.dropped.isEmpty, "\(report.drops)")
        #expect(outcome.run?.statistics.ok == report.generated)
        let generated = outcome.outputDirectory.appendingPathComponent("dataset.jsonl")
        #expect(try await FileValidation.validate(TestSample.self, at: generated).badLines == 0)
    }

    @Test func execBotCarriesItsSession() async throws {
        let outcome = try await Self.prepare("exec-bot.yaml").test()
        #expect(outcome.exitStatus == 0, "\(Self.failedGates(outcome))")
        #expect(outcome.run?.statistics.ok == 5)
        let evals = try await Self.evals(outcome)
        #expect(evals.filter { $0.metric == "remembers-name" }.count == 2)
        #expect(evals.allSatisfy { $0.passed != false }, "\(evals.filter { $0.passed == false }.map(\.reason))")
    }

    @Test func ciGatesPassAndCompareWithTheBaseline() async throws {
        let run = try await Self.runCLI("ci-gates.yaml")
        #expect(run.status == 0, "\(run.failedGates) \(run.stderr)")
        let gates = run.gates
        for condition in ["passRate", "mean", "maxUnmeasured", "maxErrorRate"] {
            #expect(gates.contains { $0.condition.contains(condition) }, "no \(condition) gate in \(gates.map(\.condition))")
        }
        let markdown = try String(contentsOf: run.outputDirectory.appendingPathComponent("report.md"), encoding: .utf8)
        // The baseline predates the warranty answers: the comparison shows them as improvements.
        #expect(markdown.contains("Compared with ci-gates: 0 regressions, 5 improvements"))
        #expect(markdown.contains("warranty-phone"))
    }

    @Test func ciGatesFailWhenAGateIsRaised() async throws {
        let outcome = try await Self.prepare("ci-gates.yaml", environment: ["MIN_PASS_RATE": "1"]).test()
        #expect(outcome.exitStatus == 1)
        #expect(Self.failedGates(outcome) == ["on-topic passRate"])
    }

    @Test func ciGatesAbortWhenTheBudgetIsSpent() async throws {
        let outcome = try await Self.prepare("ci-gates.yaml", environment: ["BUDGET_USD": "0.0000001"]).test()
        #expect(outcome.exitStatus == 3)
        #expect(outcome.run?.stopReason == .budgetExceeded)
        #expect((outcome.run?.statistics.ok ?? 0) < 10)
    }

    // MARK: Against the mock LLM server

    @Test func openAICompatibleRunsAgainstTheMockServer() async throws {
        try await withMockLLMServer { server in
            let job = try await Self.prepare("openai-compatible.yaml", environment: ["OPENAI_BASE_URL": server.openAIBaseURL])
            let outcome = try await job.test()
            #expect(outcome.exitStatus == 0, "\(Self.failedGates(outcome))")
            #expect(outcome.run?.statistics.ok == 8)
            let stats = server.stats
            #expect(stats.byPath["/v1/chat/completions"] == 16, "8 bot replies and 8 judge verdicts: \(stats.byPath)")
            let requests = server.recordedRequests()
            #expect(requests.allSatisfy { $0.headers["authorization"] == "Bearer \(Self.apiKey)" })
            #expect(requests.contains { $0.body.contains("mock-judge") })
            for file in ["job.json", "results.jsonl", "evals.jsonl", "report.md"] {
                let text = try String(contentsOf: outcome.outputDirectory.appendingPathComponent(file), encoding: .utf8)
                #expect(!text.contains(Self.apiKey), "the API key leaked into \(file)")
            }
        }
    }

    @Test func openAICompatibleDefaultsToTheLocalMockAndNeedsNoKey() async throws {
        let config = try JobConfig.load(
            contentsOf: Self.directory.appendingPathComponent("openai-compatible.yaml"), environment: Self.environment())
        #expect(config.backends["bot"]?.options["baseURL"] == "http://127.0.0.1:8080/v1")
        #expect(config.backends["bot"]?.options["model"] == "mock")
        #expect(config.backends["judge"]?.options["model"] == "mock-judge")
        // As its comment says: the key is `optional: true`, so a keyless local server needs no dummy value.
        let settings = JobSettings(outputDirectory: try Self.scratch().path, secrets: SecretResolver(environment: [:]))
        _ = try await TestJob.prepare(config: config, components: .builtin(), settings: settings)
    }

    @Test func httpBotCarriesTheSessionOfTheMockChatbot() async throws {
        try await withMockLLMServer { server in
            let run = try await Self.runCLI("http-bot.yaml", environment: ["CHATBOT_URL": server.baseURL + "/chatbot"])
            #expect(run.status == 0, "\(run.failedGates) \(run.stderr)")
            #expect(server.stats.byPath["/chatbot"] == 1 + 3 + 3 + 2)
            let carried = try await Self.evals(in: run.outputDirectory).filter { $0.metric == "session-carried" }
            #expect(carried.count == 2)
            #expect(carried.allSatisfy { $0.passed == true })
            #expect(server.recordedRequests().allSatisfy { $0.headers["x-conversation"] != nil })
        }
    }

    // MARK: The "Using the SDK" article (Sources/ChatbotTesterPipeline/Docs.docc/UsingTheSDK.md)

    @Test func usingTheSDKArticleRuns() async throws {
        let workspace = try Self.scratch()
        try #"{"id":"q1","input":"How long do refunds take?"}"#.write(
            to: workspace.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)

        var components = PipelineComponents.builtin()
        components.backends.register(
            "company-assistant", summary: "our in-house assistant",
            options: [OptionSpec("endpoint", .string, required: true, "service URL")]
        ) { options, _ in
            _ = try options.requiredString("endpoint")
            return ClosureChatBackend { request in
                ChatResponse(content: "Refunds take 30 days, thank you for asking.", session: request.session)
            }
        }
        components.metrics.registerScoring("polite", summary: "thanks the customer") { _, _ in
            { record in .bool(record.reply?.contains("thank") == true, reason: "looked for 'thank'") }
        }
        let yaml = """
            backends:
              bot: {type: company-assistant, endpoint: "https://assistant.internal/api", retry: 3}
            dataset: cases.jsonl
            evaluate:
              metrics:
                - {type: contains, value: "30 days"}
                - {type: polite, passRate: 0.5}
            """
        let config = try JobConfig(
            document: ConfigDocument.parse(yaml, source: "job.yaml", environment: [:]), baseDirectory: workspace)
        let job = try await TestJob.prepare(
            config: config, components: components,
            settings: JobSettings(outputDirectory: workspace.appendingPathComponent("out").path, concurrency: 16))
        let outcome = try await job.test()
        #expect(outcome.exitStatus == 0, "\(Self.failedGates(outcome))")
        #expect(Set(try await Self.evals(outcome).map(\.metric)) == ["contains", "polite"])
    }
}
