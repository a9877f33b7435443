import ChatbotTesterCore
import Foundation
import Testing

/// Schema version 2: tool calls, tool results, retrieved contexts and streaming timings; and the
/// version-1 files written before them still load.
@Suite struct ToolSchemaTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/schema1")

    static func lines(_ name: String) throws -> [(Int, Data)] {
        let text = try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
        return text.split(separator: "\n").enumerated().map { ($0.offset + 1, Data($0.element.utf8)) }
    }

    static func decodeAll<T: Decodable & Sendable>(_ type: T.Type, _ name: String) throws -> [(Data, T)] {
        try lines(name).map { line, bytes in
            switch JSONL.decode(T.self, from: bytes, source: name, line: line) {
            case .success(let value): return (bytes, value)
            case .failure(let error): throw error
            }
        }
    }

    // MARK: Schema 1 fixtures

    @Test func schema1SamplesLoad() throws {
        let samples = try Self.decodeAll(TestSample.self, "samples.jsonl")
        #expect(samples.count == 14)
        for (_, sample) in samples {
            #expect(sample.tools == nil && sample.toolChoice == nil && sample.maxSteps == nil)
            #expect(sample.referenceContexts == nil && sample.expectedTools == nil)
            // Re-encoded, a version-1 case has none of the new members.
            let text = String(decoding: try JSONCoding.encoder().encode(sample), as: UTF8.self)
            for key in ["tools", "toolChoice", "maxSteps", "referenceContexts", "expectedTools"] {
                #expect(!text.contains("\"\(key)\""))
            }
            #expect(try JSONCoding.decoder().decode(TestSample.self, from: Data(text.utf8)) == sample)
        }
        #expect(samples.contains { $0.1.kind == .simulated } && samples.contains { $0.1.kind == .scripted })
    }

    @Test func schema1RunRecordsLoadAndReencodeByteForByte() throws {
        let records = try Self.decodeAll(RunRecord.self, "results.jsonl")
        #expect(records.count == 15)
        #expect(records.contains { $0.1.status == .error } && records.contains { $0.1.simulatorUsage != nil })
        #expect(records.contains { $0.1.costUSD != nil })
        for (bytes, record) in records {
            #expect(record.schemaVersion == 1)
            #expect(record.toolCalls.isEmpty && record.toolResults.isEmpty && record.retrievedContexts.isEmpty)
            // What was read is written back unchanged: a plain conversation's layout did not move.
            #expect(try JSONCoding.encoder().encode(record) == bytes)
        }
    }

    @Test func schema1EvalRecordsLoadAndReencodeByteForByte() throws {
        let records = try Self.decodeAll(EvalRecord.self, "evals.jsonl")
        #expect(records.count == 46)
        for (bytes, record) in records {
            #expect(try JSONCoding.encoder().encode(record) == bytes)
        }
    }

    @Test func aPlainConversationEncodesAsBefore() throws {
        let record = RunRecord(
            sample: TestSample(id: "a", input: "Hi"), target: "bot", transcript: [.user("Hi"), .assistant("Hello")],
            turns: [TurnRecord(index: 0, latencyMs: 1)])
        let text = String(decoding: try JSONCoding.encoder().encode(record), as: UTF8.self)
        #expect(text.contains(#""transcript":[{"content":"Hi","role":"user"},{"content":"Hello","role":"assistant"}]"#))
        #expect(text.contains(#""turns":[{"attempts":1,"index":0,"latencyMs":1,"usage":"#))
        #expect(text.contains(#""schemaVersion":2"#))
        let request = String(decoding: try JSONCoding.encoder().encode(ChatRequest(messages: [.user("x")])), as: UTF8.self)
        #expect(request == #"{"messages":[{"content":"x","role":"user"}],"responseFormat":{"text":{}},"tags":{}}"#)
        let reply = String(decoding: try JSONCoding.encoder().encode(ChatResponse(content: "y")), as: UTF8.self)
        #expect(reply == #"{"attempts":1,"cached":false,"content":"y"}"#)
    }

    // MARK: Round trips

    static let weather = ToolSpec(
        ToolDefinition(name: "get_weather", description: "Weather by city", parameters: ["type": "object", "properties": ["city": ["type": "string"]]]),
        answer: .match(
            [
                ToolResultRule(match: ["city": "Paris"], outcome: .result(["temp": 18])),
                ToolResultRule(match: ["city": "Atlantis"], outcome: .error("no such city")),
            ], default: "sunny"))

    @Test func everyNewFieldRoundTrips() throws {
        let call = ToolCall(id: "c1", name: "get_weather", arguments: ["city": "Paris", "days": 2.5])
        let sample = TestSample(
            id: "agent-1", input: "Weather in Paris?", context: ["Paris is in France."],
            tools: [
                Self.weather, ToolSpec(ToolDefinition(name: "book"), answer: .result("booked")),
                ToolSpec(ToolDefinition(name: "search"), answer: .executor("search-api")),
                ToolSpec(ToolDefinition(name: "broken"), answer: .error("down")),
            ],
            toolChoice: .tool("get_weather"), maxSteps: 3, referenceContexts: ["Paris: 18°C"],
            expectedTools: [ExpectedToolCall(name: "get_weather", arguments: ["city": "Paris"]), ExpectedToolCall(name: "book")])
        let transcript: [Message] = [
            .user("Weather in Paris?"), .assistant("", toolCalls: [call, ToolCall(id: "c2", name: "broken", arguments: .string("{oops"))]),
            .tool(callId: "c1", name: "get_weather", content: #"{"temp":18}"#),
            .tool(callId: "c2", name: "broken", content: "down", isError: true), .assistant("18 degrees."),
        ]
        let turns = [
            TurnRecord(
                index: 0, latencyMs: 5, finishReason: "tool_calls", toolCalls: [call], retrievedContexts: ["Paris: 18°C"],
                timeToFirstTokenMs: 1.5, tokensPerSecond: 120),
            TurnRecord(index: 1, latencyMs: 3, retrievedContexts: ["Paris: 18°C", "France"]),
        ]
        let record = RunRecord(sample: sample, target: "bot", transcript: transcript, turns: turns, stopReason: "max_steps")
        let data = try JSONCoding.encoder().encode(record)
        let back = try JSONCoding.decoder().decode(RunRecord.self, from: data)
        #expect(back == record)
        #expect(back.toolCalls.map(\.id) == ["c1", "c2"])
        #expect(back.toolResults.map(\.isError) == [nil, true])
        #expect(back.retrievedContexts == ["Paris: 18°C", "France"])
        #expect(back.output == "18 degrees.")

        for choice in [ToolChoice.auto, .none, .required, .tool("x")] {
            #expect(try JSONCoding.decoder().decode(ToolChoice.self, from: JSONCoding.encoder().encode(choice)) == choice)
        }
        let request = ChatRequest(
            messages: transcript, tools: [Self.weather.definition], toolChoice: .required, parallelToolCalls: false)
        #expect(try JSONCoding.decoder().decode(ChatRequest.self, from: JSONCoding.encoder().encode(request)) == request)
        let response = ChatResponse(
            content: "", finishReason: "tool_calls", toolCalls: [call], retrievedContexts: ["doc"],
            streaming: StreamTiming(timeToFirstTokenMs: 12.5, tokensPerSecond: 80, chunks: 9))
        #expect(try JSONCoding.decoder().decode(ChatResponse.self, from: JSONCoding.encoder().encode(response)) == response)
    }

    @Test func toolSpecsReadFromJSON() throws {
        let line = #"""
            {"id":"t","input":"hi","toolChoice":"required","maxSteps":4,"tools":[
             {"name":"get_weather","parameters":{"type":"object"},"results":[{"match":{"city":"Paris"},"result":{"temp":18}}],"default":"sunny"},
             {"name":"search","executor":"search-api"},{"name":"fail","error":"down"},{"name":"fixed","result":null},
             {"name":"strict","results":[{"match":{"a":1},"error":"bad a"}]},{"name":"nullable","results":[],"default":null}]}
            """#.replacingOccurrences(of: "\n", with: "")
        let sample = try JSONL.decode(TestSample.self, from: Data(line.utf8), source: "cases.jsonl", line: 1).get()
        let tools = try #require(sample.tools)
        #expect(tools.map(\.name) == ["get_weather", "search", "fail", "fixed", "strict", "nullable"])
        #expect(tools[4].answer == .match([ToolResultRule(match: ["a": 1], outcome: .error("bad a"))], default: nil))
        #expect(tools[4].fixedOutcome(for: ["a": 1]) == .error("bad a"))
        #expect(tools[4].fixedOutcome(for: ["a": 2])?.isError == true)
        #expect(tools[5].fixedOutcome(for: [:]) == .result(.null))
        #expect(tools[0].fixedOutcome(for: ["city": "Paris", "unit": "C"]) == .result(["temp": 18]))
        #expect(tools[0].fixedOutcome(for: ["city": "Rome"]) == .result("sunny"))
        #expect(tools[1].answer == .executor("search-api") && tools[1].fixedOutcome(for: [:]) == nil)
        #expect(tools[2].fixedOutcome(for: [:]) == .error("down"))
        #expect(tools[3].answer == .result(.null))
        #expect(sample.toolChoice == .required && sample.maxSteps == 4)
    }

    // MARK: Subset matching

    @Test(arguments: [
        (["city": "Paris", "days": 2], ["city": "Paris"], true),
        (["city": "Paris"], ["city": "paris"], false),
        (["city": "Paris"], ["city": "Paris", "days": 2], false),
        (["n": 2], ["n": 2.0], true),
        (["trip": ["from": "PAR", "to": "LON", "class": "eco"]], ["trip": ["to": "LON"]], true),
        (["ids": [1, 2]], ["ids": [1, 2]], true),
        (["ids": [1, 2]], ["ids": [1]], false),
        (["rows": [["a": 1, "b": 2]]], ["rows": [["a": 1]]], true),
        (.string("{oops"), ["city": "Paris"], false),
        (["x": nil], ["x": nil], true),
        (["x": 1], [:], true),
    ] as [(JSONValue, JSONValue, Bool)])
    func subsetMatching(value: JSONValue, subset: JSONValue, expected: Bool) {
        #expect(value.contains(subset: subset) == expected)
    }

    @Test func firstMatchingRuleWinsElseDefaultElseError() {
        let spec = ToolSpec(
            ToolDefinition(name: "price"),
            answer: .match(
                [
                    ToolResultRule(match: ["sku": "A"], outcome: .result(10)),
                    ToolResultRule(match: [:], outcome: .result(99)),
                ], default: nil))
        #expect(spec.fixedOutcome(for: ["sku": "A", "qty": 1]) == .result(10))
        #expect(spec.fixedOutcome(for: ["sku": "B"]) == .result(99))
        let strict = ToolSpec(ToolDefinition(name: "price"), answer: .match([ToolResultRule(match: ["sku": "A"], outcome: .result(10))], default: nil))
        let outcome = strict.fixedOutcome(for: ["sku": "B"])
        #expect(outcome?.isError == true)
        #expect(outcome?.content.contains(#"{"sku":"B"}"#) == true)
    }

    // MARK: Errors name file, line and field

    @Test(arguments: [
        (#"{"id":"t","input":"hi","tools":[{"name":"a"}]}"#, "tools[0].result"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","result":1,"error":"x"}]}"#, "tools[0].error"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","result":1,"colour":"red"}]}"#, "tools[0].colour"),
        (#"{"id":"t","input":"hi","tools":[{"name":"","result":1}]}"#, "tools[0].name"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","parameters":[],"result":1}]}"#, "tools[0].parameters"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","result":1,"default":2}]}"#, "tools[0].default"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","results":[{"result":1}]}]}"#, "tools[0].results[0].match"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","results":[{"match":{}}]}]}"#, "tools[0].results[0].result"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","executor":""}]}"#, "tools[0].executor"),
        (#"{"id":"t","input":"hi","tools":[{"name":"a","result":1},{"name":"a","error":"x"}]}"#, "tools"),
        (#"{"id":"t","input":"hi","toolChoice":"sometimes"}"#, "toolChoice"),
        (#"{"id":"t","input":"hi","toolChoice":{"tool":"a","why":1}}"#, "toolChoice.why"),
        (#"{"id":"t","input":"hi","maxSteps":0}"#, "maxSteps"),
        (#"{"id":"t","input":"hi","referenceContexts":"doc"}"#, "referenceContexts"),
        (#"{"id":"t","input":"hi","expectedTools":[{"tool":"a"}]}"#, "expectedTools[0].tool"),
    ])
    func badToolConfigNamesTheField(json: String, field: String) {
        let result = JSONL.decode(TestSample.self, from: Data(json.utf8), source: "cases.jsonl", line: 3)
        guard case .failure(let error) = result else {
            Issue.record("expected a failure for \(json)")
            return
        }
        #expect(error.location?.source == "cases.jsonl")
        #expect(error.location?.line == 3)
        #expect(error.location?.field == field)
    }

    @Test(arguments: [
        (#"{"role":"assistant","content":"","toolCalls":[{"id":"c","name":"a","args":{}}]}"#, "toolCalls[0].args"),
        (#"{"role":"assistant","content":"","toolCalls":[{"name":"a"}]}"#, "toolCalls[0].id"),
        (#"{"role":"tool","content":"x","isError":"yes"}"#, "isError"),
        (#"{"role":"tool","content":"x","callId":"c"}"#, "callId"),
    ])
    func badMessageNamesTheField(json: String, field: String) {
        let result = JSONL.decode(Message.self, from: Data(json.utf8), source: "m.jsonl", line: 1)
        guard case .failure(let error) = result else {
            Issue.record("expected a failure for \(json)")
            return
        }
        #expect(error.location?.field == field)
    }

    @Test func badTurnRecordNamesTheField() {
        let json = #"{"index":0,"latencyMs":1,"usage":{},"attempts":1,"toolCalls":[],"ttft":3}"#
        let result = JSONL.decode(TurnRecord.self, from: Data(json.utf8), source: "r.jsonl", line: 2)
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.location?.field == "ttft")
    }
}
