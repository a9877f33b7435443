import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

/// The RAG metrics: claims and passages judged one by one through the judge backend, with votes,
/// retry and unmeasured like `llm-judge`.
@Suite struct RAGMetricTests {
    static let passages = [
        "Refunds are paid within 30 days of receiving the returned item.",
        "Our stores open at 9am on weekdays.",
    ]

    /// A judge that answers "yes" for every numbered item whose text contains one of `yes`, "no"
    /// otherwise; it records the requests it saw.
    final class ItemJudge: @unchecked Sendable {
        let yes: [String]
        let lock = NSLock()
        var requests: [ChatRequest] = []

        init(yes: [String]) { self.yes = yes }

        func answer(_ request: ChatRequest) -> ChatResponse {
            lock.withLock { requests.append(request) }
            let user = request.messages.first { $0.role == .user }?.content ?? ""
            // The judged items are the last numbered block of the prompt.
            let block = user.components(separatedBy: "\n\n").last ?? ""
            let items = block.split(separator: "\n").filter { $0.hasPrefix("[") }
            let verdicts: [JSONValue] = items.enumerated().map { index, line in
                let ok = yes.contains { line.contains($0) }
                return ["item": .int(index + 1), "verdict": .string(ok ? "yes" : "no"), "reason": ok ? "stated" : "not stated"]
            }
            return ChatResponse(content: JSONValue.object(["verdicts": .array(verdicts), "reason": "checked"]).canonicalText)
        }

        var backends: BackendSet { Fixtures.backends(judge: { [self] in answer($0) }) }
    }

    static func rag(
        reply: String, retrieved: [String]? = passages, context: [String]? = nil, referenceContexts: [String]? = nil,
        expected: String? = nil
    ) -> RunRecord {
        Fixtures.agentRun(
            "rag", calls: [], reply: reply, input: "How long do refunds take?", expected: expected, context: context,
            referenceContexts: referenceContexts, retrieved: retrieved)
    }

