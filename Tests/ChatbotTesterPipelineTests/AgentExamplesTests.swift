import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// `examples/rag.yaml` and `examples/agent-tools.yaml` run end to end with the exit status their
/// comments promise, and a bad option of the new metrics is a config error naming file, line and
/// field.
@Suite struct AgentExamplesTests {
    @Test func ragExampleJudgesTheRetrievedContexts() async throws {
        let outcome = try await ExamplesTests.prepare("rag.yaml").test()
        #expect(outcome.exitStatus == 0, "\(ExamplesTests.failedGates(outcome))")
        #expect(outcome.run?.statistics.ok == 4)
        let evals = try await ExamplesTests.evals(outcome)
        let faithfulness = evals.filter { $0.metric == "faithfulness" }
        #expect(faithfulness.count == 4)
        let gift = faithfulness.first { $0.sampleId == "gift-cards" }
        #expect(gift?.score == 0.5)
        #expect(gift?.passed == false)
        #expect(gift?.reason?.contains("unsupported: 'As a thank-you, you also get a 10% voucher for your next order.'") == true)
        #expect(faithfulness.filter { $0.passed == true }.count == 3)
        for metric in ["context-precision", "context-recall", "answer-relevancy"] {
            let records = evals.filter { $0.metric == metric }
            #expect(records.count == 4 && records.allSatisfy { $0.status == .scored }, "\(metric): \(records.map(\.reason))")
        }
        // The judge saw the passages the bot reported; the report shows them under each answer.
        let html = try String(contentsOf: outcome.outputDirectory.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<b>retrieved contexts</b><ol><li><pre>Gift cards cannot be returned or exchanged for cash.</pre></li>"))
    }

    @Test func agentToolsExampleRunsAgainstTheMockServer() async throws {
        try await withMockLLMServer { server in
            let run = try await ExamplesTests.runCLI("agent-tools.yaml", environment: ["OPENAI_BASE_URL": server.openAIBaseURL])
            #expect(run.status == 0, "\(run.failedGates) \(run.stderr)")
            var ok = 0
            for try await entry in JSONL.read(RunRecord.self, from: run.outputDirectory.appendingPathComponent("results.jsonl")) {
                if try entry.result.get().status == .ok { ok += 1 }
            }
            #expect(ok == 4)
            let evals = try await ExamplesTests.evals(in: run.outputDirectory)
            let trajectory = evals.filter { $0.metric == "trajectory" }
            #expect(trajectory.count == 4)
            #expect(trajectory.allSatisfy { $0.passed == true }, "\(trajectory.map(\.reason))")
            let errors = evals.filter { $0.metric == "tool-errors" }
            #expect(errors.filter { $0.passed == false }.map(\.sampleId) == ["sold-out"])
            #expect(evals.first { $0.metric == "books-two-seats" }?.passed == true)
            #expect(evals.first { $0.metric == "booking-args" }?.passed == true)
            #expect(evals.first { $0.metric == "confirms" }?.passed == true)
            // Streamed: every case has a time to first token.
            let ttft = evals.filter { $0.metric == "ttft" }
            #expect(ttft.count == 4 && ttft.allSatisfy { $0.status == .scored }, "\(ttft.map(\.reason))")
            let html = try String(contentsOf: run.outputDirectory.appendingPathComponent("report.html"), encoding: .utf8)
            #expect(html.contains("→ <code>book_flight</code>"))
            #expect(html.contains("<div class=\"msg tool tool-error\">"))
        }
    }

    @Test(arguments: [
        ("- {type: trajectory, mode: sideways}", 9, "evaluate.metrics[1].mode"),
        ("- type: trajectory\n  expected: [search, {name: book, args: {}}]", 10, "evaluate.metrics[1].expected[1].args"),
        ("- {type: faithfulness, backend: judge, maxItems: 0}", 9, "evaluate.metrics[1].maxItems"),
        ("- {type: tool-args, schema: 3}", 9, "evaluate.metrics[1].schema"),
        ("- {type: ttft, max: 100, turn: last}", 9, "evaluate.metrics[1].turn"),
    ])
    func badMetricOptionsNameFileLineAndField(_ metric: String, _ line: Int, _ field: String) async throws {
        let yaml = """
            backends:
              bot: {type: scripted}
              judge: {type: scripted}
            dataset: cases.jsonl
            run: {target: bot}
            evaluate:
              metrics:
                - {type: tool-called, tool: book}
                \(metric.replacingOccurrences(of: "\n", with: "\n    "))
            """
        let workspace = try ExamplesTests.scratch()
        try #"{"id": "q1", "input": "hi"}"#.write(to: workspace.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
        let config = try JobConfig(document: ConfigDocument.parse(yaml, source: "job.yaml", environment: [:]), baseDirectory: workspace)
        let report = await TestJob.check(config: config, components: .builtin(), settings: JobSettings(outputDirectory: workspace.path))
        let error = try #require(report.problems.first as? ChatbotTesterError, "\(report.problems)")
        #expect(error.code == .invalidConfig)
        #expect(error.location?.field == field, "\(error)")
        #expect(error.location?.line == line, "\(error)")
        #expect(error.description.hasPrefix("job.yaml:\(line):"), "\(error)")
    }
}
