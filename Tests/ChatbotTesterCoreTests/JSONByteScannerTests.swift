import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// The byte scanner against the byte parser (itself checked against Foundation): on every
/// document of the parser's differential corpus — hand-written, generated, spaced, mutated,
/// hostile — the scanner accepts exactly what the parser accepts, and the bytes at each member or
/// element range parse to the member or element the parser gives.
@Suite("JSON byte scanner vs parser")
struct JSONByteScannerTests {
    typealias Differential = JSONByteParserDifferentialTests

    /// Checks the scanner against the parser on `bytes`.
    static func check(_ bytes: [UInt8], _ label: @autoclosure () -> String) {
        let data = Data(bytes)
        let parsed = try? JSONByteParser.parse(bytes)
        let shown = String(decoding: bytes.prefix(160), as: UTF8.self)
        let validated = (try? JSONByteScanner.validate(data)) != nil
        #expect(validated == (parsed != nil), "\(label()): validate \(validated), parser \(parsed != nil) for \(shown)")
        switch parsed {
        case .object(let members)?:
            guard let scanned = try? JSONByteScanner.members(ofObject: data) else {
                Issue.record("\(label()): members refused an object the parser reads: \(shown)")
                return
            }
            var firsts: [String: JSONValue] = [:]
            for member in scanned where firsts[member.name] == nil {
                firsts[member.name] = try? JSONByteScanner.value(data, at: member.value)
            }
            #expect(firsts == members, "\(label()): members differ for \(shown)")
            #expect((try? JSONByteScanner.elements(ofArray: data)) == nil, "\(label()): an object read as an array")
        case .array(let items)?:
            let scanned = (try? JSONByteScanner.elements(ofArray: data)) ?? []
            #expect(scanned.map { try? JSONByteScanner.value(data, at: $0) } == items.map(Optional.some), "\(label()): elements differ for \(shown)")
            #expect((try? JSONByteScanner.members(ofObject: data)) == nil, "\(label()): an array read as an object")
        case nil:
            #expect((try? JSONByteScanner.members(ofObject: data)) == nil, "\(label()): members accepted what the parser refuses: \(shown)")
            #expect((try? JSONByteScanner.elements(ofArray: data)) == nil, "\(label()): elements accepted what the parser refuses: \(shown)")
        default:
            #expect((try? JSONByteScanner.members(ofObject: data)) == nil)
            #expect((try? JSONByteScanner.elements(ofArray: data)) == nil)
        }
    }

    @Test func handWrittenDocuments() {
        for text in Differential.valid + Differential.invalid { Self.check(Array(text.utf8), "hand-written") }
        let more = [
            #"{"a":"x\"}\"","b":[{"c":"]"}],"c":{"d":[1,{"e":"}"}]}}"#, #"{"k\u0041y":1,"k\"":2}"#, #"{"a":1} "#, #"{"a":1}}"#,
            #"{"a":1,"a":2}"#, #"[{"a":[]},{},[],"",0]"#, #"{"n":-0.0e+0}"#, #"{"n":1e999}"#, #"{"n":12345678901234567890123}"#,
        ]
        for text in more { Self.check(Array(text.utf8), "hand-written") }
    }

    @Test(.cpuBound) func generatedSpacedAndMutatedDocuments() async throws {
        var random = SeededGenerator(seed: 4242)
        for round in 0..<400 {
            let written = JSONByteWriter.bytes(Differential.randomValue(&random))
            Self.check(written, "round \(round)")
            Self.check(Differential.spaced(written, &random), "spaced round \(round)")
            Self.check(Array(try JSONEncoder().encode(Differential.randomValue(&random))), "JSONEncoder round \(round)")
        }
        for round in 0..<2000 {
            var bytes = JSONByteWriter.bytes(.object(["v": Differential.randomValue(&random), "w": Differential.randomValue(&random)]))
            Differential.mutate(&bytes, &random)
            Self.check(bytes, "mutation round \(round)")
        }
    }

    @Test func invalidUTF8SurrogatesAndHostileNesting() {
        let cases: [[UInt8]] = [
            [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], [0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D],
            Array(#"{"a":"\ud800"}"#.utf8), Array(#"{"a":"\udc00x"}"#.utf8), Array(#"["\ud800\u0041"]"#.utf8),
            [0xEF, 0xBB, 0xBF] + Array(#"{"a":1}"#.utf8),
        ]
        for bytes in cases { Self.check(bytes, "bytes \(bytes)") }
        for depth in [1, 100, 511, 512, 513] {
            Self.check(Array((#"{"a":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8), "depth \(depth)")
        }
        // Hostile depth: refused with its offset, no stack overflow.
        let hostile = Data(("[" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_001)).utf8)
        #expect(throws: JSONByteScanner.Failure.self) { try JSONByteScanner.elements(ofArray: hostile) }
    }

    @Test func failuresCarryTheByteOffset() {
        let data = Data(#"{"a":[1,2],"b":tru}"#.utf8)
        do {
            _ = try JSONByteScanner.members(ofObject: data)
            Issue.record("accepted")
        } catch {
            #expect(error.offset == 15)
        }
    }

    @Test func readsValuesAtRanges() throws {
        let data = Data(#"{"body":[{"a":1},{"a":"é\n"}], "type" : "records", "n": 2.5, "z": null, "i": -7}"#.utf8)
        let members = try JSONByteScanner.members(ofObject: data)
        #expect(members.map(\.name) == ["body", "type", "n", "z", "i"])
        let value = { (name: String) in members.first { $0.name == name }!.value }
        #expect(try JSONByteScanner.string(data, at: value("type")) == "records")
        #expect(try JSONByteScanner.optionalDouble(data, at: value("n")) == 2.5)
        #expect(try JSONByteScanner.optionalDouble(data, at: value("z")) == nil)
        #expect(JSONByteScanner.isNull(data, at: value("z")))
        #expect(try JSONByteScanner.int(data, at: value("i")) == -7)
        #expect(throws: JSONByteScanner.Failure.self) { try JSONByteScanner.int(data, at: value("n")) }
        #expect(throws: JSONByteScanner.Failure.self) { try JSONByteScanner.string(data, at: value("n")) }
        let elements = try JSONByteScanner.elements(ofArray: data, in: value("body"))
        #expect(elements.map { String(decoding: data[$0], as: UTF8.self) } == [#"{"a":1}"#, #"{"a":"é\n"}"#])
        let second = try JSONByteScanner.members(ofObject: data, in: elements[1])
        #expect(try JSONByteScanner.string(data, at: second[0].value) == "é\n")
        // A slice of a larger buffer: ranges are offsets from the slice's start.
        let slice = (Data("xx".utf8) + data)[2...]
        #expect(try JSONByteScanner.members(ofObject: slice).map(\.value) == members.map(\.value))
    }
}
