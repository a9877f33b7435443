import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// `test` scores the Runner's records as they finish and writes results, evaluations and reports
/// in one pass; what it writes is what evaluating `results.jsonl` afterwards writes.
@Suite struct ScoredRunTests {
    typealias Workspace = PipelineTests.Workspace

    static let replies = ["Refunds within 30 days.", "No idea, sorry.", "30 days.", "Ask later.", "30 days!", "Maybe 31 days."]

    func prepare(_ workspace: Workspace, baseURL: String, resume: Bool = false, retryErrors: Bool = false) async throws -> TestJob {
        let config = try JobConfig.load(contentsOf: workspace.write("job.yaml", PipelineTests.config(baseURL: baseURL)))
        var settings = JobSettings(
            outputDirectory: workspace.out.path, resume: resume, secrets: SecretResolver(environment: ["BOT_KEY": PipelineTests.secret]))
        settings.retryErrors = retryErrors
        return try await TestJob.prepare(config: config, components: .builtin(), settings: settings)
    }

    func read(_ workspace: Workspace, _ name: String) throws -> String {
        try String(contentsOf: workspace.out.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func evaluationsAreJournaledAsRecordsFinishAndMatchEvaluatingTheResultsFile() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", PipelineTests.dataset(replies: Self.replies))
            let job = try await prepare(workspace, baseURL: server.openAIBaseURL)
            let outcome = try await job.test()
            // Scored while playing: one evaluation group per record in the journal.
            let groups = try read(workspace, TestJob.evalJournalKey).split(separator: "\n")
            #expect(groups.count == Self.replies.count)
            #expect(!FileManager.default.fileExists(atPath: workspace.out.appendingPathComponent("evals.journal.jsonl.sorted").path))
            let scored = try read(workspace, "evals.jsonl")
            let stats = try #require(outcome.evaluation?.aggregate.metrics["mentions-window"])
            #expect(stats.passed == 3 && stats.failed == 3)
            #expect(outcome.evaluation?.aggregate.runs.samples == Self.replies.count)
            // Evaluating the results file afterwards (the old path, and `evaluate`) gives the same.
            let again = try await job.evaluate(results: workspace.out.appendingPathComponent("results.jsonl"))
            #expect(try read(workspace, "evals.jsonl") == scored)
            #expect(again.aggregate == outcome.evaluation?.aggregate)
            #expect(scored.split(separator: "\n").count == Self.replies.count)
        }
    }

    @Test func aResumeAfterRunningWithoutScoringEvaluatesEveryRecord() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", PipelineTests.dataset(replies: Self.replies))
            _ = try await prepare(workspace, baseURL: server.openAIBaseURL).runOnly()
            #expect(!FileManager.default.fileExists(atPath: workspace.out.appendingPathComponent(TestJob.evalJournalKey).path))
            let outcome = try await prepare(workspace, baseURL: server.openAIBaseURL, resume: true).test()
            #expect(server.stats.byPath["/v1/chat/completions"] == Self.replies.count)
            #expect(outcome.evaluation?.aggregate.runs.samples == Self.replies.count)
            #expect(try read(workspace, "evals.jsonl").split(separator: "\n").count == Self.replies.count)
        }
    }

    @Test func recordsLostInACrashAreScoredAgainAndTheirOldEvaluationsIgnored() async throws {
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", PipelineTests.dataset(replies: Self.replies))
            _ = try await prepare(workspace, baseURL: server.openAIBaseURL).test()
            // Lose the last two records (not their evaluations), then resume: the two are played
            // and scored again, and each record is reported with its own evaluations only.
            let journal = workspace.out.appendingPathComponent("results.journal.jsonl")
            let lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
            try (lines.prefix(4).joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
            let outcome = try await prepare(workspace, baseURL: server.openAIBaseURL, resume: true).test()
            #expect(server.stats.byPath["/v1/chat/completions"] == Self.replies.count + 2)
            #expect(try read(workspace, TestJob.evalJournalKey).split(separator: "\n").count == Self.replies.count + 2)
            let evals = try read(workspace, "evals.jsonl").split(separator: "\n")
            #expect(evals.count == Self.replies.count)
            let stats = try #require(outcome.evaluation?.aggregate.metrics["mentions-window"])
            #expect(stats.passed == 3 && stats.failed == 3)
        }
    }

    /// The final pass decodes records in batches on other tasks (several batches in flight): with
    /// more records than the batches in flight hold, `test` writes what evaluating its
    /// `results.jsonl` writes, byte for byte; and a group missing in a later batch still sends the
    /// whole file to `evaluate`.
    @Test func theBatchedFinalPassWritesWhatEvaluatingTheResultsWrites() async throws {
        // More than the batches in flight hold (10 batches of 128 and part of one; 2 in flight).
        let count = 1_317
        let replies = (0..<count).map { Self.replies[$0 % Self.replies.count] + " #\($0)" }
        try await withMockLLMServer { server in
            let workspace = try Workspace()
            _ = try workspace.write("cases.jsonl", PipelineTests.dataset(replies: replies))
            let job = try await prepare(workspace, baseURL: server.openAIBaseURL)
            let outcome = try await job.test()
            let files = ["evals.jsonl", "results.csv", "junit.xml"]
            let written = try files.map { try read(workspace, $0) }
            #expect(written[0].split(separator: "\n").count == count)
            let again = try await job.evaluate(results: workspace.out.appendingPathComponent("results.jsonl"))
            #expect(try files.map { try read(workspace, $0) } == written)
            #expect(again.aggregate == outcome.evaluation?.aggregate)

            // One record's group lost from the journal, far into the file: the final pass cannot
            // join it and evaluates the results file instead, with the same outputs.
            let journal = workspace.out.appendingPathComponent(TestJob.evalJournalKey)
            let groups = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
            let lost = count - 20
            let kept = groups.filter { !$0.hasPrefix("{\"index\":\(lost),") }
            #expect(kept.count == groups.count - 1)
            try (kept.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
            let resumed = try await prepare(workspace, baseURL: server.openAIBaseURL, resume: true).test()
            #expect(try files.map { try read(workspace, $0) } == written)
            #expect(resumed.evaluation?.aggregate == outcome.evaluation?.aggregate)
        }
    }
}
