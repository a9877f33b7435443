import Foundation
import Testing

@testable import ChatbotTesterCore

/// The byte-level fast paths of `evaluate` and `validate` against the reference code they skip:
/// `FastRecordEncoding` against `JSONEncoder`, `TestSampleLineCheck` against strict decoding,
/// `JSONL.forEachLine` against `JSONL.lines`.
@Suite struct FastPathDifferentialTests {
    // MARK: EvalRecord encoding

    static let awkwardStrings: [String] = [
        "", "plain", "quote \" and backslash \\ and slash / end", "tab\tnew\nline\rcr", "\u{08}\u{0C}\u{0B}\u{7F}",
        String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }), "é e\u{301} ∑ 😀 \u{2028}\u{2029} \u{FEFF}", "</script>",
    ]
    static let awkwardNumbers: [Double] = [
        0, -0.0, 1, -1, 0.5, 1.0 / 3, 2.0 / 3, 1e-7, 1e-300, 123_456.789, 1e15, 1e16, 1e20, 12_345_678_901_234_567_168, 0.1 + 0.2,
        Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 100, 3, 0.999999999999,
    ]

    static func records() -> [EvalRecord] {
        var records: [EvalRecord] = []
        for (index, text) in awkwardStrings.enumerated() {
            let number = awkwardNumbers[index % awkwardNumbers.count]
            records.append(EvalRecord(sampleId: text.isEmpty ? "s" : text, metric: "m\(index)", type: "contains", reason: text, tags: [text, "t"]))
            records.append(
                EvalRecord(
                    sampleId: "s\(index)", metric: text, type: "llm-judge", status: .unmeasured, score: number, passed: index % 2 == 0,
                    threshold: 0.5, reason: nil, votes: [number, 0, 1, 0.25], spread: number, straddlesThreshold: true,
                    usage: Usage(promptTokens: index * 1000, completionTokens: 7), costUSD: number / 1000, tags: [],
                    details: [
                        "found": .array([.string(text), .int(-3), .double(number), .bool(false), .null]),
                        "nested": .object(["b": .int(Int.max), "a": .array([]), "B": .object([:]), "a_b": .double(-number)]),
                        "value": .double(number), "z": .string(text),
                    ]))
        }
        for number in awkwardNumbers {
            records.append(EvalRecord(sampleId: "n", metric: "latency", type: "latency", score: number, passed: true, threshold: number, details: ["value": .double(number)]))
        }
        return records
    }

    @Test func evalRecordLinesMatchJSONEncoder() throws {
        let encoder = JSONCoding.encoder()
        var fast = 0
        for record in Self.records() {
            let reference = try JSONL.encodeLine(record, encoder: encoder)
            guard let bytes = FastRecordEncoding.line(record) else { continue }
            fast += 1
            #expect(Data(bytes) == reference, "\(String(decoding: bytes, as: UTF8.self)) != \(String(decoding: reference, as: UTF8.self))")
        }
        #expect(fast == Self.records().count)
    }

    @Test func evalRecordEncodingFallsBackWhereItMayDiffer() {
        #expect(FastRecordEncoding.line(EvalRecord(sampleId: "s", metric: "m", type: "t", score: .infinity)) == nil)
        #expect(FastRecordEncoding.line(EvalRecord(sampleId: "s", metric: "m", type: "t", details: ["é": .int(1)])) == nil)
    }

    @Test func writerUsesTheSameBytes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fastenc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("evals.jsonl")
        let writer = try JSONLWriter(url: url)
        let encoder = JSONCoding.encoder()
        var expected = Data()
        for record in Self.records() {
            try writer.write(record)
            expected.append(try JSONL.encodeLine(record, encoder: encoder))
        }
        try writer.close()
        #expect(try Data(contentsOf: url) == expected)
    }

    /// Lines handed over already encoded keep their order whether they are buffered or, as large
    /// as the buffer, written straight to the file after what the buffer holds.
    @Test func writerKeepsTheOrderOfBufferedAndLargeChunks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fastenc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("results.jsonl")
        let writer = try JSONLWriter(url: url, bufferLimit: 64)
        var expected: [UInt8] = []
        for (position, size) in [3, 10, 200, 1, 64, 63, 5, 1000, 2, 2].enumerated() {
            let chunk = (0..<size).flatMap { Array("{\"n\":\(position)-\($0)}\n".utf8) }
            try writer.write(lines: chunk)
            expected += chunk
        }
        try writer.close()
        #expect(try Array(Data(contentsOf: url)) == expected)
    }

    // MARK: Dataset line check

    /// The check's verdict on `text`, and the decoder's. Whatever the check vouches for, the
    /// decoder accepts with the same id.
    @discardableResult
    func agree(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Bool {
        let bytes = Array(text.utf8)
        let range = bytes.withUnsafeBufferPointer { TestSampleLineCheck.idRange($0) }
        guard let range else { return false }
        let id = String(decoding: bytes[range], as: UTF8.self)
        switch JSONL.decode(TestSample.self, from: Data(bytes), source: nil, line: 1) {
        case .success(let sample): #expect(sample.id == id, "id differs for \(text)", sourceLocation: sourceLocation)
        case .failure(let error): Issue.record("the check vouched for a line the decoder refuses (\(error)): \(text)", sourceLocation: sourceLocation)
        }
        return true
    }

    static let validLines = [
        #"{"id":"q1","input":"Hello?"}"#,
        #" { "id" : "q2" , "turns" : [ "a" , "b" ] , "system":"be brief","expected":"x","criteria":"c","context":["d"],"tags":["t"],"metadata":{"k":[1,2.5,-0.25,null,{"z":true,"y":false}],"s":"\u00e9\n"}} "#,
        #"{"schemaVersion":1,"id":"q3","input":"é ∑ 😀 \" \\ \/ \b\f\n\r\t \u0041","tags":null,"metadata":null,"system":null}"#,
        #"{"id":"q4","input":"x","expected":null,"context":null,"turns":null}"#,
        #"{"id":"q5","input":null,"turns":["x"],"maxSteps":3,"referenceContexts":["a","b"],"schemaVersion":2,"metadata":{}}"#,
        #"{"id":"case-00000001","input":"Where is my order? (#1)","expected":"It ships.","tags":["orders","smoke"],"metadata":{"source":"bench","n":1},"criteria":"Polite."}"#,
        #"{"id":"q6","input":"x","maxSteps":null,"tags":[],"metadata":{"a":{"b":{"c":[[],{}]}}}}"#,
    ]

    static let otherLines = [
        #"{"id":"s","scenario":{"persona":"p","goal":"g","maxTurns":3}}"#, #"{"id":"","input":"x"}"#, #"{"id":"x"}"#,
        #"{"id":"x","input":"a","turns":["b"]}"#, #"{"id":"x","turns":[]}"#, #"{"id":"x","input":"a","surprise":1}"#,
        #"{"id":"x","input":5}"#, #"{"id":"x","input":"a","schemaVersion":99}"#, #"{"id":"x","input":"a","id":"y"}"#,
        #"{"id":"x","input":"a",}"#, #"{"id":"x","input":"a","tags":["a",]}"#, #"{"id":"x","input":"a","metadata":{"k":1,"k":2}}"#,
        #"{"id":"x","input":"a","metadata":{"k":1e400}}"#, #"{"id":"x","input":"a","metadata":{"k":01}}"#,
        #"{"id":"x","input":"\ud800"}"#, #"{"id":"x","input":"a\x"}"#, #"{"id":"x","input":"a"} x"#, #"{"id":"x","input":"a"}}"#,
        #"{"id":"x","input":"a","maxSteps":0}"#, #"{"id":"x","input":"a","maxSteps":1.5}"#, #"["id"]"#, "", "{", #"{"id":"x","input":"a""#,
        #"{"id":"x\u0041","input":"a"}"#, #"{"i\u0064":"x","input":"a"}"#, #"{"id":"x","input":"a","metadata":{"k":tru}}"#,
        #"{"id":"x","input":"a","metadata":{"k":nullx}}"#, #"{"id":"x","input":"a","metadata":[]}"#, #"{"id":"x","input":"a","tags":"t"}"#,
        "{\"id\":\"x\",\"input\":\"a\u{0}b\"}", "{\"id\":\"x\",\"input\":\"tab\there\"}",
        // Integers too long for the check (it once overflowed on them: found by the `caseLine` fuzz harness).
        #"{"maxSteps":2888888888888888888888888888888888888888888888888888888,"id":"x","input":"a"}"#,
        #"{"id":"x","input":"a","schemaVersion":99999999999999999999999}"#, #"{"id":"x","input":"a","maxSteps":1000000000}"#,
    ]

    @Test func lineCheckVouchesForCommonCasesOnly() {
        for line in Self.validLines { #expect(agree(line), "the check should take \(line)") }
        for line in Self.otherLines { agree(line) }
        // Invalid UTF-8 and a byte order mark inside the line.
        for bytes in [[0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x22, 0xC3, 0x22, 0x2C] + Array(#""input":"a"}"#.utf8), Array("\u{FEFF}".utf8) + Array(#"{"id":"x","input":"a"}"#.utf8)] {
            let range = bytes.withUnsafeBufferPointer { TestSampleLineCheck.idRange($0) }
            #expect(range == nil)
        }
    }

    /// Every one-byte change of the valid lines: whatever the check takes, the decoder takes.
    @Test func lineCheckAgreesUnderMutation() {
        let replacements: [UInt8] = [0x22, 0x5C, 0x2C, 0x3A, 0x7B, 0x7D, 0x5B, 0x5D, 0x20, 0x00, 0x0A, 0x30, 0x2D, 0x2E, 0x65, 0x6E, 0x75, 0xC3, 0xFF]
        var vouched = 0
        for line in Self.validLines {
            let bytes = Array(line.utf8)
            for position in bytes.indices {
                var deleted = bytes
                deleted.remove(at: position)
                if agree(String(decoding: deleted, as: UTF8.self)), String(validating: deleted, as: UTF8.self) != nil { vouched += 1 }
                for byte in replacements where byte != bytes[position] {
                    var changed = bytes
                    changed[position] = byte
                    // Strings that are not valid UTF-8 are checked on the bytes directly.
                    let range = changed.withUnsafeBufferPointer { TestSampleLineCheck.idRange($0) }
                    guard let range else { continue }
                    vouched += 1
                    switch JSONL.decode(TestSample.self, from: Data(changed), source: nil, line: 1) {
                    case .success(let sample): #expect(sample.id == String(decoding: changed[range], as: UTF8.self))
                    case .failure(let error): Issue.record("vouched for a refused line (\(error)): \(String(decoding: changed, as: UTF8.self))")
                    }
                }
            }
        }
        #expect(vouched > 100)
    }

    // MARK: Line scanning

    func linesBothWays(_ content: [UInt8], maxLineBytes: Int?, chunkSize: Int) async throws -> (reference: [String], scanned: [String]) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(content).write(to: url)
        var reference: [String] = []
        do {
            for try await (line, bytes) in JSONL.lines(of: url, chunkSize: chunkSize, maxLineBytes: maxLineBytes) {
                reference.append("\(line):\(String(decoding: bytes, as: UTF8.self))")
            }
        } catch { reference.append("error: \(error)") }
        var scanned: [String] = []
        do {
            try JSONL.forEachLine(of: url, maxLineBytes: maxLineBytes, chunkSize: chunkSize) { line, bytes in
                scanned.append("\(line):\(String(decoding: bytes, as: UTF8.self))")
            }
        } catch { scanned.append("error: \(error)") }
        return (reference, scanned)
    }

    @Test func forEachLineSplitsAsLinesDoes() async throws {
        let texts = [
            "\u{FEFF}{\"a\":1}\r\n\r\n  \t \n{\"b\":2}\n\u{FEFF}x\nlast", "", "\n\n\n", "one", "a\r\nb\rc\n\r\n", String(repeating: "0123456789\n", count: 900),
            String(repeating: "x", count: 10_000) + "\nshort\n" + String(repeating: "y", count: 5_000),
        ]
        var generator = SystemRandomNumberGenerator()
        var random: [UInt8] = []
        for _ in 0..<20_000 { random.append([0x0A, 0x0D, 0x20, 0x09, 0x61, 0xEF, 0xBB, 0xBF][Int.random(in: 0..<8, using: &generator)]) }
        for content in texts.map({ Array($0.utf8) }) + [random] {
            for chunk in [4096, 5000, 1 << 20] {
                for limit in [nil, 4096, 100] as [Int?] {
                    let (reference, scanned) = try await linesBothWays(content, maxLineBytes: limit, chunkSize: chunk)
                    #expect(reference == scanned, "chunk \(chunk), limit \(String(describing: limit))")
                }
            }
        }
    }

    @Test func validateTakesTheFastPathWithTheSameVerdicts() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        // Four rounds, so that the batch is checked in two halves at once (64 lines or more) and
        // the later rounds' lines are duplicates, reported in file order.
        let round = Self.validLines + Self.otherLines + [Self.validLines[0], Self.validLines[5]]
        let lines = round + round + round + round
        try Data(lines.joined(separator: "\n").utf8).write(to: url)
        let report = try await FileValidation.validate(TestSample.self, at: url)
        // The reference: decode every line.
        var good = 0
        var expected: [String] = []
        var seen = Set<String>()
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            switch JSONL.decode(TestSample.self, from: Data(line.utf8), source: url.path, line: number) {
            case .success(let sample):
                if seen.insert(sample.id).inserted {
                    good += 1
                } else {
                    expected.append(
                        ChatbotTesterError(.invalidInput, "duplicate id '\(sample.id)'", location: SourceLocation(source: url.path, line: number, field: "id"))
                            .description)
                }
            case .failure(let error): expected.append(error.description)
            }
        }
        #expect(report.goodLines == good)
        #expect(report.badLines == expected.count)
        #expect(report.errors.map(\.description) == Array(expected.prefix(50)))
        #expect(lines.count >= 64)
    }
}
