import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// The byte-level JSON parser and writer against Foundation: for hand-written, generated, record
/// and mutated documents, `JSONByteParser` and `JSONDecoder` (Codable, `JSONValue`) give the same
/// value or both refuse, and `JSONSerialization` accepts exactly the same documents.
@Suite("JSON byte parser vs Foundation")
struct JSONByteParserDifferentialTests {
    enum Verdict: Equatable, CustomStringConvertible {
        case value(JSONValue)
        case rejected

        var description: String {
            switch self {
            case .value(let value): "value \(String(decoding: JSONByteWriter.bytes(value), as: UTF8.self).prefix(200))"
            case .rejected: "rejected"
            }
        }
    }

    static func byteParser(_ bytes: [UInt8]) -> Verdict {
        (try? JSONByteParser.parse(bytes)).map(Verdict.value) ?? .rejected
    }

    static func codable(_ bytes: [UInt8]) -> Verdict {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))).map(Verdict.value) ?? .rejected
    }

    static func serializationAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    }

    /// Equal verdicts.
    static func same(_ fast: Verdict, _ reference: Verdict) -> Bool {
        switch (fast, reference) {
        case (.rejected, .rejected): true
        case (.value(let a), .value(let b)): same(a, b)
        default: false
        }
    }

    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)): x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        default: a == b
        }
    }

    /// Records a disagreement for `bytes`, if any.
    static func checkAgreement(_ bytes: [UInt8], _ label: @autoclosure () -> String) {
        let fast = byteParser(bytes)
        let reference = codable(bytes)
        let shown = String(decoding: bytes.prefix(160), as: UTF8.self)
        #expect(same(fast, reference), "\(label()): byte parser \(fast), JSONDecoder \(reference) for \(shown)")
        let accepted = fast != .rejected
        #expect(serializationAccepts(bytes) == accepted, "\(label()): JSONSerialization differs for \(shown)")
    }

    // MARK: Hand-written documents

    static let valid: [String] = [
        #"{"a": [1, -2, 3.5, 1e3, -0.25E-2, true, false, null], "b": {"c": "d"}, "e": ""}"#,
        #"{"escapes": "q\"b\\s\/n\nt\tu\u00e9 \b\f\r ctl \u0001 nul \u0000 del \u007f"}"#,
        #"["\ud83d\ude00", "\uD834\uDD1E", "\u00E9", "é", "日本語", "👩‍👩‍👧", "\u2028\u2029", "\uffff", "\uFEFF"]"#,
        #"[]"#, #"{}"#, #"  "text"  "#, " \t\n\r[ 1 ,\t2 ]\r\n", #"null"#, #"true"#, #"0"#, #"-0"#, #"-0.0"#, #"0.0"#,
        #"1.0"#, #"1e2"#, #"1E+2"#, #"1e-2"#, #"12345678901234"#, #"9007199254740993"#,
        #"9223372036854775807"#, #"-9223372036854775808"#, #"9223372036854775808"#, #"-9223372036854775809"#,
        #"123456789012345678901234567890"#, #"5e-324"#, #"1.7976931348623157e308"#, #"2.2250738585072014e-308"#,
        #"777777777777777777.7"#, #"7777777777755555.55e2"#, #"9223372036854775807.0"#, #"12345678901234567890e-1"#,
        #"0.1"#, #"1e-400"#, #"4.9e-324"#, #"100000000000000000000.0"#, #"1.5"#, #"-1.5e10"#, #"[1e18, 1e19, 9.2e18, -9.2e18]"#,
        #"{"dup": 1, "dup": 2}"#, #"{"": 0, " ": 1}"#, "[1,]", "{\"a\":1,}", "[\"a\" , ]", "{\"a\":[1,],}", #"[[[[{"deep": [0]}]]]]"#,
        #"{"a":{"b":{"c":{"d":{"e":{"f":[[[[[[null]]]]]]}}}}}}"#,
    ]

    static let invalid: [String] = [
        "", " ", "{", "}", "[", "]", "[,1]", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":}", "tru", "nul",
        "truex", "01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "\"unterminated",
        "\"bad \\x escape\"", "\"\\u12\"", "\"\\u12G4\"", "[1] 2", "{\"a\":\"line\nbreak\"}", "\"tab\tinside\"", "[1 2]",
        "{\"a\":1 \"b\":2}", "/* comment */ 1", "1 // comment", "\u{00A0}1",
        "[1,,]", "[,]", "{,}", "1e400", "-1e400", "[1e309]",
    ]

    @Test("hand-written documents", arguments: valid + invalid)
    func handWritten(text: String) {
        Self.checkAgreement(Array(text.utf8), "hand-written")
    }

    @Test func handWrittenValidDocumentsAreAccepted() {
        for text in Self.valid { #expect(Self.byteParser(Array(text.utf8)) != .rejected, "\(text)") }
        for text in Self.invalid { #expect(Self.byteParser(Array(text.utf8)) == .rejected, "\(text)") }
    }

    @Test(.cpuBound) func nesting() {
        for depth in [1, 100, 400, 511] {
            let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            Self.checkAgreement(Array(text.utf8), "depth \(depth)")
            #expect(Self.byteParser(Array(text.utf8)) != .rejected)
        }
        // Hostile depth: refused quickly, no stack overflow.
        let hostile = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.byteParser(Array(hostile.utf8)) == .rejected)
    }

    @Test func invalidUTF8AndLoneSurrogates() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22],
            Array(#""\ud800""#.utf8), Array(#""\udc00""#.utf8), Array(#""\ud800\u0041""#.utf8), Array(#""\ud800x""#.utf8),
            [0xEF, 0xBB, 0xBF, 0x31],
        ]
        for bytes in cases { Self.checkAgreement(bytes, "bytes \(bytes)") }
    }

    // MARK: Generated documents

    /// A random JSON value with awkward strings and numbers.
    static func randomValue(_ random: inout SeededGenerator, depth: Int = 0) -> JSONValue {
        let pieces = ["a", "é", "日", "😀", "\"", "\\", "/", "\n", "\t", "\u{0001}", "\u{007F}", "\u{2028}", " ", "{", "]", "\u{FFFD}", "x"]
        switch random.int(below: depth > 4 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(random.chance(0.5))
        case 2:
            let edges = [0, 1, -1, Int.max, Int.min, 1 << 53, (1 << 53) + 1, -(1 << 53)]
            return .int(random.chance(0.3) ? random.pick(edges) : Int(truncatingIfNeeded: random.next()) >> random.int(below: 64))
        case 3:
            let edges = [0.5, -0.25, 1e-7, 1.5e300, -2.5e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1, 123.456, 1e21 + 0.5]
            return .double(random.chance(0.3) ? random.pick(edges) : (random.unit() - 0.5) * pow(10, Double(random.int(below: 40) - 20)))
        case 4: return .string((0..<random.int(below: 12)).map { _ in random.pick(pieces) }.joined())
        case 5: return .array((0..<random.int(below: 5)).map { _ in randomValue(&random, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<random.int(below: 5) {
                members[(0..<random.int(below: 4)).map { _ in random.pick(pieces) }.joined()] = randomValue(&random, depth: depth + 1)
            }
            return .object(members)
        }
    }

    /// Whitespace around tokens of compact JSON (outside strings).
    static func spaced(_ bytes: [UInt8], _ random: inout SeededGenerator) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var escaped = false
        for byte in bytes {
            if !inString, random.chance(0.2) { out.append(random.pick([0x20, 0x09, 0x0A, 0x0D])) }
            out.append(byte)
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
            } else if byte == 0x22 {
                inString = true
            }
        }
        return out
    }

    @Test func generatedDocumentsAgree() throws {
        var random = SeededGenerator(seed: 2026)
        for round in 0..<400 {
            let value = Self.randomValue(&random)
            let written = JSONByteWriter.bytes(value)
            // What the writer writes, both read back as the value (non-finite numbers aside: none generated).
            #expect(Self.same(Self.byteParser(written), Self.codable(written)), "round \(round)")
            #expect(Self.byteParser(written) == .value(Self.normalised(value)), "round \(round)")
            let foundation = Array(try JSONEncoder().encode(value))
            Self.checkAgreement(foundation, "JSONEncoder round \(round)")
            Self.checkAgreement(Self.spaced(written, &random), "spaced round \(round)")
        }
    }

    /// A value as it reads back from JSON: integral doubles that fit `Int` become `.int` — the
    /// double's integer below 2^53; above, the integer of the written digits, as `JSONDecoder`
    /// reads it (through `Decimal`).
    static func normalised(_ value: JSONValue) -> JSONValue {
        switch value {
        case .double(let number) where number.rounded() == number && abs(number) < 9_007_199_254_740_992: .int(Int(number))
        case .double(let number) where number.rounded() == number && abs(number) < 9.2e18:
            (try? JSONDecoder().decode(Int.self, from: Data(JSONByteWriter.bytes(value)))).map(JSONValue.int) ?? value
        case .array(let items): .array(items.map(normalised))
        case .object(let members): .object(members.mapValues(normalised))
        default: value
        }
    }

    /// One to three random edits (delete, insert, replace, truncate) with JSON-ish bytes.
    static func mutate(_ bytes: inout [UInt8], _ random: inout SeededGenerator) {
        let alphabet = Array("{}[]\":,\\ 0123456789-+.eEtrufalsn\u{0001}\n".utf8) + [0x80, 0xC3, 0xFF]
        for _ in 0..<(1 + random.int(below: 3)) where !bytes.isEmpty {
            let at = random.int(below: bytes.count)
            switch random.int(below: 4) {
            case 0: bytes.remove(at: at)
            case 1: bytes.insert(random.pick(alphabet), at: at)
            case 2: bytes[at] = random.pick(alphabet)
            default: bytes.removeSubrange(at...)
            }
        }
    }

    @Test(.cpuBound) func mutatedDocumentsAgree() async {
        var random = SeededGenerator(seed: 77)
        for round in 0..<1500 {
            var bytes = JSONByteWriter.bytes(Self.randomValue(&random))
            Self.mutate(&bytes, &random)
            Self.checkAgreement(bytes, "mutation round \(round)")
        }
    }

    // MARK: Reading a few members

    /// `members` refuses what `parse` refuses and gives the same values for the members asked for.
    static func checkMembers(_ bytes: [UInt8], _ names: Set<String>, _ label: @autoclosure () -> String) {
        let full = try? JSONByteParser.parse(bytes)
        let some = try? JSONByteParser.members(names, of: bytes)
        switch full {
        case .object(let members)?:
            #expect(some == members.filter { names.contains($0.key) }, "\(label())")
        default:
            #expect(some == nil, "\(label()): members read from a document parse refuses or that is no object")
        }
    }

    @Test(.cpuBound) func membersAgreeWithTheFullParse() async throws {
        var random = SeededGenerator(seed: 31)
        let alphabet = Array("{}[]\":,\\ 0123456789-+.eEtrufalsn\u{0001}\n".utf8) + [0x80, 0xC3, 0xFF]
        for round in 0..<1500 {
            var object: [String: JSONValue] = ["sampleId": .string("s\(round)"), "index": .int(round)]
            for key in ["run", "evals", "sample", "x"] where random.chance(0.7) { object[key] = Self.randomValue(&random) }
            var bytes = JSONByteWriter.bytes(.object(object))
            if random.chance(0.5) {
                let at = random.int(below: bytes.count)
                switch random.int(below: 3) {
                case 0: bytes.remove(at: at)
                case 1: bytes.insert(random.pick(alphabet), at: at)
                default: bytes[at] = random.pick(alphabet)
                }
            }
            Self.checkMembers(bytes, ["sampleId", "index"], "round \(round)")
        }
        let line = Array(#"{"index": 7, "sampleId": "q1", "run": {"turns": [[[]]], "output": "\ud83d\ude00"}, "index": 8}"#.utf8)
        #expect(try JSONByteParser.members(["sampleId", "index"], of: line) == ["sampleId": "q1", "index": 7])
        #expect(throws: JSONByteParser.Failure.self) { try JSONByteParser.members(["a"], of: Array("[1]".utf8)) }
        #expect(throws: JSONByteParser.Failure.self) { try JSONByteParser.members(["a"], of: Array(#"{"a":1,"b":"\ud800"}"#.utf8)) }
        let deep = "{\"a\":1,\"b\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(throws: JSONByteParser.Failure.self) { try JSONByteParser.members(["a"], of: Array(deep.utf8)) }
    }

    // MARK: Records of every type

    static func sample(_ random: inout SeededGenerator, index: Int) -> TestSample {
        let texts = ["Hello", "¿Dónde está mi pedido?", "返品したい", "emoji 😀 and \"quotes\"", "line\nbreak\ttab", "\u{0001}ctl", "a\\b/c"]
        return TestSample(
            id: "case-\(index)", input: random.pick(texts), system: random.chance(0.3) ? random.pick(texts) : nil,
            expected: random.chance(0.5) ? random.pick(texts) : nil, tags: random.chance(0.5) ? ["billing", "日本"] : [],
            metadata: ["n": .int(index), "score": .double(random.unit()), "nested": ["k": [1, "two", nil, 3.25]]])
    }

    @Test func recordsOfEveryTypeAgree() throws {
        var random = SeededGenerator(seed: 5)
        let encoder = JSONCoding.encoder()
        for index in 0..<150 {
            let sample = Self.sample(&random, index: index)
            let run = RunRecord(
                sample: sample, target: "bot", status: index % 7 == 0 ? .error : .ok,
                transcript: [Message(role: .user, content: sample.input ?? ""), Message(role: .assistant, content: "réponse 😀 \(index)")],
                turns: [TurnRecord(index: 0, latencyMs: random.unit() * 1000, usage: Usage(promptTokens: 12, completionTokens: 7), costUSD: 0.000_123)],
                usage: Usage(promptTokens: 12, completionTokens: 7), costUSD: random.unit() * 0.01, latencyMs: random.unit() * 5000,
                attempts: 1, error: index % 7 == 0 ? ErrorInfo(code: "timeout", message: "no reply in 30 s") : nil,
                startedAt: Date(timeIntervalSince1970: 1_700_000_000), finishedAt: Date(timeIntervalSince1970: 1_700_000_001))
            let eval = EvalRecord(
                sampleId: sample.id, metric: "judge", type: "llm-judge", score: random.unit(), passed: random.chance(0.5), threshold: 0.7,
                reason: "parce que « oui » \u{2028}", votes: [0.5, 1, 0.75], costUSD: 1e-6, tags: sample.tags, details: ["raw": "{\"x\":1}"])
            try Self.checkRecord(sample, encoder: encoder)
            try Self.checkRecord(run, encoder: encoder)
            try Self.checkRecord(eval, encoder: encoder)
        }
    }

    /// Foundation's bytes of a record parse alike; the byte writer's bytes of that value decode to the same record.
    static func checkRecord<T: Codable & Equatable>(_ record: T, encoder: JSONEncoder) throws {
        let bytes = Array(try encoder.encode(record))
        checkAgreement(bytes, "\(T.self)")
        let value = try JSONByteParser.parse(bytes)
        let rewritten = JSONByteWriter.bytes(value)
        let decoder = JSONCoding.decoder()
        #expect(try decoder.decode(T.self, from: Data(rewritten)) == decoder.decode(T.self, from: Data(bytes)))
        #expect(rewritten == bytes, "the byte writer writes what JSONEncoder (sorted keys) writes for \(T.self)")
    }
}
