import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// `examples/rag.yaml` and `examples/agent-tools.yaml` run end to end with the exit status their
/// comments promise, and a bad option of the new metrics is a config error naming file, line and
/// field.
@Suite struct AgentExamplesTests {
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
