import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

extension Fixtures {
    /// An agent run: the user asks, the bot calls `calls` (one assistant message each), the runner
    /// answers each with `results` (default "ok"), and the bot replies `reply`.
    static func agentRun(
        _ id: String = "agent", calls: [(String, JSONValue)], results: [(String, Bool)]? = nil, reply: String = "Your flight is booked.",
        expectedTools: [ExpectedToolCall]? = nil, tools: [ToolSpec]? = nil, input: String = "Book me a flight to Paris",
        expected: String? = nil, context: [String]? = nil, referenceContexts: [String]? = nil, retrieved: [String]? = nil,
        ttft: [Double?] = [], tokensPerSecond: [Double?] = []
    ) -> RunRecord {
        let sample = TestSample(
            id: id, input: input, expected: expected, context: context, tools: tools, referenceContexts: referenceContexts,
            expectedTools: expectedTools)
        var transcript: [Message] = [.user(input)]
        var turns: [TurnRecord] = []
        for (index, call) in calls.enumerated() {
            let toolCall = ToolCall(id: "call_\(index + 1)", name: call.0, arguments: call.1)
            transcript.append(.assistant("", toolCalls: [toolCall]))
            let result = results.map { $0[index] } ?? ("ok", false)
            transcript.append(.tool(callId: toolCall.id, name: call.0, content: result.0, isError: result.1))
            turns.append(TurnRecord(index: turns.count, latencyMs: 10, toolCalls: [toolCall]))
        }
        transcript.append(.assistant(reply))
        turns.append(TurnRecord(index: turns.count, latencyMs: 10, retrievedContexts: retrieved))
        for index in turns.indices {
            turns[index].timeToFirstTokenMs = index < ttft.count ? ttft[index] : nil
            turns[index].tokensPerSecond = index < tokensPerSecond.count ? tokensPerSecond[index] : nil
        }
        return RunRecord(sample: sample, target: "bot", transcript: transcript, turns: turns, latencyMs: 10.0 * Double(turns.count), attempts: turns.count)
    }
}

/// The tool-use and streaming metrics on known-good and known-bad transcripts.
@Suite struct AgentMetricTests {
    static let search: (String, JSONValue) = ("search_flights", ["from": "BER", "to": "CDG", "date": "2026-12-24"])
    static let book: (String, JSONValue) = ("book_flight", ["flight": "AF1234", "passengers": 2])

    // MARK: tool-called / tool-not-called

    @Test func toolCalledByNameAndArguments() async throws {
        let run = Fixtures.agentRun(calls: [Self.search, Self.book])
        #expect(try await Fixtures.evaluate(["type": "tool-called", "tool": "book_flight"], run).passed == true)
        let withArgs = try await Fixtures.evaluate(["type": "tool-called", "tool": "search_flights", "arguments": ["to": "CDG"]], run)
        #expect(withArgs.passed == true)
        #expect(withArgs.reason == "called 'search_flights' with arguments containing {\"to\":\"CDG\"} once")

        let wrongArgs = try await Fixtures.evaluate(["type": "tool-called", "tool": "search_flights", "arguments": ["to": "LHR"]], run)
        #expect(wrongArgs.passed == false)
        #expect(wrongArgs.reason?.contains("called once with other arguments") == true)
        let never = try await Fixtures.evaluate(["type": "tool-called", "tool": "cancel_booking"], run)
        #expect(never.score == 0)
        #expect(never.reason?.contains("calls: search_flights → book_flight") == true)
        let exact = try await Fixtures.evaluate(
            ["type": "tool-called", "tool": "search_flights", "arguments": ["to": "CDG"], "argumentMatch": "exact"], run)
        #expect(exact.passed == false)
        let twice = try await Fixtures.evaluate(["type": "tool-called", "tool": "book_flight", "minCalls": 2], run)
        #expect(twice.passed == false)
    }

