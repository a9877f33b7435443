import ChatbotTesterCore
import Foundation

/// Seeded mutations of saved inputs: what the test suite feeds the harnesses on every run, with
/// no coverage feedback (libFuzzer, `ops/fuzz.sh`, searches far deeper), so each harness meets
/// thousands of nearby malformed inputs whatever the machine.
public struct FuzzMutator: Sendable {
    /// Bytes JSON parsers branch on, inserted and overwritten more often than random ones.
    static let interesting: [UInt8] = Array(#"{}[]",:\/0123456789-+.eE tnfu"#.utf8) + [0x00, 0x0A, 0x0D, 0x09, 0x7F, 0x80, 0xC3, 0xED, 0xF0, 0xFF]
    /// Whole tokens spliced in: escapes, surrogates, numbers at the edges of `Int` and `Double`.
    static let tokens: [String] = [
        #"\u0000"#, #"\ud800"#, #"\udc00"#, #"\ud83d\ude00"#, #"\""#, "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "777777777777777777.7", "1e400", "1e-400", "4.9e-324", "9007199254740993.0", "-0", "0.0",
        "null", "true", "false", #""schemaVersion":2"#, #""id":"x""#, "{}", "[]", ",", ":",
    ]

    private var random: SeededGenerator

    public init(seed: UInt64) {
        random = SeededGenerator(seed: seed)
    }

    /// One mutation of `input`, sometimes spliced with `other`.
    public mutating func mutate(_ input: Data, other: Data) -> Data {
        var bytes = [UInt8](input)
        for _ in 0...random.int(below: 3) {
            let position = bytes.isEmpty ? 0 : random.int(below: bytes.count + 1)
            switch random.int(below: 9) {
            case 0 where !bytes.isEmpty:
                bytes[min(position, bytes.count - 1)] ^= UInt8(1 << random.int(below: 8))
            case 1:
                bytes.insert(random.pick(Self.interesting), at: position)
            case 2 where !bytes.isEmpty:
                bytes[min(position, bytes.count - 1)] = random.pick(Self.interesting)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + 1 + random.int(below: 16))
                bytes.removeSubrange(min(position, end)..<end)
            case 4:
                bytes.insert(contentsOf: Array(random.pick(Self.tokens).utf8), at: position)
            case 5 where !bytes.isEmpty:
                let start = random.int(below: bytes.count)
                let end = min(bytes.count, start + 1 + random.int(below: 32))
                bytes.insert(contentsOf: Array(bytes[start..<end]), at: position)
            case 6 where !other.isEmpty:
                let start = random.int(below: other.count)
                let end = min(other.count, start + 1 + random.int(below: 64))
                bytes.insert(contentsOf: [UInt8](other[(other.startIndex + start)..<(other.startIndex + end)]), at: position)
            case 7:
                bytes = Array(bytes.prefix(position))
            default:
                // Deep nesting, ending at the input's end as often as not.
                let opener: UInt8 = random.chance(0.5) ? UInt8(ascii: "[") : UInt8(ascii: "{")
                let run = [UInt8](repeating: opener, count: 500 + random.int(below: 30))
                bytes = random.chance(0.5) ? Array(bytes.prefix(position)) + run : Array(bytes.prefix(position)) + run + Array(bytes.suffix(from: position))
            }
        }
        return Data(bytes)
    }
}
