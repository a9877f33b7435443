import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCore

/// `FastRecordEncoding`'s `TestSample` bytes (what a cluster coordinator spools) against
/// `JSONEncoder` (`JSONCoding.encoder()`), the reference: generated samples with awkward strings,
/// numbers and nested metadata, and the shapes the writer must leave to the encoder.
@Suite struct FastSampleEncodingTests {
    typealias Generator = SeededGenerator

    /// The spool's line shape: a synthesized two-member `Codable` struct, as `IndexedSample` is.
    struct Indexed: Encodable {
        var index: Int
        var sample: TestSample
    }

    static func reference(_ sample: TestSample, index: Int) throws -> [UInt8] {
        [UInt8](try JSONCoding.encoder().encode(Indexed(index: index, sample: sample)))
    }

    /// A sample with every member the writer handles set or not at random.
    static func sample(_ g: inout Generator) -> TestSample {
        let text = { (g: inout Generator) in FastRunRecordEncodingTests.strings.randomElement(using: &g)! }
        var sample = FastRunRecordEncodingTests.record(&g).sample
        if Bool.random(using: &g) { sample.id = text(&g) }
        if Int.random(in: 0..<4, using: &g) == 0 {
            sample.metadata = ["nested": FastRunRecordEncodingTests.value(&g, depth: 0), "n": .double(FastRunRecordEncodingTests.numbers.randomElement(using: &g)!)]
        }
        if Bool.random(using: &g) { sample.tags = (0..<Int.random(in: 0..<4, using: &g)).map { _ in text(&g) } }
        return sample
    }

    /// Integers are written digit by digit, no `String` made: the same text as `String(number)`,
    /// at the edges and at random, appended after what the buffer holds.
    @Test func integersAreWrittenAsTheirDescription() {
        var g = Generator(seed: 31)
        var edges = [0, 1, 9, 10, 11, 99, 100, -1, -9, -10, -11, Int.max, Int.min, Int.max - 1, Int.min + 1]
        for power in 1...18 {
            let ten = (0..<power).reduce(1) { n, _ in n * 10 }
            edges += [ten - 1, ten, ten + 1, -ten + 1, -ten, -ten - 1]
        }
        for number in edges + (0..<5000).map({ _ in Int.random(in: Int.min...Int.max, using: &g) >> Int.random(in: 0..<63, using: &g) }) {
            var out: [UInt8] = [0x2A]
            FastRecordEncoding.appendInt(number, to: &out)
            #expect(out == [0x2A] + Array(String(number).utf8), "\(number)")
        }
    }

    @Test(.cpuBound) func generatedSamplesMatchJSONEncoder() async throws {
        var g = Generator(seed: 29)
        var fast = 0
        for number in 0..<3000 {
            let sample = Self.sample(&g)
            let index = [0, 7, 10, 99_999, 1_234_567, Int.max].randomElement(using: &g)!
            var bytes: [UInt8] = [0x2A]  // appended after what is there
            guard FastRecordEncoding.appendIndexed(sample, index: index, to: &bytes) else { continue }
            fast += 1
            let expected = try Self.reference(sample, index: index)
            #expect(bytes.dropFirst().elementsEqual(expected), "sample \(number): \(String(decoding: bytes, as: UTF8.self)) != \(String(decoding: expected, as: UTF8.self))")
            #expect(FastRecordEncoding.bytes(sample) == [UInt8](try JSONCoding.encoder().encode(sample)))
            if !bytes.dropFirst().elementsEqual(expected) { return }
        }
        #expect(fast == 3000)
    }

    @Test func everyMemberIsWrittenAsTheEncoderWritesIt() throws {
        let sample = TestSample(
            id: "s/1", input: "hi \"there\"\n", system: "sys", expected: "e", criteria: "c", context: ["ctx", ""], tags: ["t", "ü"],
            metadata: ["m": 1, "list": [1.5, "x", nil, false], "obj": ["z": "last", "a": ["deep": -0.0]]], maxSteps: 3, referenceContexts: ["r"])
        let bytes = try #require(FastRecordEncoding.bytes(sample))
        #expect(bytes == [UInt8](try JSONCoding.encoder().encode(sample)))
        var scripted = TestSample(id: "t", turns: ["one", "two\u{7}"])
        scripted.schemaVersion = 1
        #expect(FastRecordEncoding.bytes(scripted) == [UInt8](try JSONCoding.encoder().encode(scripted)))
        // A member TestSample gains that the writer does not know fails here.
        let object = try #require(try JSONByteParser.parse(Data(bytes)).objectValue)
        #expect(Set(object.keys) == Set(TestSample.CodingKeys.allCases.map(\.stringValue)).subtracting(["scenario", "tools", "toolChoice", "expectedTools", "turns"]))
    }

    @Test func leavesToTheEncoderWhatItCannotVouchFor() {
        let plain = TestSample(id: "s", input: "x")
        var out: [UInt8] = []
        #expect(FastRecordEncoding.appendIndexed(plain, index: 0, to: &out))
        #expect(String(decoding: out, as: UTF8.self) == #"{"index":0,"sample":{"id":"s","input":"x","schemaVersion":2}}"#)
        var refused: [TestSample] = [
            TestSample(id: "s", scenario: Scenario(persona: "p", goal: "g")),
            TestSample(id: "s", input: "x", tools: []),
            TestSample(id: "s", input: "x", toolChoice: .auto),
            TestSample(id: "s", input: "x", expectedTools: []),
        ]
        for metadata: [String: JSONValue] in [["é": 1], ["n": .double(.nan)], ["n": .double(.infinity)]] {
            var sample = plain
            sample.metadata = metadata
            refused.append(sample)
        }
        var deep = JSONValue.int(1)
        for _ in 0..<70 { deep = .array([deep]) }
        refused.append(TestSample(id: "s", input: "x", metadata: ["deep": deep]))
        for sample in refused {
            var bytes: [UInt8] = []
            #expect(!FastRecordEncoding.appendIndexed(sample, index: 1, to: &bytes), "\(sample)")
            #expect(FastRecordEncoding.bytes(sample) == nil)
        }
    }
}
