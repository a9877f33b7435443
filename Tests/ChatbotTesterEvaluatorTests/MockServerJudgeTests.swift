import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

/// The LLM judge over real HTTP: the built-in `openai` backend against the mock server on loopback.
/// The bot's reply carries `MOCK_REPLY: …`, which ends up in the judge prompt, so the mock answers
/// the judge with exactly that text; without it the mock answers schema-valid JSON.
@Suite struct MockServerJudgeTests {
    static func backends(_ server: MockLLMServer) -> BackendSet {
        BackendSet(
            config: RegistryConfig([
                "judge": ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "judge-model"]),
                "embed": ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "embed-model"]),
            ]),
            registry: BuiltinBackends.registry())
    }

    @Test func openAIEndpointDrivesTheJudge() async throws {
        try await withMockLLMServer { server in
            let evaluator = try await Evaluator(
                specs: [ComponentSpec(type: "llm-judge", options: ["backend": "judge", "rubric": "Is the answer helpful?", "threshold": 0.5])],
                backends: Self.backends(server), concurrency: 2)
            let runs = [
                Fixtures.run("verbatim", reply: #"MOCK_REPLY: {"score": 4, "reason": "clear and correct"}"#),
                Fixtures.run("fenced", reply: "MOCK_REPLY: ```json\n{'score': 2, 'reason': 'vague',}\n```"),
                Fixtures.run("prose", reply: "MOCK_REPLY: I would rate this answer highly."),
                Fixtures.run("schema", reply: "Refunds are possible within 30 days."),
                Fixtures.run("fault", reply: "MOCK_FAULT: 500"),
            ]
            var evals: [String: EvalRecord] = [:]
            for run in runs {
                let records = await evaluator.evaluate(run)
                let first: EvalRecord = try #require(records.first)
                evals[run.sampleId] = first
            }
            // Verbatim JSON, followed in the prompt by the closing tag: repaired (trailing text).
            #expect(evals["verbatim"]?.score == 0.75)
            #expect(evals["verbatim"]?.reason == "clear and correct")
            #expect(evals["verbatim"]?.passed == true)
            #expect(evals["verbatim"]?.usage != nil)
            // A fenced, single-quoted, trailing-comma object: repaired.
            #expect(evals["fenced"]?.score == 0.25)
            #expect(evals["fenced"]?.passed == false)
            // Prose: the retry (whose prompt is the hint, without MOCK_REPLY) gets schema-valid JSON.
            #expect(evals["prose"]?.status == .scored)
            #expect(evals["prose"]?.details?["retried"] == 1)
            // No directive: the mock's schema-valid verdict is read as is.
            let schemaScore = try #require(evals["schema"]?.score)
            #expect((0...1).contains(schemaScore))
            #expect(evals["schema"]?.details?["repaired"] == 0)
            // An HTTP 500 from the judge: unmeasured with the reason, never a crash.
            #expect(evals["fault"]?.status == .unmeasured)
            #expect(evals["fault"]?.reason?.contains("500") == true)
            // Every judge request asked for the verdict schema.
            let chats = server.recordedRequests().filter { $0.path.hasSuffix("/chat/completions") }
            #expect(chats.count == 6)  // 5 samples + 1 retry
            #expect(chats.allSatisfy { $0.body.contains("json_schema") && $0.body.contains("\"score\"") })
        }
    }

    @Test func openAIEmbeddingsDriveSimilarity() async throws {
        try await withMockLLMServer { server in
            let evaluator = try await Evaluator(
                specs: [ComponentSpec(type: "embedding-similarity", options: ["backend": "embed", "threshold": 0.99])],
                backends: Self.backends(server))
            let same = await evaluator.evaluate(Fixtures.run("a", reply: "within 30 days", expected: "within 30 days"))
            #expect(same.first?.status == .scored)
            #expect(same.first.map { abs(($0.score ?? 0) - 1) < 1e-9 } == true)
            #expect(server.recordedRequests().contains { $0.path.hasSuffix("/embeddings") })
        }
    }
}
