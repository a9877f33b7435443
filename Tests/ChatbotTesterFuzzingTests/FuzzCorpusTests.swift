import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterFuzzing
import ChatbotTesterTesting
import Foundation
import Testing

/// The fuzz harnesses (`FuzzHarness`) on every run: each saved input of `Corpus/<harness>/` (the
/// seeds, and every input libFuzzer found failing, kept after its fix) and thousands of seeded
/// mutations of them hold — byte paths agree with their references, nothing crashes.
@Suite("Fuzz harnesses: the saved corpus and seeded mutations")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static func inputs(_ harness: FuzzHarness) -> [(name: String, bytes: Data)] {
        FuzzHarness.files(at: corpus.appendingPathComponent(harness.rawValue)).compactMap { url in
            (try? Data(contentsOf: url)).map { (url.lastPathComponent, $0) }
        }
    }

    @Test("the saved corpus", arguments: FuzzHarness.allCases)
    func savedCorpus(harness: FuzzHarness) {
        let inputs = Self.inputs(harness)
        #expect(inputs.count >= 3, "Corpus/\(harness.rawValue) holds seeds")
        for input in inputs {
            #expect(harness.check(input.bytes) == nil, "\(harness.rawValue)/\(input.name): \(harness.check(input.bytes) ?? "")")
        }
    }

    @Test("seeded mutations of the corpus", .cpuBound, arguments: FuzzHarness.allCases)
    func seededMutations(harness: FuzzHarness) async {
        let seeds = Self.inputs(harness).map(\.bytes)
        guard !seeds.isEmpty else { return }
        var mutator = FuzzMutator(seed: 0x5EED_0000 + UInt64(FuzzHarness.allCases.firstIndex(of: harness) ?? 0))
        var failures: [String] = []
        for round in 0..<3_000 {
            let input = mutator.mutate(seeds[round % seeds.count], other: seeds[(round * 7 + 3) % seeds.count])
            if let failure = harness.check(input), failures.count < 5 {
                failures.append("\(failure) — input: \(FuzzHarness.describe(input))")
            }
        }
        #expect(failures.isEmpty, "\(harness.rawValue): \(failures.joined(separator: "\n"))")
    }

    /// swift-foundation's `JSONDecoder` crashes on a document whose 513th opening bracket is its
    /// last byte; every decoder the project makes refuses it first.
    @Test(.cpuBound) func nestingThatCrashesJSONDecoderIsRefused() throws {
        let documents = [
            String(repeating: "[", count: 513), #"{"a":"# + String(repeating: "[", count: 512), #"{"body":{"samples":"# + String(repeating: "{\"a\":", count: 511),
        ].map { Data($0.utf8) }
        for document in documents {
            #expect(NestingCheckedJSONDecoder.firstTooDeep(document) != nil)
            #expect(throws: DecodingError.self) { try JSONCoding.decoder().decode(JSONValue.self, from: document) }
            #expect(throws: (any Error).self) { try ClusterMessageCodec().decode(document, peer: "test") }
            #expect(throws: (any Error).self) { try ClusterRecord.decode(journalLine: document) }
            #expect(throws: (any Error).self) { try JSONL.decode(TestSample.self, from: document, source: "test", line: 1).get() }
        }
        // Depth 512 is decoded; brackets inside strings do not count.
        let deepest = Data((String(repeating: "[", count: 512) + String(repeating: "]", count: 512)).utf8)
        #expect(NestingCheckedJSONDecoder.firstTooDeep(deepest) == nil)
        #expect(try JSONCoding.decoder().decode(JSONValue.self, from: deepest) != .null)
        let quoted = Data(("[\"" + String(repeating: "[", count: 600) + "\\\"[\"]").utf8)
        #expect(NestingCheckedJSONDecoder.firstTooDeep(quoted) == nil)
        #expect(try JSONCoding.decoder().decode([String].self, from: quoted).first?.count == 602)
    }

    /// A number with a fraction or an exponent and a magnitude of 2^53 or more: the byte parser
    /// gives what `JSONDecoder` gives (it rounded through `Double` before).
    @Test func largeNumbersWithAFractionOrAnExponentReadAsJSONDecoderReadsThem() throws {
        let cases = [
            "777777777777777777.7", "-777777777777777777.7", "777777777777777777.7777777777777", "777777777775555555.0",
            "7777777777755555.55e2", "9223372036854775807.0", "-9223372036854775808.0", "9.223372036854775807e18",
            "12345678901234567890e-1", "18446744073709551616e-1", "1000000000000000000000e-3", "9007199254740993.0",
            "1.00000000000000000000000001", "1e-400", "100000000000000000000000000000000000000000000000000000000000e-59",
        ]
        for text in cases {
            let bytes = Data(text.utf8)
            let fast = try JSONByteParser.parse(bytes)
            let reference = try JSONCoding.decoder().decode(JSONValue.self, from: bytes)
            #expect(fast == reference, "\(text): byte parser \(fast), JSONDecoder \(reference)")
            // As a `Double`: the same value, or refused as JSONDecoder refuses `1e-400`.
            if let reference = try? JSONCoding.decoder().decode(Double.self, from: bytes) {
                #expect(try JSONByteScanner.optionalDouble(bytes, at: 0..<bytes.count) == reference, "\(text) as a Double")
            } else {
                #expect(throws: JSONByteParser.Failure.self) { try JSONByteScanner.optionalDouble(bytes, at: 0..<bytes.count) }
            }
        }
    }
}
