@testable import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

@Suite("JSON on the wire")
struct JSONWireTests {
    static let samples = [
        #"{"a": [1, -2, 3.5, 1e3, -0.25E-2, true, false, null], "b": {"c": "d"}, "e": ""}"#,
        #"{"escapes": "q\"b\\s\/n\nt\tu\u00e9 emoji \ud83d\ude00 ctl \u0001", "unicode": "héllo wörld ✓"}"#,
        #"[]"#, #"{}"#, #"  "text"  "#, #"12345678901234"#, #"[[[[{"deep": [0]}]]]]"#,
        #"{"big": 123456789012345678901234567890, "small": 5e-324}"#,
    ]

    @Test("parses like JSONDecoder", arguments: samples)
    func parses(text: String) throws {
        let fast = try JSONByteParser.parse(Array(text.utf8))
        let reference = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(fast == reference)
    }

    @Test("writes what it reads", arguments: samples)
    func roundTrips(text: String) throws {
        let value = try JSONByteParser.parse(Array(text.utf8))
        let written = JSONWire.encode(value)
        #expect(try JSONByteParser.parse(written) == value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: written) == value)
    }

    @Test("rejects malformed input", arguments: [
        "", "{", "[1,,]", "{\"a\" 1}", "{,}", "tru", "01", "1.", "-", "\"unterminated", "\"bad \\x escape\"",
        "[1] 2", "{\"a\":\"line\nbreak\"}", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ])
    func rejects(text: String) {
        #expect(throws: JSONByteParser.Failure.self) { try JSONByteParser.parse(Array(text.utf8)) }
    }

    @Test("writes sorted keys and JSON-safe numbers")
    func writes() {
        let value: JSONValue = ["b": 1, "a": [2.0, 0.5, .double(.infinity)], "c": "x\"y"]
        #expect(String(decoding: JSONWire.encode(value), as: UTF8.self) == #"{"a":[2.0,0.5,null],"b":1,"c":"x\"y"}"#)
    }
}
