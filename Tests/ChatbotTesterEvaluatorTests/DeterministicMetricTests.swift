import ChatbotTesterCore
import ChatbotTesterEvaluator
import Testing

@Suite struct DeterministicMetricTests {
    struct Case: Sendable, CustomStringConvertible {
        var spec: [String: JSONValue]
        var record: RunRecord
        var passes: Bool
        var description: String { "\(spec["type"]!.stringValue!) on '\(record.reply ?? "nil")' → \(passes)" }
    }

    static let cases: [Case] = [
        Case(spec: ["type": "equals"], record: Fixtures.run("a", reply: " Paris \n", expected: "Paris"), passes: true),
        Case(spec: ["type": "equals"], record: Fixtures.run("a", reply: "paris", expected: "Paris"), passes: false),
        Case(spec: ["type": "equals", "ignoreCase": true], record: Fixtures.run("a", reply: "paris", expected: "Paris"), passes: true),
        Case(spec: ["type": "equals", "trim": false], record: Fixtures.run("a", reply: "Paris ", expected: "Paris"), passes: false),
        Case(spec: ["type": "contains", "value": "30 days"], record: Fixtures.run("a", reply: "Refunds within 30 days."), passes: true),
        Case(spec: ["type": "contains", "value": "30 days"], record: Fixtures.run("a", reply: "Refunds within 30 Days."), passes: false),
        Case(spec: ["type": "contains", "values": ["refund", "30"]], record: Fixtures.run("a", reply: "refund in 30 days"), passes: true),
        Case(spec: ["type": "contains", "values": ["refund", "60"]], record: Fixtures.run("a", reply: "refund in 30 days"), passes: false),
        Case(spec: ["type": "contains", "values": ["refund", "60"], "mode": "any"], record: Fixtures.run("a", reply: "refund in 30 days"), passes: true),
        Case(spec: ["type": "contains", "values": ["x", "y"], "mode": "any"], record: Fixtures.run("a", reply: "refund"), passes: false),
        Case(spec: ["type": "icontains", "value": "PARIS"], record: Fixtures.run("a", reply: "It is paris."), passes: true),
        Case(spec: ["type": "icontains", "value": "London"], record: Fixtures.run("a", reply: "It is paris."), passes: false),
        Case(spec: ["type": "not-contains", "values": ["guarantee", "promise"]], record: Fixtures.run("a", reply: "We try our best."), passes: true),
        Case(spec: ["type": "not-contains", "values": ["guarantee", "promise"]], record: Fixtures.run("a", reply: "We promise."), passes: false),
        Case(spec: ["type": "regex", "pattern": #"\b\d{3}-\d{4}\b"#], record: Fixtures.run("a", reply: "Call 555-1234"), passes: true),
        Case(spec: ["type": "regex", "pattern": #"\b\d{3}-\d{4}\b"#], record: Fixtures.run("a", reply: "Call us"), passes: false),
        Case(spec: ["type": "regex", "pattern": "sorry", "negate": true], record: Fixtures.run("a", reply: "Sure!"), passes: true),
        Case(spec: ["type": "starts-with", "value": "Yes"], record: Fixtures.run("a", reply: "  Yes, we do."), passes: true),
        Case(spec: ["type": "starts-with", "value": "Yes"], record: Fixtures.run("a", reply: "No, yes."), passes: false),
        Case(spec: ["type": "json-valid"], record: Fixtures.run("a", reply: #"{"a": [1, 2]}"#), passes: true),
        Case(spec: ["type": "json-valid"], record: Fixtures.run("a", reply: #"{"a": [1, 2}"#), passes: false),
        Case(spec: ["type": "json-valid"], record: Fixtures.run("a", reply: "```json\n{\"a\": 1}\n```"), passes: false),
        Case(spec: ["type": "json-valid", "extract": true], record: Fixtures.run("a", reply: "```json\n{\"a\": 1}\n```"), passes: true),
        Case(
            spec: ["type": "json-schema", "schema": ["type": "object", "required": ["name"], "properties": ["name": ["type": "string"]]]],
            record: Fixtures.run("a", reply: #"{"name": "Ada"}"#), passes: true),
        Case(
            spec: ["type": "json-schema", "schema": ["type": "object", "required": ["name"], "properties": ["name": ["type": "string"]]]],
            record: Fixtures.run("a", reply: #"{"name": 7}"#), passes: false),
        Case(spec: ["type": "length", "max": 10], record: Fixtures.run("a", reply: "short"), passes: true),
        Case(spec: ["type": "length", "max": 3], record: Fixtures.run("a", reply: "short"), passes: false),
        Case(spec: ["type": "length", "unit": "words", "min": 3], record: Fixtures.run("a", reply: "one two three"), passes: true),
        Case(spec: ["type": "length", "unit": "words", "min": 4], record: Fixtures.run("a", reply: "one two three"), passes: false),
        Case(spec: ["type": "latency", "max": 500], record: Fixtures.run("a", latencyMs: 499), passes: true),
        Case(spec: ["type": "latency", "max": 500], record: Fixtures.run("a", latencyMs: 501), passes: false),
        Case(spec: ["type": "cost", "max": 0.01], record: Fixtures.run("a", costUSD: 0.002), passes: true),
        Case(spec: ["type": "cost", "max": 0.01], record: Fixtures.run("a", costUSD: 0.02), passes: false),
        Case(spec: ["type": "refusal"], record: Fixtures.run("a", reply: "Sure, here is the recipe."), passes: true),
        Case(spec: ["type": "refusal"], record: Fixtures.run("a", reply: "I’m sorry, but I can’t help with that."), passes: false),
        Case(spec: ["type": "refusal", "expect": "refusal"], record: Fixtures.run("a", reply: "I cannot help with that request."), passes: true),
        Case(spec: ["type": "refusal", "expect": "refusal"], record: Fixtures.run("a", reply: "Here is how to pick a lock."), passes: false),
        Case(spec: ["type": "rouge-l", "threshold": 0.8], record: Fixtures.run("a", reply: "the cat sat on the mat", expected: "the cat sat on a mat"), passes: true),
        Case(spec: ["type": "rouge-l", "threshold": 0.8], record: Fixtures.run("a", reply: "dogs bark loudly", expected: "the cat sat on a mat"), passes: false),
        Case(spec: ["type": "bleu", "threshold": 0.5], record: Fixtures.run("a", reply: "the cat sat on the mat", expected: "the cat sat on a mat"), passes: true),
        Case(spec: ["type": "bleu", "threshold": 0.5], record: Fixtures.run("a", reply: "a dog", expected: "the cat sat on a mat"), passes: false),
    ]

    @Test(arguments: cases)
    func passesAndFails(_ c: Case) async throws {
        let eval = try await Fixtures.evaluate(c.spec, c.record)
        #expect(eval.status == .scored, "\(eval.reason ?? "")")
        #expect(eval.passed == c.passes, "\(c) — reason: \(eval.reason ?? "")")
        #expect(eval.reason?.isEmpty == false)
        #expect(eval.sampleId == "a")
    }

    @Test(arguments: [
        ["type": "equals"] as [String: JSONValue], ["type": "rouge-l"], ["type": "bleu"], ["type": "starts-with"], ["type": "contains"],
    ])
    func noReferenceIsUnmeasured(_ spec: [String: JSONValue]) async throws {
        let eval = try await Fixtures.evaluate(spec, Fixtures.run("a", reply: "x"))
        #expect(eval.status == .unmeasured)
        #expect(eval.score == nil)
        #expect(eval.passed == nil)
        #expect(eval.reason?.contains("expected") == true)
    }

    @Test func erroredRunIsUnmeasuredWithReason() async throws {
        let eval = try await Fixtures.evaluate(["type": "contains", "value": "x"], Fixtures.run("a", reply: nil, status: .error))
        #expect(eval.status == .unmeasured)
        #expect(eval.reason?.contains("run failed") == true)
        #expect(eval.reason?.contains("timeout") == true)
    }

    @Test func costWithoutPriceIsUnmeasured() async throws {
        let eval = try await Fixtures.evaluate(["type": "cost", "max": 1], Fixtures.run("a"))
        #expect(eval.status == .unmeasured)
    }

    @Test func containsAllScoresTheFractionFound() async throws {
        let eval = try await Fixtures.evaluate(["type": "contains", "values": ["a1", "b2", "c3", "d4"]], Fixtures.run("x", reply: "a1 b2 c3"))
        #expect(eval.score == 0.75)
        #expect(eval.passed == false)
        #expect(eval.details?["missing"] == ["d4"])
    }

    @Test func tagsFilterSkipsOtherSamples() async throws {
        let evaluator = try await Fixtures.metric(["type": "contains", "value": "x", "tags": ["billing"]])
        #expect(await evaluator.evaluate(Fixtures.run("a", reply: "x", tags: ["support"])).isEmpty)
        #expect(await evaluator.evaluate(Fixtures.run("b", reply: "x", tags: ["billing"])).count == 1)
    }

    @Test func badConfigNamesTheField() async throws {
        await #expect {
            _ = try await Fixtures.metric(["type": "regex", "pattern": "(unclosed"])
        } throws: { error in
            (error as? ChatbotTesterError)?.location?.field == "evaluate.metrics.regex.pattern"
        }
        await #expect {
            _ = try await Fixtures.metric(["type": "contains", "value": "x", "colour": "red"])
        } throws: { error in
            (error as? ChatbotTesterError)?.location?.field == "evaluate.metrics.contains.colour"
        }
        await #expect {
            _ = try await Fixtures.metric(["type": "contains", "value": "x", "threshold": 3])
        } throws: { error in
            (error as? ChatbotTesterError)?.location?.field == "evaluate.metrics.contains.threshold"
        }
        await #expect(throws: ChatbotTesterError.self) {
            _ = try await Fixtures.metric(["type": "no-such-metric"])
        }
    }

    @Test func repeatedTypesGetDistinctNames() async throws {
        let specs = [ComponentSpec(type: "contains", options: ["value": "a"]), ComponentSpec(type: "contains", options: ["value": "b"]),
                     ComponentSpec(type: "equals", options: ["name": "exact"])]
        #expect(Evaluator.instanceNames(specs) == ["contains", "contains-2", "exact"])
        let evaluator = try await Evaluator(specs: specs)
        let evals = await evaluator.evaluate(Fixtures.run("s", reply: "a", expected: "a"))
        #expect(evals.map(\.metric) == ["contains", "contains-2", "exact"])
        #expect(evals.map { $0.passed } == [true, false, true])
    }

    @Test func userMetricInOneCall() async throws {
        var registry = MetricRegistry.builtinMetrics
        registry.registerScoring("polite", summary: "says please") { _, _ in
            { record in MetricScore.bool(record.reply?.lowercased().contains("please") == true, reason: "looked for 'please'") }
        }
        let evaluator = try await Evaluator(specs: [ComponentSpec(type: "polite")], registry: registry)
        #expect(await evaluator.evaluate(Fixtures.run("a", reply: "Please wait")).first?.passed == true)
        #expect(await evaluator.evaluate(Fixtures.run("a", reply: "Wait")).first?.passed == false)
    }

    @Test func validateReportsEveryProblem() {
        let problems = Evaluator.validate(specs: [
            ComponentSpec(type: "nope"), ComponentSpec(type: "contains", options: ["bogus": 1]),
            ComponentSpec(type: "regex"),
        ])
        #expect(problems.count == 3)
    }
}