    @Test func toolNotCalled() async throws {
        let run = Fixtures.agentRun(calls: [Self.search, Self.book])
        #expect(try await Fixtures.evaluate(["type": "tool-not-called", "tool": "cancel_booking"], run).passed == true)
        let called = try await Fixtures.evaluate(["type": "tool-not-called", "tool": "book_flight"], run)
        #expect(called.passed == false)
        #expect(called.reason?.contains("book_flight({\"flight\":\"AF1234\",\"passengers\":2})") == true)
        // Only calls with these arguments are forbidden.
        let onlyLarge = try await Fixtures.evaluate(["type": "tool-not-called", "tool": "book_flight", "arguments": ["passengers": 9]], run)
        #expect(onlyLarge.passed == true)
    }

    // MARK: tool-args

    static let declared: [ToolSpec] = [
        ToolSpec(
            ToolDefinition(
                name: "book_flight",
                parameters: [
                    "type": "object", "required": ["flight", "passengers"],
                    "properties": ["flight": ["type": "string"], "passengers": ["type": "integer", "minimum": 1, "maximum": 9]],
                ]), answer: .result("booked")),
        ToolSpec(ToolDefinition(name: "search_flights", parameters: ["type": "object", "required": ["to"]]), answer: .result("[]")),
    ]

    @Test func toolArgsAgainstTheDeclaredParameters() async throws {
        let good = Fixtures.agentRun(calls: [Self.search, Self.book], tools: Self.declared)
        let record = try await Fixtures.evaluate(["type": "tool-args"], good)
        #expect(record.passed == true, "\(record.reason ?? "")")
        #expect(record.reason == "2 of 2 calls have valid arguments")

        let bad = Fixtures.agentRun(
            calls: [Self.search, ("book_flight", ["flight": "AF1234", "passengers": 12]), ("refund", [:]), ("book_flight", .string("{flight: AF"))],
            tools: Self.declared)
        let failed = try await Fixtures.evaluate(["type": "tool-args"], bad)
        #expect(failed.score == 0.25)
        #expect(failed.passed == false)
        let reason = failed.reason ?? ""
        #expect(reason.contains("book_flight: $.passengers: must be ≤ 9"), "\(reason)")
        #expect(reason.contains("refund: not one of the declared tools"), "\(reason)")
        #expect(reason.contains("book_flight: arguments are not JSON"), "\(reason)")
    }

    @Test func toolArgsWithASchemaOrExpectedArguments() async throws {
        let run = Fixtures.agentRun(calls: [Self.search, Self.book])
        let schema: JSONValue = ["type": "object", "properties": ["passengers": ["type": "integer", "maximum": 1]]]
        let viaSchema = try await Fixtures.evaluate(["type": "tool-args", "tool": "book_flight", "schema": schema], run)
        #expect(viaSchema.passed == false)
        #expect(viaSchema.reason?.contains("$.passengers: must be ≤ 1") == true)
        let subset = try await Fixtures.evaluate(["type": "tool-args", "tool": "book_flight", "arguments": ["flight": "AF1234"]], run)
        #expect(subset.passed == true)
        let exact = try await Fixtures.evaluate(
            ["type": "tool-args", "tool": "book_flight", "arguments": ["flight": "AF1234", "passengers": 2.0], "argumentMatch": "exact"], run)
        #expect(exact.passed == true)
        let notCalled = try await Fixtures.evaluate(["type": "tool-args", "tool": "cancel", "schema": schema], run)
        #expect(notCalled.passed == false)
        // Nothing to check against: unmeasured, not failed.
        let nothing = try await Fixtures.evaluate(["type": "tool-args"], run)
        #expect(nothing.status == .unmeasured)
        #expect(try await Fixtures.evaluate(["type": "tool-args", "schema": schema], Fixtures.agentRun(calls: [])).status == .unmeasured)
    }

    // MARK: trajectory

