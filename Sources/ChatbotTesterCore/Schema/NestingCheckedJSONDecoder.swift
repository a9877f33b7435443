import Foundation

/// `JSONDecoder` that refuses a document nested deeper than its own limit before decoding it.
///
/// swift-foundation's decoder (the one Swift 6.3 ships) refuses nesting deeper than 512 levels,
/// but crashes the process doing so when the 513th opening bracket is the document's last byte
/// (`[` × 513, or `{"a":` and 512 more): locating the error reads past the end of its buffer. A
/// peer's frame, a journal line, a reply or a file could carry exactly that. This decoder scans the
/// nesting first (strings skipped, linear in the bytes, no allocation) and throws
/// `DecodingError.dataCorrupted` naming the byte where the document goes deeper than
/// `maxDepth`; everything else reaches `JSONDecoder` unchanged. `JSONCoding.decoder()` makes one.
public final class NestingCheckedJSONDecoder: JSONDecoder, @unchecked Sendable {
    /// The deepest nesting of arrays and objects passed on: `JSONDecoder`'s own limit.
    public static let maxDepth = 512

    override public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if let offset = Self.firstTooDeep(data) {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: [], debugDescription: "The given data was not valid JSON: nested deeper than \(Self.maxDepth) levels at byte \(offset)."))
        }
        return try super.decode(type, from: data)
    }

    /// The offset of the bracket that opens level `maxDepth + 1`, or nil when the document never
    /// nests that deep (brackets inside strings do not count; a malformed document is left to the
    /// decoder).
    public static func firstTooDeep(_ data: Data) -> Int? {
        data.withUnsafeBytes { raw -> Int? in
            let count = raw.count
            var depth = 0
            var index = 0
            while index < count {
                switch raw[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    while index < count {
                        let byte = raw[index]
                        if byte == UInt8(ascii: "\\") {
                            index += 2
                            continue
                        }
                        if byte == UInt8(ascii: "\"") { break }
                        index += 1
                    }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > maxDepth { return index }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth = max(0, depth - 1)
                default:
                    break
                }
                index += 1
            }
            return nil
        }
    }
}