    @Test func faithfulnessCountsSupportedClaims() async throws {
        let judge = ItemJudge(yes: ["30 days"])
        let faithful = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge"], Self.rag(reply: "Refunds are paid within 30 days."), backends: judge.backends)
        #expect(faithful.score == 1)
        #expect(faithful.passed == true)
        let mixed = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge"],
            Self.rag(reply: "Refunds are paid within 30 days. You also get a $10 voucher, e.g. for shoes."), backends: judge.backends)
        #expect(mixed.score == 0.5)
        #expect(mixed.passed == true)   // default threshold 0.5
        #expect(mixed.reason?.hasPrefix("1 of 2 claims supported; unsupported: 'You also get a $10 voucher, e.g. for shoes.'") == true)
        #expect(mixed.details?["claims"]?.arrayValue?.count == 2)
        // The retrieved passages are what the judge saw.
        let prompt = judge.requests.last?.messages.first { $0.role == .user }?.content ?? ""
        #expect(prompt.contains("<passages>\n[1] Refunds are paid within 30 days"))
        #expect(prompt.contains("<question>\nHow long do refunds take?\n</question>"))
        let unfaithful = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge", "threshold": 0.8],
            Self.rag(reply: "Refunds take a year. Nobody gets one."), backends: judge.backends)
        #expect(unfaithful.score == 0)
        #expect(unfaithful.passed == false)
    }

    @Test func faithfulnessFallsBackToTheCaseContext() async throws {
        let judge = ItemJudge(yes: ["30 days"])
        let record = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge"],
            Self.rag(reply: "Refunds are paid within 30 days.", retrieved: nil, context: ["Refunds: 30 days."]), backends: judge.backends)
        #expect(record.score == 1)
        #expect(judge.requests.last?.messages.last?.content.contains("[1] Refunds: 30 days.") == true)
        let nothing = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge"], Self.rag(reply: "Refunds are paid within 30 days.", retrieved: nil),
            backends: judge.backends)
        #expect(nothing.status == .unmeasured)
    }

    @Test func contextPrecisionWeighsByRank() async throws {
        let judge = ItemJudge(yes: ["Refunds"])
        let reference = ["Refunds are paid within 30 days."]
        let first = try await Fixtures.evaluate(
            ["type": "context-precision", "backend": "judge"], Self.rag(reply: "30 days.", referenceContexts: reference),
            backends: judge.backends)
        #expect(first.score == 1)
        let buried = try await Fixtures.evaluate(
            ["type": "context-precision", "backend": "judge"],
            Self.rag(reply: "30 days.", retrieved: Self.passages.reversed(), referenceContexts: reference), backends: judge.backends)
        #expect(buried.score == 0.5)   // the relevant passage at rank 2: precision@2 = 1/2
        #expect(buried.passed == true)
        let irrelevant = try await Fixtures.evaluate(
            ["type": "context-precision", "backend": "judge"],
            Self.rag(reply: "30 days.", retrieved: ["Stores open at 9am."], expected: "Refunds take 30 days."), backends: judge.backends)
        #expect(irrelevant.score == 0)
        #expect(judge.requests.last?.messages.last?.content.contains("<reference>\nRefunds take 30 days.\n</reference>") == true)
        #expect(JudgeItemVerdicts.rankedPrecision([false, false, true, true, false]) == (1.0 / 3 + 2.0 / 4) / 2)
        let noReference = try await Fixtures.evaluate(
            ["type": "context-precision", "backend": "judge"], Self.rag(reply: "30 days."), backends: judge.backends)
        #expect(noReference.status == .unmeasured)
    }

    @Test func contextRecallAgainstReferenceContextsOrExpected() async throws {
        // The judge finds a reference passage in the retrieved ones when it mentions refunds.
        let judge = ItemJudge(yes: ["refund"])
        let references = ["Every refund is paid within 30 days.", "Gift cards cannot be refunded in cash... or exchanged."]
        let half = try await Fixtures.evaluate(
            ["type": "context-recall", "backend": "judge", "threshold": 0.9],
            Self.rag(reply: "30 days.", referenceContexts: [references[0], "Store credit expires after a year."]), backends: judge.backends)
        #expect(half.score == 0.5)
        #expect(half.passed == false)
        #expect(half.reason?.contains("1 of 2 reference passages found; missing: 'Store credit expires after a year.'") == true)
        let fromExpected = try await Fixtures.evaluate(
            ["type": "context-recall", "backend": "judge"],
            Self.rag(reply: "30 days.", expected: "Your refund is paid within 30 days. It goes to your card."), backends: judge.backends)
        #expect(fromExpected.score == 0.5)
        // Retrieval reported nothing for the case: nothing recalled.
        let empty = try await Fixtures.evaluate(
            ["type": "context-recall", "backend": "judge"], Self.rag(reply: "30 days.", retrieved: [], referenceContexts: references),
            backends: judge.backends)
        #expect(empty.score == 0)
        // A bot that never reports contexts cannot be measured.
        let unreported = try await Fixtures.evaluate(
            ["type": "context-recall", "backend": "judge"], Self.rag(reply: "30 days.", retrieved: nil, referenceContexts: references),
            backends: judge.backends)
        #expect(unreported.status == .unmeasured)
        #expect(unreported.reason?.contains("contextPath") == true)
    }

    @Test func answerRelevancyCountsOnTopicStatements() async throws {
        let judge = ItemJudge(yes: ["refund", "Refund"])
        let record = try await Fixtures.evaluate(
            ["type": "answer-relevancy", "backend": "judge"],
            Self.rag(reply: "Refunds take 30 days.\n- Your refund goes to your card.\n- Our CEO likes sailing."), backends: judge.backends)
        #expect(abs((record.score ?? 0) - 2.0 / 3) < 1e-9)
        #expect(record.reason?.contains("irrelevant: 'Our CEO likes sailing.'") == true)
    }

    @Test func votesSpreadAndAnUnreadableReplyLikeLLMJudge() async throws {
        // Votes: each vote scores the claims; the record carries the votes and their spread.
        let counter = Counter()
        let voting = Fixtures.backends(judge: { _ in
            let vote = counter.next()
            let verdict = vote % 2 == 0 ? "yes" : "no"
            return ChatResponse(content: #"{"verdicts": [{"item": 1, "verdict": "\#(verdict)", "reason": ""}], "reason": ""}"#)
        })
        let voted = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge", "votes": 2], Self.rag(reply: "Refunds take 30 days."), backends: voting)
        #expect(voted.votes?.sorted() == [0, 1])
        #expect(voted.spread == 1)
        #expect(voted.straddlesThreshold == true)
        #expect(voted.score == 0.5)

        // Unreadable twice (prose, then the wrong number of verdicts): unmeasured, not failed.
        let replies = Counter()
        let unreadable = Fixtures.backends(judge: { _ in
            ChatResponse(content: replies.next() == 0 ? "All claims look fine to me." : #"{"verdicts": [], "reason": "x"}"#)
        })
        let record = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge"], Self.rag(reply: "Refunds take 30 days. They go to your card."),
            backends: unreadable)
        #expect(record.status == .unmeasured)
        #expect(record.passed == nil)
        #expect(record.reason?.contains("judge output unreadable after retry: expected 2 verdicts") == true)
        #expect(replies.value == 2)   // asked once more with the failure as a hint

        // A repaired reply counts: fenced, single-quoted, booleans for verdicts, out of order.
        let messy = Fixtures.backends(judge: { _ in
            ChatResponse(content: "```json\n{'verdicts': [{'item': 2, 'verdict': False}, {'item': 1, 'verdict': True},], 'reason': 'ok'}\n```")
        })
        let repaired = try await Fixtures.evaluate(
            ["type": "faithfulness", "backend": "judge"], Self.rag(reply: "Refunds take 30 days. They go to your card."), backends: messy)
        #expect(repaired.score == 0.5)
        #expect(repaired.details?["claims"]?.arrayValue?.first?["verdict"] == "yes")
    }

    @Test func theStructuredOutputSchemaAsksForOneVerdictPerItem() async throws {
        let judge = ItemJudge(yes: [])
        _ = try await Fixtures.evaluate(
            ["type": "answer-relevancy", "backend": "judge"], Self.rag(reply: "One. Two. Three."), backends: judge.backends)
        guard case .jsonSchema(let name, let schema) = judge.requests.first?.responseFormat else {
            Issue.record("no JSON schema response format")
            return
        }
        #expect(name == "verdicts")
        #expect(schema["properties"]?["verdicts"]?["minItems"] == 3)
        #expect(schema["properties"]?["verdicts"]?["maxItems"] == 3)
    }

    @Test func claimsSplitIntoSentencesAndListItems() {
        let text = """
            Refunds take 30 days, e.g. for shoes. The fee is $3.50 per item! Is it free? No.
            - Ship it to 1 Main St. in Springfield.
            2) Mr. J. Smith at example.com handles it.
            ***
            """
        #expect(ClaimSplitter.claims(text) == [
            "Refunds take 30 days, e.g. for shoes.", "The fee is $3.50 per item!", "Is it free?", "No.",
            "Ship it to 1 Main St. in Springfield.", "Mr. J. Smith at example.com handles it.",
        ])
        #expect(ClaimSplitter.claims("One. Two. Three. Four.", limit: 2) == ["One.", "Two."])
        #expect(ClaimSplitter.claims(String(repeating: "x", count: 10_000), maxLength: 100).first?.count == 101)
        #expect(ClaimSplitter.claims("  \n ... \n").isEmpty)
    }
}

/// A thread-safe counter for judge closures.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func next() -> Int { lock.withLock { defer { count += 1 }; return count } }
}
