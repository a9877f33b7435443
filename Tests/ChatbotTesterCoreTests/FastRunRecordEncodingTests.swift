import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCore

/// `FastRecordEncoding`'s `RunRecord` bytes against `JSONEncoder` (`JSONCoding.encoder()`), the
/// reference: generated records with awkward strings, numbers, dates and nested values, and the
/// shapes it must leave to the encoder.
@Suite struct FastRunRecordEncodingTests {
    static let strings = FastPathDifferentialTests.awkwardStrings + ["a\u{0}b", "💥" + String(repeating: "x", count: 300), "\\u0041", "\"}]"]
    static let numbers = FastPathDifferentialTests.awkwardNumbers + [-1e-9, -123_456_789.125, Double.leastNonzeroMagnitude.nextUp, 9_007_199_254_740_992, 0.1, 1e21, 1e-5]
    static let dates: [Date] = [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 0.999_999), Date(timeIntervalSince1970: 1_764_631_259.5),
        Date(timeIntervalSince1970: 1_700_000_000.999_999_9), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
        Date(timeIntervalSince1970: 253_402_300_799.9), Date(timeIntervalSince1970: 4_102_444_800.001),
    ]

    /// Core's seeded generator, so a failure names a reproducible record.
    typealias Generator = SeededGenerator

    static func value(_ g: inout Generator, depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &g) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &g))
        case 2: return .int([0, 1, -1, 9, 10, Int.max, Int.min, 1_234_567].randomElement(using: &g)!)
        case 3: return .double(numbers.randomElement(using: &g)!)
        case 4: return .string(strings.randomElement(using: &g)!)
        case 5: return .array((0..<Int.random(in: 0..<4, using: &g)).map { _ in value(&g, depth: depth + 1) })
        default:
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &g) {
                let key = ["a", "B", "a_b", "aB", "ab", "a10", "a9", "z", " ", "~", "key/with/slash", ""].randomElement(using: &g)!
                object[key] = value(&g, depth: depth + 1)
            }
            return .object(object)
        }
    }

    static func maybe<T>(_ g: inout Generator, _ make: (inout Generator) -> T) -> T? {
        Bool.random(using: &g) ? make(&g) : nil
    }

    static func record(_ g: inout Generator) -> RunRecord {
        let text = { (g: inout Generator) in strings.randomElement(using: &g)! }
        let number = { (g: inout Generator) in numbers.randomElement(using: &g)! }
        let usage = { (g: inout Generator) in Usage(promptTokens: Int.random(in: 0..<100_000, using: &g), completionTokens: Int.random(in: 0..<100, using: &g)) }
        let calls = { (g: inout Generator) in
            (0..<Int.random(in: 0..<3, using: &g)).map { i in ToolCall(id: "call_\(i)", name: text(&g), arguments: value(&g, depth: 0)) }
        }
        var metadata: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0..<3, using: &g) { metadata[["k", "Key", "k2", "_"].randomElement(using: &g)!] = value(&g, depth: 1) }
        let scripted = Bool.random(using: &g)
        let sample = TestSample(
            id: "id-" + text(&g), input: scripted ? nil : text(&g), system: maybe(&g, text), turns: scripted ? [text(&g), text(&g)] : nil,
            expected: maybe(&g, text), criteria: maybe(&g, text), context: maybe(&g) { g in [text(&g), text(&g)] },
            tags: Bool.random(using: &g) ? [text(&g)] : [], metadata: metadata, maxSteps: maybe(&g) { g in Int.random(in: 1..<20, using: &g) },
            referenceContexts: maybe(&g) { g in [text(&g)] })
        var transcript: [Message] = [.system(text(&g)), .user(text(&g))]
        let madeCalls = calls(&g)
        transcript.append(.assistant(text(&g), toolCalls: madeCalls))
        if let call = madeCalls.first {
            transcript.append(.tool(callId: call.id, name: call.name, content: text(&g), isError: Bool.random(using: &g)))
            transcript.append(Message(role: .assistant, content: "", toolCalls: [], toolCallId: maybe(&g, text), name: maybe(&g, text), isError: false))
        }
        if Bool.random(using: &g) { transcript.append(.assistant(text(&g))) }
        let turns = (0..<Int.random(in: 0..<3, using: &g)).map { index in
            TurnRecord(
                index: index, latencyMs: number(&g), usage: usage(&g), costUSD: maybe(&g, number), attempts: Int.random(in: 0..<4, using: &g),
                finishReason: maybe(&g, text), toolCalls: Bool.random(using: &g) ? calls(&g) : nil, retrievedContexts: maybe(&g) { g in [text(&g)] },
                timeToFirstTokenMs: maybe(&g, number), tokensPerSecond: maybe(&g, number))
        }
        let failed = Bool.random(using: &g)
        var record = RunRecord(
            sample: sample, target: text(&g), status: failed ? .error : .ok, transcript: Bool.random(using: &g) ? transcript : [], turns: turns,
            usage: usage(&g), simulatorUsage: maybe(&g, usage), costUSD: maybe(&g, number), latencyMs: number(&g),
            attempts: Int.random(in: 0..<5, using: &g), stopReason: maybe(&g, text),
            error: failed ? ErrorInfo(code: text(&g), message: text(&g), status: maybe(&g) { g in Int.random(in: 100..<600, using: &g) }) : nil,
            startedAt: maybe(&g) { g in dates.randomElement(using: &g)! },
            finishedAt: maybe(&g) { g in Date(timeIntervalSince1970: Double.random(in: 0..<4_102_444_800, using: &g)) })
        if Int.random(in: 0..<8, using: &g) == 0 { record.schemaVersion = -12 }
        return record
    }

    static func reference(_ record: RunRecord) throws -> [UInt8] {
        [UInt8](try JSONCoding.encoder().encode(record))
    }

    @Test(.cpuBound) func generatedRecordsMatchJSONEncoder() async throws {
        var g = Generator(seed: 13)
        var fast = 0
        for number in 0..<3000 {
            let record = Self.record(&g)
            guard let bytes = FastRecordEncoding.bytes(record) else { continue }
            fast += 1
            let expected = try Self.reference(record)
            #expect(bytes == expected, "record \(number): \(String(decoding: bytes, as: UTF8.self)) != \(String(decoding: expected, as: UTF8.self))")
            if bytes != expected { return }
        }
        // Only the odd hostile metadata or argument key (none here are outside printable ASCII) may fall back.
        #expect(fast == 3000)
    }

    @Test func everyFieldIsWrittenAsTheEncoderWritesIt() throws {
        let call = ToolCall(id: "c", name: "lookup", arguments: ["q": "x", "n": 1.5, "all": [1, "2", nil, true]])
        let record = RunRecord(
            sample: TestSample(
                id: "s", input: "hi", system: "sys", expected: "e", criteria: "c", context: ["ctx"], tags: ["t"], metadata: ["m": 1],
                maxSteps: 3, referenceContexts: ["r"]),
            target: "bot", status: .error,
            transcript: [.system("sys"), .user("hi"), .assistant("", toolCalls: [call]), .tool(callId: "c", name: "lookup", content: "{}", isError: true)],
            turns: [
                TurnRecord(
                    index: 0, latencyMs: 12.5, usage: Usage(promptTokens: 3, completionTokens: 4), costUSD: 0.25, attempts: 2,
                    finishReason: "tool_calls", toolCalls: [call], retrievedContexts: ["doc"], timeToFirstTokenMs: 3.25, tokensPerSecond: 80)
            ],
            usage: Usage(promptTokens: 3, completionTokens: 4), simulatorUsage: Usage(promptTokens: 1), costUSD: 0.25, latencyMs: 12.5,
            attempts: 2, stopReason: "max_steps", error: ErrorInfo(code: "http", message: "boom", status: 503),
            startedAt: Date(timeIntervalSince1970: 1_764_631_259.25), finishedAt: Date(timeIntervalSince1970: 1_764_631_260.75))
        let bytes = try #require(FastRecordEncoding.bytes(record))
        #expect(bytes == (try Self.reference(record)))
        // Every member a RunRecord has is written: a new field the writer does not know fails here.
        let object = try #require(try JSONByteParser.parse(Data(bytes)).objectValue)
        #expect(Set(object.keys) == RunRecord.fieldNames)
        let sampleKeys = Set(try #require(object["sample"]?.objectValue).keys)
        #expect(sampleKeys == Set(TestSample.CodingKeys.allCases.map(\.stringValue)).subtracting(["scenario", "tools", "toolChoice", "expectedTools", "turns"]))  // turns: exclusive with input, in the generated records
    }

    @Test func leavesToTheEncoderWhatItCannotVouchFor() {
        let plain = RunRecord(sample: TestSample(id: "s", input: "x"), target: "t")
        #expect(FastRecordEncoding.bytes(plain) != nil)
        var record = plain
        record.latencyMs = .infinity
        #expect(FastRecordEncoding.bytes(record) == nil)
        record = plain
        record.startedAt = Date(timeIntervalSince1970: -1)
        #expect(FastRecordEncoding.bytes(record) == nil)
        record.startedAt = Date(timeIntervalSince1970: 253_402_300_800)
        #expect(FastRecordEncoding.bytes(record) == nil)
        record = plain
        record.sample.metadata = ["é": 1]
        #expect(FastRecordEncoding.bytes(record) == nil)
        record = plain
        record.sample = TestSample(id: "s", scenario: Scenario(persona: "p", goal: "g"))
        #expect(FastRecordEncoding.bytes(record) == nil)
        record = plain
        record.turns = [TurnRecord(index: 0, latencyMs: .nan)]
        #expect(FastRecordEncoding.bytes(record) == nil)
    }

    @Test func datesMatchTheISO8601Strategy() throws {
        var g = Generator(seed: 7)
        let encoder = JSONCoding.encoder()
        var values = Self.dates.map(\.timeIntervalSince1970)
        for _ in 0..<2000 { values.append(Double.random(in: 0..<253_402_300_800, using: &g)) }
        for _ in 0..<200 { values.append(Double(Int.random(in: 0..<4_102_444_800, using: &g)) - 1e-6) }
        for interval in values where interval >= 0 {
            let date = Date(timeIntervalSince1970: interval)
            var bytes: [UInt8] = []
            guard FastRecordEncoding.appendDate(date, to: &bytes) else { continue }
            let expected = [UInt8](try encoder.encode(date))
            #expect(bytes == expected, "\(interval): \(String(decoding: bytes, as: UTF8.self)) != \(String(decoding: expected, as: UTF8.self))")
            if bytes != expected { return }
        }
    }
}
