import ChatbotTesterCore
import Foundation
import Testing

/// Unknown keys are errors with a stable message and field path.
@Suite struct StrictDecodingTests {
    func failure<Value: Decodable>(_ type: Value.Type, _ json: String) -> ChatbotTesterError? {
        guard case .failure(let error) = JSONL.decode(type, from: Data(json.utf8), source: "x.jsonl", line: 3) else { return nil }
        return error
    }

    @Test func unknownKeyIsNamedWithTheAllowedOnes() throws {
        let error = try #require(failure(TestSample.self, #"{"id":"q1","input":"Hi","colour":"red"}"#))
        #expect(error.code == .invalidInput)
        #expect(error.location?.field == "colour")
        #expect(
            error.message
                == "unknown field 'colour' (allowed: context, criteria, expected, expectedTools, id, input, maxSteps, metadata, referenceContexts, scenario, schemaVersion, system, tags, toolChoice, tools, turns)")
    }

    @Test(arguments: [
        #"{"zeta":1,"id":"q1","alpha":2,"input":"Hi","mid":3}"#,
        #"{"mid":3,"alpha":2,"input":"Hi","id":"q1","zeta":1}"#,
        #"{"input":"Hi","zeta":1,"mid":3,"id":"q1","alpha":2}"#,
    ])
    func theAlphabeticallyFirstUnknownKeyIsNamedWhateverTheOrder(json: String) throws {
        let error = try #require(failure(TestSample.self, json))
        #expect(error.location?.field == "alpha")
        #expect(error.message.hasPrefix("unknown field 'alpha' (allowed: "))
    }

    @Test func nestedUnknownKeysNameTheirPath() throws {
        let record = RunRecord(sample: TestSample(id: "q1", input: "Hi"), target: "bot", transcript: [.user("Hi"), .assistant("Hello")])
        var object = try JSONValue(encoding: record).objectValue!
        var transcript = object["transcript"]!.arrayValue!
        transcript[1] = ["role": "assistant", "content": "Hello", "author": "bot"]
        object["transcript"] = .array(transcript)
        let error = try #require(failure(RunRecord.self, JSONValue.object(object).canonicalText))
        #expect(error.location?.field == "transcript[1].author")
        #expect(error.message == "unknown field 'author' (allowed: content, isError, name, role, toolCallId, toolCalls)")
        #expect(error.description.hasPrefix("x.jsonl:3: field 'transcript[1].author'"))
    }

    @Test func aSetOfNamesWorksToo() throws {
        struct Loose: Decodable {
            init(from decoder: any Decoder) throws { try decoder.rejectUnknownKeys(["b", "a"]) }
        }
        #expect(failure(Loose.self, #"{"a":1,"b":2}"#) == nil)
        let error = try #require(failure(Loose.self, #"{"a":1,"d":2,"c":3}"#))
        #expect(error.location?.field == "c")
        #expect(error.message == "unknown field 'c' (allowed: a, b)")
    }

    @Test func everyKnownKeyPasses() throws {
        let record = EvalRecord(
            sampleId: "q1", metric: "m", type: "exact-match", score: 1, passed: true, threshold: 0.5, reason: "r", votes: [1],
            spread: 0, straddlesThreshold: false, usage: Usage(promptTokens: 1, completionTokens: 2), costUSD: 0.1, tags: ["t"],
            details: ["k": "v"])
        let line = try JSONL.encodeLine(record)
        guard case .success(let decoded) = JSONL.decode(EvalRecord.self, from: line, source: nil, line: 1) else {
            Issue.record("a full record must decode")
            return
        }
        #expect(decoded == record)
    }
}
