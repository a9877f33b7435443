import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterRunner
import ChatbotTesterTesting
import Foundation
import Testing

/// Agent conversations: the bot calls tools, the runner answers, the bot continues, up to `maxSteps`.
@Suite struct AgentConversationTests {
    static let searchFlights = ToolSpec(
        ToolDefinition(name: "search_flights", description: "Flights between two cities", parameters: ["type": "object"]),
        answer: .match(
            [
                ToolResultRule(match: ["to": "LON"], outcome: .result(["flights": [["id": "BA303", "price": 120]]])),
                ToolResultRule(match: ["to": "NYC"], outcome: .error("no flights")),
            ], default: ["flights": []]))
    static let book = ToolSpec(ToolDefinition(name: "book_flight"), answer: .result("booked: PNR-7Q2"))

    /// A registry `scripted` bot that plays a 3-step booking agent.
    static let agentRules: JSONValue = [
        ["match": "to London", "toolCalls": [["name": "search_flights", "arguments": ["from": "PAR", "to": "LON"]]]],
        ["match": "BA303", "toolCalls": [["name": "book_flight", "arguments": ["flight": "BA303", "seats": 2]]]],
        ["match": "PNR-", "reply": "Booked BA303, reference PNR-7Q2."],
    ]

    static func scripted(_ rules: JSONValue, extra: [String: JSONValue] = [:]) async throws -> any ChatBackend {
        var options: [String: JSONValue] = ["rules": rules, "default": "How can I help?"]
        options.merge(extra) { _, new in new }
        let built = try await BuiltinBackends.registry().make(
            ComponentSpec(type: "scripted", options: options), context: ComponentContext(instanceName: "bot"))
        return try #require(built as? any ChatBackend)
    }

