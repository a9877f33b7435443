import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

/// A judge backend that replies from a script, one reply per call, and records the requests.
final class ScriptedJudge: Sendable {
    let replies: Locked<[String]>
    let requests = Locked<[ChatRequest]>([])

    init(_ replies: [String]) { self.replies = Locked(replies) }

    func respond(_ request: ChatRequest) -> ChatResponse {
        requests.withLock { $0.append(request) }
        let content = replies.withLock { $0.isEmpty ? "" : $0.removeFirst() }
        return ChatResponse(content: content, usage: Usage(promptTokens: 100, completionTokens: 10), costUSD: 0.001)
    }

    var backends: BackendSet { Fixtures.backends(judge: { self.respond($0) }) }
}

@Suite struct JudgeTests {
    let record = Fixtures.run("q1", reply: "Refunds are possible within 30 days.", input: "Can I get a refund?", expected: "Yes, within 30 days.")

    @Test func wellFormedVerdictIsNormalised() async throws {
        let judge = ScriptedJudge([#"{"score": 4, "reason": "Mostly right."}"#])
        let eval = try await Fixtures.evaluate(
            ["type": "llm-judge", "backend": "judge", "rubric": "Mentions the refund window.", "threshold": 0.7], record, backends: judge.backends)
        #expect(eval.status == .scored)
        #expect(eval.score == 0.75)
        #expect(eval.passed == true)
        #expect(eval.reason == "Mostly right.")
        #expect(eval.usage == Usage(promptTokens: 100, completionTokens: 10))
        #expect(eval.costUSD == 0.001)
        let request = try #require(judge.requests.current.first)
        #expect(request.messages[0].content.contains("Mentions the refund window."))
        #expect(request.messages[1].content.contains("Refunds are possible within 30 days."))
        #expect(request.messages[1].content.contains("Yes, within 30 days."))  // reference shown
        guard case .jsonSchema(_, let schema) = request.responseFormat else {
            Issue.record("expected a JSON-schema response format")
            return
        }
        #expect(schema["required"] == ["score", "reason"])
    }

    @Test(arguments: [
        ("```json\n{\"score\": 5, \"reason\": \"fine\"}\n```", 1.0),
        ("Here is my verdict: {\"score\": 3, \"reason\": \"partly\"} Hope that helps!", 0.5),
        ("{'score': 2, 'reason': 'weak, isn\\'t it'}", 0.25),
        (#"{"score": "4", "reason": "string score"}"#, 0.75),
        (#"{"score": "4/5", "reason": "fraction"}"#, 0.75),
        (#"{"score": "8/10", "reason": "other scale"}"#, 0.8),
        ("{score: 1, reason: \"bare keys\",}", 0.0),
        (#"{"score": 5, "reason": "unterminated"#, 1.0),
        ("Score: 3. The answer is partially correct.", 0.5),
    ])
    func malformedOutputIsRepaired(output: String, expected: Double) async throws {
        let judge = ScriptedJudge([output])
        let eval = try await Fixtures.evaluate(["type": "llm-judge", "backend": "judge", "rubric": "r"], record, backends: judge.backends)
        #expect(eval.status == .scored, "\(eval.reason ?? "")")
        #expect(abs((eval.score ?? -1) - expected) < 1e-9)
        #expect(judge.requests.current.count == 1)
        #expect(eval.details?["repaired"] == 1)
    }

    @Test func outOfRangeScoreRetriesWithAHint() async throws {
        let judge = ScriptedJudge([#"{"score": 9, "reason": "great"}"#, #"{"score": 5, "reason": "great"}"#])
        let eval = try await Fixtures.evaluate(["type": "llm-judge", "backend": "judge", "rubric": "r"], record, backends: judge.backends)
        #expect(eval.score == 1)
        let requests = judge.requests.current
        #expect(requests.count == 2)
        #expect(requests[1].messages.count == 4)
        #expect(requests[1].messages[3].content.contains("outside the scale 1 to 5"))
        #expect(eval.usage?.promptTokens == 200)  // both calls counted
        #expect(eval.details?["retried"] == 1)
    }

    @Test func outputThatStaysBrokenIsUnmeasured() async throws {
        let judge = ScriptedJudge(["I think it is good.", "Really, it is good!"])
        let eval = try await Fixtures.evaluate(["type": "llm-judge", "backend": "judge", "rubric": "r"], record, backends: judge.backends)
        #expect(eval.status == .unmeasured)
        #expect(eval.score == nil)
        #expect(eval.passed == nil)
        #expect(eval.reason?.contains("Really, it is good!") == true)  // raw excerpt
        #expect(eval.usage?.promptTokens == 200)
        #expect(judge.requests.current.count == 2)
    }

    @Test func failingJudgeBackendIsUnmeasuredNotACrash() async throws {
        let backends = Fixtures.backends(judge: { _ in
            throw ChatbotTesterError(.httpStatus, "server error", status: 500, retry: .transient)
        })
        let eval = try await Fixtures.evaluate(["type": "correctness", "backend": "judge"], record, backends: backends)
        #expect(eval.status == .unmeasured)
        #expect(eval.reason?.contains("server error") == true)
        #expect(eval.reason?.contains("unreadable") == false)
    }

    @Test func unreachableJudgeIsAnOutageNotUnreadableOutput() async throws {
        let backends = Fixtures.backends(judge: { _ in
            throw ChatbotTesterError(
                .connectionRefused, "http://127.0.0.1:9/v1/chat/completions: connection refused",
                location: SourceLocation(source: "http://127.0.0.1:9/v1/chat/completions", field: "backends.judge"), retry: .transient)
        })
        let eval = try await Fixtures.evaluate(["type": "correctness", "backend": "judge"], record, backends: backends)
        #expect(eval.status == .unmeasured)
        #expect(eval.reason == "judge backend 'judge' unreachable: http://127.0.0.1:9/v1/chat/completions: connection refused")
    }

    @Test func anUnreachablePairwiseJudgeIsAnOutageOnThePair() async throws {
        let backend = ClosureChatBackend { _ in
            throw ChatbotTesterError(.connectionRefused, "http://127.0.0.1:9/v1/chat/completions: connection refused", retry: .transient)
        }
        let verdict = try await PairwiseJudge(backend: backend, backendName: "judge").compare(Fixtures.run("q", reply: "a"), Fixtures.run("q", reply: "b"))
        #expect(verdict.winner == nil && verdict.scoreB == nil)
        #expect(verdict.error == "judge backend 'judge' unreachable: http://127.0.0.1:9/v1/chat/completions: connection refused")
        #expect(verdict.evalRecord().status == .unmeasured)
    }

    @Test func votesCarrySpreadAndStraddle() async throws {
        let judge = ScriptedJudge([
            #"{"score": 5, "reason": "a"}"#, #"{"score": 3, "reason": "b"}"#, #"{"score": 4, "reason": "c"}"#,
        ])
        let eval = try await Fixtures.evaluate(
            ["type": "llm-judge", "backend": "judge", "rubric": "r", "votes": 3, "threshold": 0.7], record, backends: judge.backends)
        #expect(eval.votes?.sorted() == [0.5, 0.75, 1.0])
        #expect(eval.score == 0.75)
        #expect(eval.spread == 0.5)
        #expect(eval.straddlesThreshold == true)
        #expect(eval.reason == "c")  // the vote closest to the mean speaks
        #expect(eval.costUSD.map { abs($0 - 0.003) < 1e-12 } == true)
        #expect(Set(judge.requests.current.map { $0.seed }) == [0, 1, 2])  // distinct seeds defeat the cache
        let agreeing = ScriptedJudge(Array(repeating: #"{"score": 5, "reason": "a"}"#, count: 3))
        let unanimous = try await Fixtures.evaluate(
            ["type": "llm-judge", "backend": "judge", "rubric": "r", "votes": 3, "threshold": 0.7], record, backends: agreeing.backends)
        #expect(unanimous.straddlesThreshold == false)
        #expect(unanimous.spread == 0)
    }

    @Test func customScale() async throws {
        let judge = ScriptedJudge([#"{"score": 7, "reason": "ok"}"#])
        let eval = try await Fixtures.evaluate(
            ["type": "llm-judge", "backend": "judge", "rubric": "r", "scale": [0, 10]], record, backends: judge.backends)
        #expect(eval.score == 0.7)
    }

    @Test func conversationJudgesSeeTheWholeTranscript() async throws {
        let scenario = Scenario(persona: "impatient customer", goal: "get a refund for order 42")
        var run = Fixtures.run("s1", reply: "Done, refund issued.", input: "I want a refund", system: "You are Max, a cheerful agent.", scenario: scenario)
        run.transcript.insert(contentsOf: [.assistant("Which order?"), .user("Order 42")], at: run.transcript.count - 1)
        for (type, needle) in [("goal-completion", "get a refund for order 42"), ("persona-consistency", "You are Max"), ("tone", "warm")] {
            let judge = ScriptedJudge([#"{"score": 5, "reason": "ok"}"#])
            var spec: [String: JSONValue] = ["type": .string(type), "backend": "judge"]
            if type == "tone" { spec["tone"] = "warm" }
            let eval = try await Fixtures.evaluate(spec, run, backends: judge.backends)
            #expect(eval.score == 1, "\(type): \(eval.reason ?? "")")
            let request = try #require(judge.requests.current.first)
            #expect(request.messages[0].content.contains(needle), "\(type)")
            for text in ["I want a refund", "Which order?", "Order 42", "Done, refund issued."] {
                #expect(request.messages[1].content.contains(text), "\(type) misses \(text)")
            }
        }
    }

    @Test func referenceJudgesNeedAReference() async throws {
        let judge = ScriptedJudge([])
        let eval = try await Fixtures.evaluate(["type": "correctness", "backend": "judge"], Fixtures.run("x"), backends: judge.backends)
        #expect(eval.status == .unmeasured)
        #expect(judge.requests.current.isEmpty)
        let factual = ScriptedJudge([#"{"score": 1, "reason": "contradicts"}"#])
        let withContext = Fixtures.run("y", reply: "It opened in 1999.", context: ["The shop opened in 2004."])
        let eval2 = try await Fixtures.evaluate(["type": "factuality", "backend": "judge"], withContext, backends: factual.backends)
        #expect(eval2.score == 0)
        #expect(factual.requests.current.first?.messages[1].content.contains("The shop opened in 2004.") == true)
    }

    @Test func unknownJudgeBackendIsAConfigError() async throws {
        await #expect {
            _ = try await Fixtures.metric(["type": "llm-judge", "backend": "nope", "rubric": "r"], backends: Fixtures.backends())
        } throws: { error in
            (error as? ChatbotTesterError)?.code == .invalidConfig
        }
    }

    @Test func pairwiseAsksInBothOrders() async throws {
        let judge = ScriptedJudge([])
        // The judge always prefers the reply mentioning "30 days", wherever it is shown.
        let backend = ClosureChatBackend { request in
            let text = request.messages[1].content
            let first = text.range(of: "<reply_1>")!.upperBound
            let second = text.range(of: "<reply_2>")!.lowerBound
            let winner = text[first..<second].contains("30 days") ? "1" : "2"
            return judge.respond(ChatRequest(messages: request.messages)).with(content: #"{"winner": "\#(winner)", "reason": "mentions the window"}"#)
        }
        let pairwise = PairwiseJudge(backend: backend)
        let baseline = Fixtures.run("q1", reply: "Refunds are possible.")
        let candidate = Fixtures.run("q1", reply: "Refunds within 30 days.")
        let verdict = try await pairwise.compare(baseline, candidate)
        #expect(verdict.winner == .b)
        #expect(verdict.scoreB == 1)
        #expect(verdict.positionConsistent)
        #expect(verdict.orderWinners == [.b, .b])
        let requests = judge.requests.current
        #expect(requests.count == 2)
        // Order 1 shows the baseline first, order 2 the candidate first.
        #expect(requests.contains { $0.messages[1].content.contains("<reply_1>\nRefunds are possible.") })
        #expect(requests.contains { $0.messages[1].content.contains("<reply_1>\nRefunds within 30 days.") })
        #expect(verdict.evalRecord().passed == true)
    }

    @Test func pairwisePositionBiasBecomesATie() async throws {
        // A judge that always picks whatever is shown first.
        let backend = ClosureChatBackend { _ in ChatResponse(content: #"```json\n{"winner": "1", "reason": "first"}\n```"#) }
        let verdict = try await PairwiseJudge(backend: backend).compare(Fixtures.run("q", reply: "a"), Fixtures.run("q", reply: "b"))
        #expect(verdict.winner == .tie)
        #expect(verdict.scoreB == 0.5)
        #expect(!verdict.positionConsistent)
    }

    @Test func embeddingSimilarityUsesTheNamedBackend() async throws {
        let backends = Fixtures.backends(embed: { inputs in
            inputs.map { $0.contains("30") ? [1, 1] : [1, 0] }
        })
        let close = try await Fixtures.evaluate(
            ["type": "embedding-similarity", "backend": "embed", "threshold": 0.9],
            Fixtures.run("a", reply: "within 30 days", expected: "30 days"), backends: backends)
        #expect(abs((close.score ?? 0) - 1) < 1e-12)
        #expect(close.passed == true)
        let far = try await Fixtures.evaluate(
            ["type": "embedding-similarity", "backend": "embed", "threshold": 0.9],
            Fixtures.run("a", reply: "no idea", expected: "30 days"), backends: backends)
        #expect(abs((far.score ?? 0) - 1 / 2.0.squareRoot()) < 1e-12)
        #expect(far.passed == false)
        #expect(far.usage?.promptTokens == 2)
    }
}

extension ChatResponse {
    func with(content: String) -> ChatResponse {
        var copy = self
        copy.content = content
        return copy
    }
}

@Suite struct PairwiseRunTests {
    @Test func wholeRunsAreComparedPerSample() async throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let baseline = (0..<6).map { Fixtures.run("s\($0)", reply: $0 < 4 ? "Refunds are possible." : "Within 30 days.") }
        var candidate = (0..<6).map { Fixtures.run("s\($0)", reply: "Refunds within 30 days.") }
        candidate.append(Fixtures.run("only-candidate", reply: "x"))
        try Fixtures.writeJSONL(baseline, to: dir.appendingPathComponent("base.jsonl"))
        try Fixtures.writeJSONL(candidate, to: dir.appendingPathComponent("cand.jsonl"))
        // Prefers the reply mentioning "30 days"; a tie when both do.
        let backend = ClosureChatBackend { request in
            let text = request.messages[1].content
            let one = text.components(separatedBy: "<reply_2>")[0].contains("30 days")
            let two = text.components(separatedBy: "<reply_2>")[1].contains("30 days")
            let winner = one == two ? "tie" : (one ? "1" : "2")
            return ChatResponse(content: #"{"winner": "\#(winner)", "reason": "r"}"#, usage: Usage(promptTokens: 10), costUSD: 0.01)
        }
        let summary = try await PairwiseJudge(backend: backend).compareRuns(
            baseline: dir.appendingPathComponent("base.jsonl"), candidate: dir.appendingPathComponent("cand.jsonl"), concurrency: 3)
        #expect(summary.verdicts.map(\.sampleId) == (0..<6).map { "s\($0)" })
        #expect(summary.candidateWins == 4)
        #expect(summary.ties == 2)
        #expect(summary.baselineWins == 0)
        #expect(summary.positionInconsistent == 0)
        let preference = try #require(summary.candidatePreference)
        #expect(abs(preference - 5.0 / 6.0) < 1e-12)  // 4 wins and 2 ties of 6
        #expect(summary.usage.promptTokens == 120)  // 6 samples × 2 orders
        #expect(abs(summary.costUSD - 0.12) < 1e-9)
    }
}
