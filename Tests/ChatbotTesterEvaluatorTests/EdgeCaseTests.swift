import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

/// How judge replies become verdicts; the JSON repair itself is tested in ChatbotTesterCoreTests.
@Suite struct JudgeVerdictParserTests {
    @Test(arguments: [
        (#"{"score": 3}"#, 0.5),
        (#"{"rating": 5, "explanation": "x"}"#, 1.0),
        (#"{"score": "2 out of 5"}"#, 0.25),
        (#"{"score": 1.5}"#, 0.125),
    ])
    func verdictFields(text: String, normalised: Double) throws {
        let scale = JudgeScale()
        guard case .success(let verdict) = JudgeVerdictParser.parse(text, scale: scale) else {
            Issue.record("no verdict from \(text)")
            return
        }
        #expect(abs(scale.normalise(verdict.raw) - normalised) < 1e-12)
    }

    @Test(arguments: [#"{"reason": "no score"}"#, #"{"score": 0}"#, #"{"score": "high"}"#, #"{"score": 7}"#])
    func unusableVerdictsExplainWhy(text: String) {
        guard case .failure(let failure) = JudgeVerdictParser.parse(text, scale: JudgeScale()) else {
            Issue.record("expected a failure for \(text)")
            return
        }
        #expect(failure.message.contains("score"))
    }
}

@Suite struct EdgeCaseTests {
    @Test func llmJudgeFallsBackToTheSampleCriteria() async throws {
        let judge = ScriptedJudge([#"{"score": 5, "reason": "ok"}"#])
        let withCriteria = Fixtures.run("a", criteria: "Mentions the 30-day window.")
        let eval = try await Fixtures.evaluate(["type": "llm-judge", "backend": "judge"], withCriteria, backends: judge.backends)
        #expect(eval.score == 1)
        #expect(judge.requests.current.first?.messages[0].content.contains("Mentions the 30-day window.") == true)
        let none = try await Fixtures.evaluate(["type": "llm-judge", "backend": "judge"], Fixtures.run("b"), backends: judge.backends)
        #expect(none.status == .unmeasured)
        #expect(judge.requests.current.count == 1)  // no judge call without a rubric
    }

    @Test func aReportHasEvaluationsWhoseRunIsMissing() async throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Fixtures.writeJSONL([Fixtures.run("a")], to: dir.appendingPathComponent("results.jsonl"))
        try Fixtures.writeJSONL(
            [
                EvalRecord(sampleId: "a", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
                EvalRecord(sampleId: "ghost", metric: "m", type: "contains", score: 0, passed: false, threshold: 1),
            ], to: dir.appendingPathComponent("evals.jsonl"))
        let summary = try await EvalReports.write(
            results: dir.appendingPathComponent("results.jsonl"), evals: dir.appendingPathComponent("evals.jsonl"), to: dir.appendingPathComponent("out"))
        #expect(summary.aggregate.runs.samples == 1)
        #expect(summary.aggregate.metrics["m"]?.failed == 1)
        #expect(!summary.passed)
        let csv = try String(contentsOf: dir.appendingPathComponent("out/results.csv"), encoding: .utf8)
        #expect(csv.contains("ghost,m,contains,scored"))
    }

    @Test func histogramCodableKeepsTheZeroBucket() throws {
        var histogram = ScoreHistogram(.log)
        histogram.add(0)
        histogram.add(250)
        let back = try JSONCoding.decoder().decode(ScoreHistogram.self, from: JSONCoding.encoder().encode(histogram))
        #expect(back == histogram)
        #expect(back.quantile(0.5) == 0)
        #expect(String(decoding: try JSONCoding.encoder().encode(histogram), as: UTF8.self).contains("\"zero\":1"))
    }

    @Test func informationalMetricsHaveNoGateAndNoVerdict() async throws {
        let eval = try await Fixtures.evaluate(["type": "rouge-l"], Fixtures.run("a", reply: "x y", expected: "x z"))
        #expect(eval.passed == nil)
        #expect(eval.threshold == nil)
        let evaluator = try await Fixtures.metric(["type": "rouge-l"])
        #expect(evaluator.emptyAggregate().gateResults.isEmpty)
        let gated = try await Fixtures.metric(["type": "rouge-l", "mean": 0.5])
        #expect(gated.emptyAggregate().gateResults.map(\.condition) == ["mean"])
        #expect(!gated.emptyAggregate().passed)  // nothing scored: a gate never passes on no evidence
    }

    @Test func aThrowingUserMetricIsUnmeasured() async throws {
        struct Exploding: EvaluationMetric {
            var name = "boom"
            var type = "boom"
            func evaluate(_ record: RunRecord) async throws -> [EvalRecord] {
                throw ChatbotTesterError(.internal, "kaboom")
            }
        }
        let evaluator = Evaluator(metrics: [Exploding()])
        let records = await evaluator.evaluate(Fixtures.run("a"))
        #expect(records.count == 1)
        #expect(records.first?.status == .unmeasured)
        #expect(records.first?.reason?.contains("kaboom") == true)
    }
}