    @Test func aThreeStepAgentRunRecordsEveryCallAndResultInOrder() async throws {
        let bot = try await Self.scripted(Self.agentRules)
        let sample = TestSample(
            id: "book-1", input: "Two seats from Paris to London, please.", tools: [Self.searchFlights, Self.book], toolChoice: .required)
        let record = await Runner(target: bot, targetName: "bot").play(sample)
        #expect(record.status == .ok && record.stopReason == "completed")
        #expect(record.output == "Booked BA303, reference PNR-7Q2.")
        let search = ToolCall(id: "call_1", name: "search_flights", arguments: ["from": "PAR", "to": "LON"])
        let booking = ToolCall(id: "call_2", name: "book_flight", arguments: ["flight": "BA303", "seats": 2])
        #expect(record.transcript == [
            .user("Two seats from Paris to London, please."),
            .assistant("", toolCalls: [search]),
            .tool(callId: "call_1", name: "search_flights", content: #"{"flights":[{"id":"BA303","price":120}]}"#),
            .assistant("", toolCalls: [booking]),
            .tool(callId: "call_2", name: "book_flight", content: "booked: PNR-7Q2"),
            .assistant("Booked BA303, reference PNR-7Q2."),
        ])
        #expect(record.toolCalls == [search, booking])
        #expect(record.toolResults.map(\.content) == [#"{"flights":[{"id":"BA303","price":120}]}"#, "booked: PNR-7Q2"])
        // One turn per call of the target, each with its usage; the totals add them up.
        #expect(record.turns.map(\.index) == [0, 1, 2])
        #expect(record.turns.map(\.toolCalls) == [[search], [booking], nil])
        #expect(record.turns.map(\.finishReason) == ["tool_calls", "tool_calls", "stop"])
        #expect(record.usage == record.turns.reduce(Usage.zero) { $0 + $1.usage } && record.usage.promptTokens > 0)
        #expect(record.attempts == 3)
    }

    @Test func toolsAndAForcedChoiceAreSentOnlyWhereTheyBelong() async throws {
        let bot = MockChatBackend(script: [
            .response(ChatResponse(content: "", finishReason: "tool_calls", toolCalls: [ToolCall(id: "a", name: "book_flight")])),
            .text("done"),
            .text("bye"),
        ])
        let options = RunnerOptions(tools: [Self.searchFlights], toolChoice: .auto, maxSteps: 4)
        let sample = TestSample(id: "s", turns: ["book it", "thanks"], tools: [Self.book], toolChoice: .tool("book_flight"))
        let record = await Runner(target: bot, targetName: "bot", options: options).play(sample)
        #expect(record.status == .ok && record.output == "bye")
        let requests = bot.requests
        #expect(requests.count == 3)
        // Run defaults first, then the case's own tools; every call offers them all.
        #expect(requests.allSatisfy { $0.tools.map(\.name) == ["search_flights", "book_flight"] })
        // The forced choice applies to the first call of each user turn only.
        #expect(requests.map(\.toolChoice) == [.tool("book_flight"), .auto, .tool("book_flight")])
        #expect(requests[1].messages.last == .tool(callId: "a", name: "book_flight", content: "booked: PNR-7Q2"))
    }

    @Test func parallelCallsAreAnsweredInCallOrderAndUnknownToolsGetAnErrorResult() async throws {
        let calls = [
            ToolCall(id: "p1", name: "search_flights", arguments: ["to": "NYC"]),
            ToolCall(id: "p2", name: "search_flights", arguments: ["to": "ROM"]),
            ToolCall(id: "p3", name: "cancel_everything"),
            ToolCall(id: "p4", name: "search_flights", arguments: ["to": "LON", "from": "PAR"]),
        ]
        let bot = MockChatBackend(script: [.response(ChatResponse(content: "Let me check.", toolCalls: calls)), .text("Only London.")])
        let record = await Runner(target: bot, targetName: "bot").play(
            TestSample(id: "p", input: "Flights?", tools: [Self.searchFlights]))
        #expect(record.status == .ok && record.output == "Only London.")
        let results = record.toolResults
        #expect(results.map(\.toolCallId) == ["p1", "p2", "p3", "p4"])
        #expect(results.map(\.isError) == [true, nil, true, nil])
        #expect(Array(results.map(\.content).prefix(2)) == ["no flights", #"{"flights":[]}"#])
        #expect(results[2].content.contains("unknown tool 'cancel_everything'"))
        #expect(record.transcript[1] == .assistant("Let me check.", toolCalls: calls))
    }

    @Test func theLoopIsCutAtMaxStepsWithItsStopReason() async throws {
        let looping = ChatResponse(content: "", toolCalls: [ToolCall(id: "x", name: "book_flight")])
        let bot = MockChatBackend(handler: { _, _ in looping })
        let record = await Runner(target: bot, targetName: "bot", options: RunnerOptions(maxSteps: 5)).play(
            TestSample(id: "loop", turns: ["go", "never sent"], tools: [Self.book], maxSteps: 3))
        #expect(bot.callCount == 3)
        #expect(record.status == .ok && record.stopReason == "max_steps")
        #expect(record.turns.count == 3 && record.toolResults.count == 2)
        // The last reply's call is recorded, unanswered; the second user turn is never sent.
        #expect(record.transcript.last == .assistant("", toolCalls: [looping.toolCalls[0]]))
        #expect(!record.transcript.contains(.user("never sent")))
        // The run's default bound applies when the case sets none.
        let capped = MockChatBackend(handler: { _, _ in looping })
        let second = await Runner(target: capped, targetName: "bot", options: RunnerOptions(maxSteps: 2)).play(
            TestSample(id: "loop2", input: "go", tools: [Self.book]))
        #expect(capped.callCount == 2 && second.stopReason == "max_steps")
    }

    @Test func withoutOfferedToolsReportedCallsAreRecordedAndTheTurnEnds() async throws {
        // An agent that runs its own tools reports them (an http bot's toolCallsPath); nothing is answered.
        let reported = ToolCall(id: "r1", name: "kb_search", arguments: ["q": "refund"])
        let bot = MockChatBackend(script: [
            .response(ChatResponse(content: "30 days.", toolCalls: [reported], retrievedContexts: ["Refunds: 30 days."],
                streaming: StreamTiming(timeToFirstTokenMs: 42, tokensPerSecond: 90, chunks: 7))),
        ])
        let record = await Runner(target: bot, targetName: "bot").play(TestSample(id: "rag", input: "Refund window?"))
        #expect(bot.callCount == 1 && bot.requests[0].tools.isEmpty && bot.requests[0].toolChoice == nil)
        #expect(record.toolCalls == [reported] && record.toolResults.isEmpty)
        #expect(record.turns[0].retrievedContexts == ["Refunds: 30 days."] && record.retrievedContexts == ["Refunds: 30 days."])
        #expect(record.turns[0].timeToFirstTokenMs == 42 && record.turns[0].tokensPerSecond == 90)
    }

    @Test func simulatedConversationsRunTheToolLoopOnEveryTurn() async throws {
        let bot = try await Self.scripted(Self.agentRules)
        let simulator = MockChatBackend(script: [
            .text(#"{"message": "Thanks, that is all.", "done": false}"#), .text(#"{"message": "", "done": true, "reason": "goal_reached"}"#),
        ])
        let sample = TestSample(
            id: "sim", scenario: Scenario(persona: "traveller", goal: "book", openingMessage: "Two seats to London, please."),
            tools: [Self.searchFlights, Self.book])
        let record = await Runner(target: bot, targetName: "bot", simulator: simulator).play(sample)
        #expect(record.status == .ok && record.stopReason == "goal_reached")
        #expect(record.toolCalls.map(\.name) == ["search_flights", "book_flight"])
        #expect(record.turns.count == 4)
        // The simulated user sees what the bot said, not its tool calls or their results.
        let seen = simulator.requests[0].messages.dropFirst().map(\.content)
        #expect(seen == ["Two seats to London, please.", "Booked BA303, reference PNR-7Q2."])
    }

    @Test func anExecutorBackendAnswersOverLoopbackHTTP() async throws {
        try await withMockLLMServer { server in
            let built = try await BuiltinBackends.registry().make(
                ComponentSpec(type: "http", options: ["url": .string(server.baseURL + "/chatbot"), "replyPath": "$.data.reply"]),
                context: ComponentContext(instanceName: "flight-api"))
            let executor = try #require(built as? any ChatBackend)
            let asked = Locked<[String]>([])
            let bot = try await Self.scripted([
                ["match": "to London", "toolCalls": [["name": "search_flights", "arguments": ["to": "LON"]]]],
                ["match": "Echo:", "reply": "Found it."],
            ])
            let tool = ToolSpec(ToolDefinition(name: "search_flights"), answer: .executor("flight-api"))
            let runner = Runner(
                target: bot, targetName: "bot",
                toolExecutors: { name in
                    asked.withLock { $0.append(name) }
                    return executor
                })
            let record = await runner.play(TestSample(id: "exec", input: "Flights to London?", tools: [tool]))
            #expect(record.status == .ok && record.output == "Found it.")
            let call = #"{"arguments":{"to":"LON"},"id":"call_1","name":"search_flights"}"#
            #expect(record.toolResults.count == 1 && record.toolResults[0].content.hasPrefix("Echo: \(call)"))
            #expect(asked.current == ["flight-api"])
            let received = server.recordedRequests().filter { $0.path == "/chatbot" }
            #expect(received.count == 1 && received.first?.json?["message"]?.stringValue == call)
        }
    }

    @Test func aFailingExecutorFailsTheCaseWithItsError() async throws {
        let bot = MockChatBackend(script: [.response(ChatResponse(content: "", toolCalls: [ToolCall(id: "e", name: "lookup")]))])
        let tool = ToolSpec(ToolDefinition(name: "lookup"), answer: .executor("down"))
        let runner = Runner(
            target: bot, targetName: "bot",
            toolExecutors: { _ in MockChatBackend(script: [.badRequest]) })
        let record = await runner.play(TestSample(id: "e", input: "x", tools: [tool]))
        #expect(record.status == .error && record.error?.status == 400)
        #expect(record.toolCalls.count == 1 && record.toolResults.isEmpty)
        let noResolver = await Runner(
            target: MockChatBackend(script: [.response(ChatResponse(content: "", toolCalls: [ToolCall(id: "e", name: "lookup")]))]),
            targetName: "bot"
        ).play(TestSample(id: "e", input: "x", tools: [tool]))
        #expect(noResolver.status == .error && noResolver.error?.code == "invalid_config")
    }

    @Test func runToolDefaultsAreReadFromTheRunSectionStrictly() throws {
        let good = #"{"target":"bot","maxSteps":3,"toolChoice":{"tool":"a"},"tools":[{"name":"a","result":{"ok":true}}]}"#
        let options = try JSONCoding.decoder().decode(RunnerOptions.self, from: Data(good.utf8))
        #expect(options.maxSteps == 3 && options.toolChoice == .tool("a") && options.tools?.map(\.name) == ["a"])
        let cases: [(String, String)] = [
            (#"{"maxSteps":0}"#, "maxSteps"),
            (#"{"tools":[{"name":"a"}]}"#, "tools[0].result"),
            (#"{"tools":[{"name":"a","result":1},{"name":"a","result":2}]}"#, "tools"),
            (#"{"tools":[{"name":"a","results":[{"match":{},"reslt":1}]}]}"#, "tools[0].results[0].reslt"),
        ]
        for (json, field) in cases {
            let result = JSONL.decode(RunnerOptions.self, from: Data(json.utf8), source: "job.json", line: 4)
            guard case .failure(let error) = result else {
                Issue.record("expected a failure for \(json)")
                continue
            }
            #expect(error.location?.field == field && error.location?.line == 4, "\(json)")
        }
    }

    @Test func scriptedToolCallRulesAreCheckedByField() async throws {
        let cases: [(JSONValue, String)] = [
            ([["match": "x", "toolCalls": []]], "backends.bot.rules[0].toolCalls"),
            ([["match": "x", "toolCalls": [["arguments": [:]]]]], "backends.bot.rules[0].toolCalls[0].name"),
            ([["match": "x", "toolCalls": [["name": "a", "arguments": "x=1"]]]], "backends.bot.rules[0].toolCalls[0].arguments"),
            ([["match": "x", "toolCalls": [["name": "a", "id": "1"]]]], "backends.bot.rules[0].toolCalls[0].id"),
        ]
        for (rules, field) in cases {
            do {
                _ = try await BuiltinBackends.registry().make(
                    ComponentSpec(type: "scripted", options: ["rules": rules]),
                    context: ComponentContext(instanceName: "bot"))
                Issue.record("expected an error for \(rules)")
            } catch let error as ChatbotTesterError {
                #expect(error.location?.field == field)
            }
        }
    }
}