    @Test func trajectoryModes() async throws {
        let expected: JSONValue = ["search_flights", ["name": "book_flight", "arguments": ["passengers": 2]]]
        let inOrder = Fixtures.agentRun(calls: [Self.search, ("get_weather", ["city": "Paris"]), Self.book])
        let reversed = Fixtures.agentRun(calls: [Self.book, Self.search])
        let exact = Fixtures.agentRun(calls: [Self.search, Self.book])

        func score(_ mode: String, _ run: RunRecord) async throws -> EvalRecord {
            try await Fixtures.evaluate(["type": "trajectory", "expected": expected, "mode": .string(mode)], run)
        }
        #expect(try await score("exact", exact).score == 1)
        let notExact = try await score("exact", inOrder)
        #expect(notExact.passed == false)
        #expect(abs((notExact.score ?? 0) - 0.8) < 1e-9)   // precision 2/3, recall 1
        #expect(notExact.details?["precision"]?.doubleValue.map { abs($0 - 2.0 / 3) < 1e-9 } == true)
        #expect(notExact.reason?.contains("unexpected: get_weather") == true)

        #expect(try await score("in-order", inOrder).passed == true)
        let wrongOrder = try await score("in-order", reversed)
        #expect(wrongOrder.passed == false)
        #expect(abs((wrongOrder.score ?? 0) - 0.5) < 1e-9)   // one of two paired in order
        #expect(try await score("any-order", reversed).passed == true)
        #expect(try await score("any-order", inOrder).passed == true)

        let subset = Fixtures.agentRun(calls: [Self.search])
        #expect(try await score("subset", subset).passed == true)
        #expect(try await score("any-order", subset).passed == false)
        #expect(try await score("subset", inOrder).passed == false)

        // Arguments count unless told otherwise.
        let otherArgs = Fixtures.agentRun(calls: [Self.search, ("book_flight", ["flight": "AF1234", "passengers": 3])])
        #expect(try await score("exact", otherArgs).passed == false)
        let ignoring = try await Fixtures.evaluate(
            ["type": "trajectory", "expected": expected, "mode": "exact", "argumentMatch": "ignore"], otherArgs)
        #expect(ignoring.passed == true)
    }

    @Test func trajectoryFromTheCase() async throws {
        let run = Fixtures.agentRun(
            calls: [Self.search, Self.book],
            expectedTools: [ExpectedToolCall(name: "search_flights", arguments: ["to": "CDG"]), ExpectedToolCall(name: "book_flight")])
        let record = try await Fixtures.evaluate(["type": "trajectory"], run)
        #expect(record.passed == true, "\(record.reason ?? "")")
        #expect(record.details?["f1"] == .double(1))
        #expect(try await Fixtures.evaluate(["type": "trajectory"], Fixtures.agentRun(calls: [Self.search])).status == .unmeasured)
        // No tool expected and none called: a perfect match; one called: a failure.
        let none = Fixtures.agentRun(calls: [], expectedTools: [])
        #expect(try await Fixtures.evaluate(["type": "trajectory", "mode": "exact"], none).score == 1)
        let extra = Fixtures.agentRun(calls: [Self.search], expectedTools: [])
        #expect(try await Fixtures.evaluate(["type": "trajectory", "mode": "exact"], extra).passed == false)
    }

    @Test func trajectoryMatcherPairsOptimally() {
        // A greedy any-order pairing would give the first expected call the only call the second
        // one fits; the matching must find both pairs.
        let expected = [ToolCallPattern(name: "f"), ToolCallPattern(name: "f", arguments: ["a": 1])]
        let actual: [(name: String, arguments: JSONValue)] = [("f", ["a": 1]), ("f", ["a": 2])]
        let match = TrajectoryMatch.compare(expected: expected, actual: actual, mode: .anyOrder)
        #expect(match.matched == 2)
        #expect(match.satisfied)
        // Bounded: long sequences are cut at the limit.
        let long = Array(repeating: ToolCallPattern(name: "x"), count: 5000)
        let calls = Array(repeating: (name: "x", arguments: JSONValue.object([:])), count: 5000)
        let cut = TrajectoryMatch.compare(expected: long, actual: calls, mode: .inOrder)
        #expect(cut.matched == TrajectoryMatch.limit)
    }

    // MARK: tool-errors

