import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// End-to-end pipeline runs over real loopback HTTP against the mock LLM server.
@Suite struct PipelineTests {
    static let secret = "sk-pipeline-test-9f2c"

    struct Workspace {
        let directory: URL
        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        func write(_ name: String, _ text: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        var out: URL { directory.appendingPathComponent("out") }
    }

    static func dataset(replies: [String]) -> String {
        replies.enumerated().map { index, reply in
            #"{"id":"case-\#(index)","input":"MOCK_REPLY: \#(reply)","tags":["t\#(index % 2)"]}"#
        }.joined(separator: "\n") + "\n"
    }

    static func config(baseURL: String, gate: String = "") -> String {
        """
        name: pipeline-test
        backends:
          bot: {type: openai, baseURL: "\(baseURL)", model: test-bot, apiKey: {env: BOT_KEY}}
        dataset: cases.jsonl
        run: {target: bot, concurrency: 4}
        evaluate:
          metrics:
            - {type: contains, name: mentions-window, value: "30 days"\(gate)}
        """
    }

    func prepare(_ workspace: Workspace, configText: String, resume: Bool = false) async throws -> TestJob {
        let config = try JobConfig.load(contentsOf: workspace.write("job.yaml", configText))
        return try await TestJob.prepare(
            config: config, components: .builtin(),
            settings: JobSettings(outputDirectory: workspace.out.path, resume: resume, secrets: SecretResolver(environment: ["BOT_KEY": Self.secret])))
    }

    static func ids(in url: URL) async throws -> [String] {
        var ids: [String] = []
        for try await entry in JSONL.read(RunRecord.self, from: url) { ids.append(try entry.result.get().sampleId) }
        return ids
    }

