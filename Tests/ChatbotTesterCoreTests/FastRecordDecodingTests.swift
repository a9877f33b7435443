import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCore

/// The byte-parser fast path of record decoding against the `Codable` decoders (the reference):
/// whatever the fast path accepts, `JSONDecoder` accepts with an equal value; what it does not know
/// it leaves to `JSONDecoder`; and no stored property of a record type escapes it.
@Suite struct FastRecordDecodingTests {
    static let decoder = JSONCoding.decoder()

    /// Decodes `text` both ways; returns whether the fast path took it.
    @discardableResult
    func agree<Value: Decodable & Equatable>(_ type: Value.Type, _ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Bool {
        let bytes = Data(text.utf8)
        let reference = Result { try Self.decoder.decode(type, from: bytes) }
        // The one-pass byte reader and the tree reader take the same inputs, to the same values.
        let tree = FastRecordDecoding.decodeViaTree(type, from: bytes)
        #expect(FastRecordDecoding.decode(type, from: bytes) == tree, "byte and tree readers differ for \(text)", sourceLocation: sourceLocation)
        guard let fast = FastRecordDecoding.decode(type, from: bytes) else { return false }
        switch reference {
        case .success(let value): #expect(value == fast, "fast path differs for \(text)", sourceLocation: sourceLocation)
        case .failure(let error): Issue.record("the fast path took what JSONDecoder refuses (\(error)): \(text)", sourceLocation: sourceLocation)
        }
        return true
    }

    static let samples = [
        #"{"id":"q1","input":"Hello?"}"#,
        #"{"id":"q2","turns":["a","b"],"system":"be brief","expected":"x","criteria":"c","context":["d"],"tags":["t"],"metadata":{"k":[1,2.5,null,{"z":true}]}}"#,
        #"{"schemaVersion":1,"id":"q3","input":"é \u00e9 \ud83d\ude00","tags":null,"metadata":null,"system":null}"#,
        #"{"id":"q4","input":"x","expected":null,"context":null}"#,
        #"{"id":"q5","input":"x","maxSteps":3,"referenceContexts":["a","b"],"schemaVersion":2}"#,
    ]
    static let sampleFallbacks = [
        #"{"id":"s","scenario":{"persona":"p","goal":"g","maxTurns":3}}"#,  // not on the fast path
        #"{"id":"","input":"x"}"#,  // an error: empty id
        #"{"id":"x"}"#,  // an error: no input
        #"{"id":"x","input":"a","turns":["b"]}"#,  // an error: two kinds
        #"{"id":"x","turns":[]}"#,  // an error: empty turns
        #"{"id":"x","input":"a","surprise":1}"#,  // an error: unknown field
        #"{"id":"x","input":5}"#,  // an error: wrong type
        #"{"id":"x","input":"a","schemaVersion":99}"#,  // an error: newer schema
        #"{"id":7,"input":"a"}"#,
        #"[1,2]"#,
        #"{"id":"x","input":"a","maxSteps":0}"#,  // an error: maxSteps below 1
        #"{"id":"x","input":"a","tools":[{"name":"t","result":"r"}]}"#,  // tools: not on the fast path
    ]

    @Test func testSamplesAgree() {
        for text in Self.samples { #expect(agree(TestSample.self, text), "not on the fast path: \(text)") }
        for text in Self.sampleFallbacks { #expect(!agree(TestSample.self, text), "should fall back: \(text)") }
    }

    static let record = #"""
        {"attempts":2,"costUSD":0.25,"error":null,"finishedAt":"2026-12-01T17:00:05Z","latencyMs":12.5,"output":"Refunds take 30 days.",\#
        "sample":{"id":"q1","input":"Refunds?","schemaVersion":1,"tags":["billing"]},"sampleId":"q1","schemaVersion":1,\#
        "startedAt":"2026-12-01T17:00:04Z","status":"ok","stopReason":"stop","target":"bot",\#
        "transcript":[{"content":"Refunds?","role":"user"},{"content":"Refunds take 30 days.","role":"assistant"}],\#
        "turns":[{"attempts":1,"costUSD":0.25,"finishReason":"stop","index":0,"latencyMs":12,"usage":{"completionTokens":4,"promptTokens":3,"totalTokens":7}}],\#
        "usage":{"completionTokens":4,"promptTokens":3,"totalTokens":7},"simulatorUsage":{"promptTokens":1}}
        """#

    @Test func runRecordsAgree() {
        #expect(agree(RunRecord.self, Self.record))
        #expect(agree(RunRecord.self, #"{"sampleId":"e","target":"bot","status":"error","sample":{"id":"e","input":"x"},"error":{"code":"http_5xx","message":"boom","status":503},"startedAt":"1999-02-28T23:59:59Z"}"#))
        #expect(agree(RunRecord.self, #"{"sampleId":"m","target":"bot","status":"ok","sample":{"id":"m","input":"x"},"transcript":null,"turns":null,"usage":null,"latencyMs":null,"attempts":null}"#))
        // Agent runs (schema 2): tool calls, tool results, retrieved contexts, streaming timings.
        #expect(agree(RunRecord.self, #"""
            {"sampleId":"a","target":"bot","status":"ok","schemaVersion":2,"sample":{"id":"a","input":"weather?"},\#
            "transcript":[{"role":"user","content":"weather?"},{"role":"assistant","content":"","toolCalls":[{"id":"c1","name":"weather","arguments":{"city":"Oslo","days":[1,2]}},{"id":"c2","name":"time"}]},\#
            {"role":"tool","content":"t=3","toolCallId":"c1","name":"weather","isError":null},{"role":"tool","content":"boom","toolCallId":"c2","name":"time","isError":true},\#
            {"role":"assistant","content":"3 degrees"}],\#
            "turns":[{"index":0,"latencyMs":5,"usage":{"promptTokens":1},"attempts":1,"toolCalls":[{"id":"c1","name":"weather","arguments":"not json"}],"retrievedContexts":["doc 1"],"timeToFirstTokenMs":1.5,"tokensPerSecond":40},\#
            {"index":1,"latencyMs":6,"usage":{},"attempts":1,"toolCalls":null,"retrievedContexts":null}]}
            """#))
        for fallback in [
            Self.record.replacingOccurrences(of: "17:00:04Z", with: "17:00:04.250Z"),  // fractional seconds
            Self.record.replacingOccurrences(of: "2026-12-01T17:00:04Z", with: "2026-12-31T17:00:04+01:00"),
            Self.record.replacingOccurrences(of: #""role":"user""#, with: #""role":"user","nickname":"x""#),
            Self.record.replacingOccurrences(of: #""finishReason""#, with: #""toolCalls":[{"id":"c"}],"finishReason""#),
            Self.record.replacingOccurrences(of: #""finishReason""#, with: #""toolCalls":[{"id":"c","name":"n","extra":1}],"finishReason""#),
            Self.record.replacingOccurrences(of: #""finishReason""#, with: #""reasoning":"x","finishReason""#),
            Self.record.replacingOccurrences(of: #""status":"ok""#, with: #""status":"fine""#),
            Self.record.replacingOccurrences(of: #""target":"bot""#, with: #""target":"bot","extra":1"#),
            Self.record.replacingOccurrences(of: #""latencyMs":12.5"#, with: #""latencyMs":"slow""#),
        ] {
            #expect(!agree(RunRecord.self, fallback), "should fall back: \(fallback)")
        }
    }

    @Test func evalRecordsAgree() {
        #expect(agree(EvalRecord.self, #"{"sampleId":"q1","metric":"contains","type":"contains","status":"scored","score":1,"passed":true,"tags":["a"],"schemaVersion":1}"#))
        #expect(agree(EvalRecord.self, #"{"sampleId":"q1","metric":"judge","type":"llm-judge","status":"scored","score":0.75,"passed":false,"threshold":0.8,"reason":"meh","votes":[0.5,1],"spread":0.5,"straddlesThreshold":true,"usage":{"promptTokens":10,"completionTokens":2,"totalTokens":12},"costUSD":0.001,"details":{"k":"v"}}"#))
        #expect(agree(EvalRecord.self, #"{"sampleId":"q1","metric":"m","type":"t","status":"unmeasured","score":null,"passed":null,"usage":null,"details":null,"tags":null}"#))
        #expect(!agree(EvalRecord.self, #"{"sampleId":"q1","metric":"m","type":"t","status":"odd"}"#))
        #expect(!agree(EvalRecord.self, #"{"sampleId":"q1","metric":"m","type":"t","status":"scored","score":"1"}"#))
        #expect(!agree(EvalRecord.self, #"{"sampleId":"q1","metric":"m","status":"scored"}"#))
    }

    /// A member given twice: `JSONDecoder` decides (the byte reader gives up), whatever it keeps.
    @Test func duplicatedMembersFallBack() {
        let texts: [(any Decodable.Type, String)] = [
            (TestSample.self, #"{"id":"q","input":"a","input":"b"}"#),
            (RunRecord.self, #"{"sampleId":"e","target":"bot","target":"x","status":"ok","sample":{"id":"e","input":"x"}}"#),
            (RunRecord.self, #"{"sampleId":"e","target":"bot","status":"ok","sample":{"id":"e","input":"x"},"usage":{"promptTokens":1,"promptTokens":2}}"#),
            (EvalRecord.self, #"{"sampleId":"q1","metric":"m","type":"t","status":"scored","score":1,"score":0}"#),
        ]
        for (type, text) in texts {
            #expect(FastRecordDecoding.decodeBytes(type, from: Data(text.utf8)) == nil, "should fall back: \(text)")
        }
    }

    /// Every one-byte change, insertion and deletion of a full run record and of an evaluation:
    /// whatever the byte reader accepts, `JSONDecoder` decodes to an equal value (and the tree
    /// reader agrees); the rest falls back.
    @Test(.cpuBound) func mutatedRecordsAgreeOrFallBack() async {
        func check<Value: Decodable & Equatable>(_ type: Value.Type, _ text: String) async -> (taken: Int, total: Int) {
            let variants = ByteMutations.oneByteChanges(
                of: Array(text.utf8), replacing: Array(#""}],:1x \n"#.utf8) + [0x80, 0x0A], inserting: UInt8(ascii: " "))
            var taken = 0
            for variant in variants {
                let bytes = Data(variant)
                let fast = FastRecordDecoding.decode(type, from: bytes)
                #expect(fast == FastRecordDecoding.decodeViaTree(type, from: bytes) || fast == nil, "byte and tree readers differ: \(String(decoding: variant, as: UTF8.self))")
                // The strict reader takes a subset, each one the strict check passes too.
                let strict = FastRecordDecoding.decodeBytes(type, from: bytes, strict: true)
                #expect(strict == nil || strict == fast, "strict and lenient readers differ: \(String(decoding: variant, as: UTF8.self))")
                if strict != nil {
                    #expect((try? StrictJSONSyntax.check(bytes)) != nil, "the strict reader took what the check refuses: \(String(decoding: variant, as: UTF8.self))")
                }
                guard let fast else { continue }
                taken += 1
                let reference = try? Self.decoder.decode(type, from: bytes)
                #expect(reference == fast, "the byte reader took \(String(decoding: variant, as: UTF8.self))")
            }
            return (taken, variants.count)
        }
        let run = await check(RunRecord.self, Self.record.replacingOccurrences(of: "\n", with: ""))
        let eval = await check(EvalRecord.self, #"{"sampleId":"q1","metric":"judge","type":"llm-judge","status":"scored","score":0.75,"passed":false,"votes":[0.5,1],"details":{"k":"v"},"usage":{"promptTokens":10}}"#)
        // Most variants are refused, but not all (a changed digit, an added space are still records).
        #expect(run.taken > 100 && run.taken < run.total)
        #expect(eval.taken > 50 && eval.taken < eval.total)
    }

    func refusedByBoth<Value: Decodable & Equatable>(_ type: Value.Type, _ text: String) {
        let bytes = Data(text.utf8)
        #expect(FastRecordDecoding.decodeBytes(type, from: bytes, strict: true) == nil, "strict reader took \(text.prefix(80))")
        #expect((try? StrictJSONSyntax.check(bytes)) == nil, "the check passes \(text.prefix(80))")
        if case .failure(let error) = JSONL.decode(type, from: bytes, source: "d.jsonl", line: 3) {
            #expect(error.location?.line == 3)
        } else {
            Issue.record("JSONL.decode took \(text.prefix(80))")
        }
    }

    /// What `StrictJSONSyntax` refuses and `JSONDecoder` takes, the strict reader leaves to the
    /// check (so `JSONL.decode` still refuses it with its message), at every depth.
    @Test func theStrictReaderLeavesWhatTheCheckRefuses() {
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        for text in [
            #"{"id":"q","input":"a",}"#, #"{"id":"q","input":"a","tags":["x",]}"#, #"{"id":"q","input":"a","metadata":{"k":1,"k":2}}"#,
            #"{"id":"q","input":"a","metadata":{"k":[{"z":1,}]}}"#, "\u{FEFF}" + #"{"id":"q","input":"a"}"#,
            #"{"id":"q","input":"a","metadata":{"k":"# + deep + "}}",
        ] {
            refusedByBoth(TestSample.self, text)
        }
        refusedByBoth(EvalRecord.self, #"{"sampleId":"q1","metric":"m","type":"t","status":"scored","details":{"a":{"b":true,"b":false}}}"#)
        refusedByBoth(RunRecord.self, Self.record.replacingOccurrences(of: #""totalTokens":7}"#, with: #""totalTokens":7,}"#))
        // The lenient reader (for bytes already checked) takes the comma and the mark.
        #expect(FastRecordDecoding.decodeBytes(TestSample.self, from: Data(#"{"id":"q","input":"a",}"#.utf8)) != nil)
        #expect(FastRecordDecoding.decodeBytes(TestSample.self, from: Data(("\u{FEFF}" + #"{"id":"q","input":"a"}"#).utf8)) != nil)
        for text in Self.samples {
            let bytes = Data(text.utf8)
            #expect(FastRecordDecoding.decodeBytes(TestSample.self, from: bytes, strict: true) == FastRecordDecoding.decode(TestSample.self, from: bytes))
        }
    }

    @Test func datesMatchFoundationsISO8601() {
        var seconds = 31_536_000.0  // 1971-01-01
        while seconds < 4_102_444_800 {  // 2100
            let date = Date(timeIntervalSince1970: seconds)
            let text = String(decoding: try! JSONCoding.encoder().encode(date), as: UTF8.self).trimmingCharacters(in: ["\""])
            let reference = try! Self.decoder.decode(Date.self, from: Data("\"\(text)\"".utf8))
            if let fast = FastRecordDecoding.date(text) { #expect(fast == reference, "\(text)") }
            seconds += 86_400 * 13.7 + 3_601
        }
    }

    /// Every stored property of every record type is one the fast path reads (or, for `scenario`,
    /// leaves to `JSONDecoder`): a field added to a schema without teaching the fast path fails here
    /// instead of being dropped.
    @Test func noFieldEscapesTheFastPath() {
        func properties(_ value: Any) -> Set<String> { Set(Mirror(reflecting: value).children.compactMap(\.label)) }
        let sample = TestSample(id: "x", input: "y")
        let record = RunRecord(sample: sample, target: "bot", turns: [TurnRecord(index: 0, latencyMs: 1)], error: ErrorInfo(code: "c", message: "m"))
        let eval = EvalRecord(sampleId: "x", metric: "m", type: "t")
        #expect(properties(sample).subtracting(FastRecordDecoding.testSampleFields) == FastRecordDecoding.testSampleFallbackFields)
        #expect(properties(record).subtracting(FastRecordDecoding.runRecordFields).isEmpty)
        #expect(properties(eval).subtracting(FastRecordDecoding.evalRecordFields).isEmpty)
        #expect(properties(Message(role: .user, content: "x")).subtracting(FastRecordDecoding.messageFields).isEmpty)
        #expect(properties(record.turns[0]).subtracting(FastRecordDecoding.turnRecordFields).isEmpty)
        #expect(properties(Usage.zero).subtracting(FastRecordDecoding.usageFields).isEmpty)
        #expect(properties(record.error!).subtracting(FastRecordDecoding.errorInfoFields).isEmpty)
        // And the Codable keys of the strict types.
        #expect(Set(TestSample.CodingKeys.allCases.map(\.stringValue)).subtracting(FastRecordDecoding.testSampleFields) == FastRecordDecoding.testSampleFallbackFields)
        #expect(Set(TurnRecord.CodingKeys.allCases.map(\.stringValue)) == FastRecordDecoding.turnRecordFields)
        #expect(properties(ToolCall(id: "c", name: "n", arguments: [:])) == FastRecordDecoding.toolCallFields)
        #expect(Set(RunRecord.CodingKeys.allCases.map(\.stringValue)).subtracting(FastRecordDecoding.runRecordFields).isEmpty)
        #expect(Set(EvalRecord.CodingKeys.allCases.map(\.stringValue)).subtracting(FastRecordDecoding.evalRecordFields).isEmpty)
    }

    /// Values written by the encoders come back equal through the fast path, field by field.
    @Test func encodedRecordsRoundTrip() throws {
        let encoder = JSONCoding.encoder()
        var sample = TestSample(
            id: "rt", turns: ["a", "b"], expected: "e", criteria: "c", context: ["k"], tags: ["t1", "t2"], metadata: ["n": 1, "s": "v", "l": [true, nil]])
        sample.maxSteps = 4
        sample.referenceContexts = ["r1", "r2"]
        let record = RunRecord(
            sample: sample, target: "bot", status: .error,
            transcript: [
                .user("a"), .assistant("", toolCalls: [ToolCall(id: "c1", name: "lookup", arguments: ["q": "x", "n": 2])]),
                .tool(callId: "c1", name: "lookup", content: "found", isError: true), .assistant("b"), .user("c"),
            ],
            turns: [
                TurnRecord(
                    index: 0, latencyMs: 3.25, usage: Usage(promptTokens: 5, completionTokens: 6), costUSD: 0.5, attempts: 2, finishReason: "length",
                    toolCalls: [ToolCall(id: "c1", name: "lookup", arguments: ["q": "x", "n": 2])], retrievedContexts: ["ctx"], timeToFirstTokenMs: 1.25,
                    tokensPerSecond: 80)
            ],
            usage: Usage(promptTokens: 5, completionTokens: 6), simulatorUsage: Usage(promptTokens: 1, completionTokens: 1), costUSD: 0.5,
            latencyMs: 3.25, attempts: 2, stopReason: "error", error: ErrorInfo(code: "timeout", message: "slow", status: 504),
            startedAt: Date(timeIntervalSince1970: 1_790_000_000), finishedAt: Date(timeIntervalSince1970: 1_790_000_003))
        let eval = EvalRecord(
            sampleId: "rt", metric: "m", type: "t", status: .scored, score: 0.5, passed: false, threshold: 0.7, reason: "r", votes: [0.25, 0.75],
            spread: 0.5, straddlesThreshold: true, usage: Usage(promptTokens: 2, completionTokens: 3), costUSD: 0.01, tags: ["x"], details: ["d": 1.5])
        #expect(FastRecordDecoding.decode(TestSample.self, from: try encoder.encode(sample)) == sample)
        #expect(FastRecordDecoding.decode(RunRecord.self, from: try encoder.encode(record)) == record)
        #expect(FastRecordDecoding.decode(EvalRecord.self, from: try encoder.encode(eval)) == eval)
    }
}