    @Test func toolErrors() async throws {
        let clean = Fixtures.agentRun(calls: [Self.search, Self.book])
        let ok = try await Fixtures.evaluate(["type": "tool-errors"], clean)
        #expect(ok.passed == true)
        #expect(ok.reason == "2 tool calls, no errors")
        let failing = Fixtures.agentRun(calls: [Self.search, Self.book], results: [("[]", false), ("no seats left", true)])
        let failed = try await Fixtures.evaluate(["type": "tool-errors"], failing)
        #expect(failed.passed == false)
        #expect(failed.reason == "book_flight returned an error: 'no seats left'")
        let unparsed = Fixtures.agentRun(calls: [("book_flight", .string("{\"flight\": AF"))])
        #expect(try await Fixtures.evaluate(["type": "tool-errors"], unparsed).passed == false)
        #expect(try await Fixtures.evaluate(["type": "tool-errors", "parseErrors": false], unparsed).passed == true)
    }

    // MARK: Streaming

    @Test func streamingThresholds() async throws {
        let streamed = Fixtures.agentRun(calls: [Self.search], ttft: [120, 480], tokensPerSecond: [nil, 35])
        let fast = try await Fixtures.evaluate(["type": "ttft", "max": 500], streamed)
        #expect(fast.passed == true)
        #expect(fast.details?["value"] == .double(480))
        #expect(try await Fixtures.evaluate(["type": "ttft", "max": 300], streamed).passed == false)
        #expect(try await Fixtures.evaluate(["type": "ttft", "max": 300, "turn": "first"], streamed).passed == true)
        #expect(try await Fixtures.evaluate(["type": "tokens-per-second", "min": 30], streamed).passed == true)
        #expect(try await Fixtures.evaluate(["type": "tokens-per-second", "min": 40], streamed).passed == false)
        let plain = Fixtures.agentRun(calls: [])
        let unmeasured = try await Fixtures.evaluate(["type": "ttft", "max": 500], plain)
        #expect(unmeasured.status == .unmeasured)
        #expect(unmeasured.reason?.contains("no streamed reply") == true)
        #expect(try await Fixtures.evaluate(["type": "tokens-per-second", "min": 1], plain).status == .unmeasured)
    }

    // MARK: Masking

    @Test func maskingKeepsToolCallsResultsAndContexts() async throws {
        let masker = SecretMasker()
        masker.register("sk-secret-4242", name: "KEY")
        let run = Fixtures.agentRun(
            calls: [("lookup", ["token": "sk-secret-4242", "q": "refunds"])], results: [("echo sk-secret-4242", true)],
            retrieved: ["passage with sk-secret-4242"])
        let masked = run.masked(by: masker)
        let call = try #require(masked.toolCalls.first)
        #expect(call.name == "lookup" && call.id == "call_1")
        #expect(call.arguments["q"] == "refunds")
        #expect(call.arguments["token"]?.stringValue?.contains("sk-secret-4242") == false)
        let result = try #require(masked.toolResults.first)
        #expect(result.toolCallId == "call_1" && result.name == "lookup" && result.isError == true)
        #expect(!result.content.contains("sk-secret-4242"))
        #expect(masked.turns[0].toolCalls?.first?.arguments["token"]?.stringValue?.contains("sk-secret-4242") == false)
        #expect(masked.retrievedContexts.count == 1 && !masked.retrievedContexts[0].contains("sk-secret-4242"))
        // The metrics still see the calls.
        #expect(try await Fixtures.evaluate(["type": "tool-errors"], masked).passed == false)
    }

    // MARK: Config errors

    @Test func configErrorsNameTheField() async throws {
        let cases: [([String: JSONValue], String)] = [
            (["type": "trajectory", "mode": "sideways"], "evaluate.metrics.trajectory.mode"),
            (["type": "trajectory", "expected": ["a", 3]], "evaluate.metrics.trajectory.expected[1]"),
            (["type": "trajectory", "expected": [["name": "a", "args": [:]]]], "evaluate.metrics.trajectory.expected[0].args"),
            (["type": "tool-called", "tool": "a", "argumentMatch": "ignore"], "evaluate.metrics.tool-called.argumentMatch"),
            (["type": "tool-called", "tool": "a", "minCalls": 0], "evaluate.metrics.tool-called.minCalls"),
            (["type": "tool-args", "schema": "nope"], "evaluate.metrics.tool-args.schema"),
            (["type": "ttft", "max": 10, "turn": "last"], "evaluate.metrics.ttft.turn"),
            (["type": "faithfulness", "backend": "judge", "maxItems": 0], "evaluate.metrics.faithfulness.maxItems"),
            (["type": "faithfulness", "backend": "judge", "contexts": "web"], "evaluate.metrics.faithfulness.contexts"),
        ]
        for (options, field) in cases {
            do {
                _ = try await Fixtures.metric(options, backends: Fixtures.backends())
                Issue.record("\(options) was accepted")
            } catch let error as ChatbotTesterError {
                #expect(error.code == .invalidConfig)
                #expect(error.location?.field == field, "\(error)")
            }
        }
    }