    @Test func passingRunExitsZeroAndWritesEveryOutput() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", Self.dataset(replies: Array(repeating: "Refunds within 30 days.", count: 6)))
            let job = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL))
            let outcome = try await job.test()
            #expect(outcome.exitStatus == 0)
            #expect(outcome.run?.statistics.ok == 6)
            #expect(outcome.evaluation?.passed == true)
            for name in ["results.jsonl", "evals.jsonl", "summary.json", "report.html", "report.md", "junit.xml", "job.json", "run-summary.json"] {
                #expect(FileManager.default.fileExists(atPath: workspace.out.appendingPathComponent(name).path), "missing \(name)")
            }
            #expect(try await Self.ids(in: workspace.out.appendingPathComponent("results.jsonl")) == (0..<6).map { "case-\($0)" })
            #expect(server.stats.byPath["/v1/chat/completions"] == 6)
            // The API key reached the server but no file in the output directory.
            #expect(server.recordedRequests().allSatisfy { $0.headers["authorization"] == "Bearer \(Self.secret)" })
            for name in try FileManager.default.contentsOfDirectory(atPath: workspace.out.path) {
                let url = workspace.out.appendingPathComponent(name)
                guard let data = try? Data(contentsOf: url) else { continue }
                #expect(!String(decoding: data, as: UTF8.self).contains(Self.secret), "secret leaked into \(name)")
            }
        }
    }

    @Test func failedThresholdExitsOne() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["Refunds within 30 days.", "No idea, sorry.", "30 days.", "Ask later."]))
            let job = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL, gate: ", passRate: 0.75"))
            let outcome = try await job.test()
            #expect(outcome.evaluation?.passed == false)
            #expect(outcome.exitStatus == 1)
            let stats = try #require(outcome.evaluation?.aggregate.metrics["mentions-window"])
            #expect(stats.passed == 2 && stats.failed == 2)
        }
    }

    @Test func resumeReplaysNothingAlreadyRecorded() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", Self.dataset(replies: Array(repeating: "30 days", count: 10)))
            let first = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL))
            _ = try await first.test()
            #expect(server.stats.byPath["/v1/chat/completions"] == 10)
            // Lose the last four results as a crash would (journal cut back), then resume.
            let journal = workspace.out.appendingPathComponent("results.journal.jsonl")
            let lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
            try (lines.prefix(6).joined(separator: "\n") + "\n" + lines[6].prefix(20)).write(to: journal, atomically: true, encoding: .utf8)
            let resumed = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL), resume: true)
            let outcome = try await resumed.test()
            #expect(server.stats.byPath["/v1/chat/completions"] == 14)
            #expect(outcome.run?.statistics.ok == 10)
            #expect(try await Self.ids(in: workspace.out.appendingPathComponent("results.jsonl")) == (0..<10).map { "case-\($0)" })
        }
    }

    @Test func everyConfigProblemIsReportedBeforeAnyRequest() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["x"]))
            let text = """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, temprature: 0.2}
                  other: {type: no-such-type}
                dataset: cases.jsonl
                run: {target: bot, simulator: ghost}
                evaluate:
                  metrics:
                    - {type: contains, value: ok}
                    - {type: llm-judje, backend: bot}
                """
            await #expect {
                _ = try await prepare(workspace, configText: text)
            } throws: { error in
                let text = String(describing: error)
                return text.contains("4 problems in") && text.contains("job.yaml:2: field 'backends.bot.temprature'")
                    && text.contains("job.yaml:3: field 'backends.other.type'") && text.contains("job.yaml:5: field 'run.simulator'")
                    && text.contains("job.yaml:9: field 'evaluate.metrics[1].type'")
            }
            #expect(server.stats.requests == 0)
        }
    }

    @Test func badRunToolsNameFileLineAndField() async throws {
        let workspace = try Workspace()
        _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["x"]))
        for (tools, expected) in [
            ("[{name: lookup, executor: ghost}]", "job.yaml:6: field 'run.tools[0].executor'"),
            ("[{name: lookup, result: 1, colour: red}]", "job.yaml:6: field 'run.tools[0].colour'"),
            ("[{name: lookup, results: [{match: {a: 1}}]}]", "job.yaml:6: field 'run.tools[0].results[0].result'"),
        ] {
            let text = """
                backends:
                  bot: {type: scripted}
                dataset: cases.jsonl
                run:
                  target: bot
                  tools: \(tools)
                """
            await #expect {
                _ = try await prepare(workspace, configText: text)
            } throws: { error in
                String(describing: error).contains(expected)
            }
        }
    }

    @Test func missingBaselineFailsBeforeTheRun() async throws {
        let workspace = try Workspace()
        _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["x"]))
        let text = Self.config(baseURL: "http://127.0.0.1:9/v1") + "\n  baseline: runs/never-ran\n"
        await #expect {
            _ = try await prepare(workspace, configText: text)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("field 'evaluate.baseline'") && text.contains("never-ran/evals.jsonl")
        }
    }

    @Test func missingSecretFailsBeforeTheRun() async throws {
        let workspace = try Workspace()
        _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["x"]))
        let config = try JobConfig.load(contentsOf: workspace.write("job.yaml", Self.config(baseURL: "http://127.0.0.1:9/v1")))
        await #expect {
            _ = try await TestJob.prepare(
                config: config, components: .builtin(),
                settings: JobSettings(outputDirectory: workspace.out.path, secrets: SecretResolver(environment: [:])))
        } throws: { error in
            (error as? ChatbotTesterError)?.code == .missingSecret && String(describing: error).contains("BOT_KEY")
        }
    }

    @Test func invalidDatasetLinesStopTheRunWithTheirLocations() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", #"{"id":"a","input":"MOCK_REPLY: 30 days"}"# + "\n" + #"{"id":"b","inptu":"x"}"# + "\n")
            let job = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL))
            await #expect {
                _ = try await job.test()
            } throws: { error in
                String(describing: error).contains("cases.jsonl:2: field 'inptu'")
            }
            #expect(server.stats.requests == 0)
        }
    }

    @Test func duplicateIdsStopTheRunBeforeAnyRequestNamingBothLines() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            let cases = workspace.directory.appendingPathComponent("cases.jsonl")
            _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["30 days", "x", "y"]) + #"{"id":"case-1","input":"again"}"# + "\n")
            let job = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL))
            await #expect {
                _ = try await job.test()
            } throws: { error in
                String(describing: error).contains("\(cases.path):4: field 'id': duplicate case id 'case-1' (first on line 2)")
            }
            #expect(server.stats.requests == 0)
        }
    }

    @Test func aSecondRunOnABusyOutputDirectoryIsRefusedNamingTheFirst() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", Self.dataset(replies: ["30 days"]))
            let job = try await prepare(workspace, configText: Self.config(baseURL: server.openAIBaseURL))
            let first = try OutputDirectoryLock.acquire(workspace.out)
            await #expect {
                _ = try await job.run(dataset: workspace.directory.appendingPathComponent("cases.jsonl"))
            } throws: { error in
                (error as? ChatbotTesterError)?.code == .busy && String(describing: error).contains("pid \(getpid())")
            }
            #expect(server.stats.requests == 0)
            first.release()
            #expect(try await job.test().exitStatus == 0)
        }
    }
}
