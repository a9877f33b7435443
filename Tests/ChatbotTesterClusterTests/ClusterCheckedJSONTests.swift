import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// `ClusterCheckedJSON` finds members in bytes checked already: on well-formed JSON it must give the
/// checked scanner's members and elements, or refuse (a name with an escape); on anything else it
/// must stay inside its range and never trap.
@Suite struct ClusterCheckedJSONTests {
    static func members(_ data: Data, _ range: Range<Int>) -> [JSONByteScanner.Member]? {
        var out: [JSONByteScanner.Member] = []
        let whole = ClusterCheckedJSON.forEachMember(of: data, in: range) { out.append(JSONByteScanner.Member(name: $0, value: $1)) }
        return whole ? out : nil
    }

    static func elements(_ data: Data, _ range: Range<Int>) -> [Range<Int>]? {
        var out: [Range<Int>] = []
        return ClusterCheckedJSON.forEachElement(of: data, in: range) { out.append($0) } ? out : nil
    }

    static var objects: [String] {
        [
            #"{}"#, #"{ }"#, #"{"a":1}"#, #"{ "a" : [1, {"b":"}"}] , "c":"x\"y" ,"d":null,"e":true,"f":-1.5e3}"#,
            #"{"n\u0061me":1}"#, #"{"a":{"b":{"c":[[],{}]}},"z":"\\"}"#,
            String(decoding: try! JSONCoding.encoder().encode(LeanDataPathTests.records()[0]), as: UTF8.self),
        ]
    }

    @Test func wellFormedObjectsGiveTheCheckedScannersMembers() throws {
        for text in Self.objects {
            let data = Data(text.utf8)
            let checked = try JSONByteScanner.members(ofObject: data)
            let found = Self.members(data, 0..<data.count)
            if text.contains(#"\u0061"#) {
                #expect(found == nil)
            } else {
                #expect(found == checked, "\(text)")
            }
            for member in checked where data[member.value.lowerBound] == UInt8(ascii: "[") {
                #expect(Self.elements(data, member.value) == (try JSONByteScanner.elements(ofArray: data, in: member.value)))
            }
        }
    }

    /// Every one-byte change and cut of well-formed objects: what the checked scanner accepts gives
    /// its members (or a refusal); the rest never traps and gives ranges inside the input.
    @Test(.cpuBound) func damagedBytesStayInBounds() throws {
        for text in Self.objects {
            let original = Array(text.utf8)
            var variants: [[UInt8]] = (0..<original.count).map { Array(original[..<$0]) }
            for position in original.indices {
                for byte in [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "{"), UInt8(ascii: "]"), UInt8(ascii: ","), 0x20] {
                    var changed = original
                    changed[position] = byte
                    variants.append(changed)
                }
            }
            for bytes in variants {
                let data = Data(bytes)
                let found = Self.members(data, 0..<data.count)
                for member in found ?? [] { #expect(member.value.lowerBound >= 0 && member.value.upperBound <= data.count) }
                if let checked = try? JSONByteScanner.members(ofObject: data), let found {
                    #expect(found == checked, "\(String(decoding: bytes, as: UTF8.self))")
                }
            }
        }
    }
}