    @Test func theNewMetricsAreRegisteredWithDocs() {
        let registry = MetricRegistry.builtinMetrics
        for type in [
            "tool-called", "tool-not-called", "tool-args", "trajectory", "tool-errors", "faithfulness", "context-precision",
            "context-recall", "answer-relevancy", "ttft", "tokens-per-second",
        ] {
            let registered = registry.type(named: type)
            #expect(registered != nil, "\(type)")
            #expect(registered?.summary.isEmpty == false, "\(type)")
        }
        #expect(BuiltinMetrics.defaultThreshold(for: "faithfulness") == 0.5)
        #expect(BuiltinMetrics.defaultThreshold(for: "trajectory") == 1)
    }
}

/// The HTML report shows tool calls, tool results and contexts in the transcript, escaped.
@Suite struct AgentReportTests {
    @Test func htmlTranscriptShowsToolCallsResultsAndContexts() async throws {
        let nasty = "<script>alert('x')</script>&"
        let run = Fixtures.agentRun(
            "agent-<1>", calls: [("search_flights", ["to": .string(nasty)]), ("book_\(nasty)", .string("{broken \(nasty)"))],
            results: [("[{\"flight\": \"AF1\"}]", false), ("no seats \(nasty)", true)], reply: "Booked \(nasty)",
            expectedTools: [ExpectedToolCall(name: "search_flights", arguments: ["to": "CDG"])],
            referenceContexts: ["reference \(nasty)"], retrieved: ["Flights to Paris leave hourly. \(nasty)", "Second passage"],
            ttft: [nil, nil, 123])
        let dir = try Fixtures.temporaryDirectory()
        let results = dir.appendingPathComponent("results.jsonl")
        try Fixtures.writeJSONL([run], to: results)
        let evaluator = try await Evaluator(specs: [ComponentSpec(type: "tool-errors"), ComponentSpec(type: "trajectory")])
        _ = try await evaluator.evaluateFile(results: results, outputDirectory: dir, options: ReportOptions(title: "agents"))
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        #expect(!html.contains("<script>alert"))
        // The calls with their arguments (an unparseable one shown raw and marked).
        #expect(html.contains("→ <code>search_flights</code> <span class=\"note\">call_1</span><pre>{&quot;to&quot;:&quot;\(escaped)&quot;}</pre>"))
        #expect(html.contains("→ <code>book_\(escaped)</code>"))
        #expect(html.contains("<span class=\"fail\">arguments are not JSON</span><pre>{broken \(escaped)</pre>"))
        // The results, the error marked.
        #expect(html.contains("<div class=\"msg tool\"><b>tool result</b> <code>search_flights</code>"))
        #expect(html.contains("<div class=\"msg tool tool-error\"><b>tool result</b> <code>book_\(escaped)</code> <span class=\"note\">call_2</span> <span class=\"fail\">error</span><pre>no seats \(escaped)</pre>"))
        // The contexts retrieved for the final reply, the reference ones, the expected calls, the timing.
        #expect(html.contains("<b>retrieved contexts</b><ol><li><pre>Flights to Paris leave hourly. \(escaped)</pre></li><li><pre>Second passage</pre></li></ol>"))
        #expect(html.contains("<b>reference contexts</b><ol><li><pre>reference \(escaped)</pre></li></ol>"))
        #expect(html.contains("<b>expected tool calls</b><div class=\"call\"><code>search_flights</code><pre>{&quot;to&quot;:&quot;CDG&quot;}</pre></div>"))
        #expect(html.contains("first token 123 ms"))
        // The assistant messages that only call tools show no empty text block.
        #expect(!html.contains("<b>assistant</b><pre></pre>"))
    }
}
