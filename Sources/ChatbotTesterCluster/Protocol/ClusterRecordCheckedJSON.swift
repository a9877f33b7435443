import Foundation

/// Finds the members of a JSON object, or the elements of an array, in bytes that were checked
/// already — a record the envelope's walk accepted (`ClusterRecordEnvelope`: every byte of it is
/// checked to be well-formed JSON) — without checking them again: `JSONByteScanner` checks every
/// byte of a value it skips, which the coordinator's per-record read of the statistics
/// (`ClusterRunFacts`) would pay a second time.
///
/// It only finds where things are; values are still read with `JSONByteScanner`'s checked readers
/// (`string`, `int`, `optionalDouble`). On bytes that are not well-formed the ranges it gives stay
/// inside the given range and it returns false where it sees the fault; a member name written with
/// an escape (`"latency\u004ds"`) also returns false, so a caller can fall back to the checked
/// scanner, which unescapes names, and read exactly what it would have read.
public enum ClusterCheckedJSON {
    /// Calls `visit` with each member of the object filling `range` of `data` (offsets from
    /// `data.startIndex`): its name and where its value is. Returns false (having visited some
    /// members perhaps) when the object is not well-formed or a name has an escape.
    public static func forEachMember(of data: Data, in range: Range<Int>, _ visit: (String, Range<Int>) throws -> Void) rethrows -> Bool {
        try container(data, range, open: UInt8(ascii: "{"), close: UInt8(ascii: "}")) { cursor in
            guard let name = cursor.plainString() else { return false }
            cursor.skipSpace()
            guard cursor.take(UInt8(ascii: ":")) else { return false }
            cursor.skipSpace()
            guard let value = cursor.value() else { return false }
            try visit(String(decoding: UnsafeBufferPointer(rebasing: cursor.bytes[name]), as: UTF8.self), value)
            return true
        }
    }

    /// Calls `visit` with where each element of the array filling `range` of `data` is. Returns
    /// false when the array is not well-formed.
    public static func forEachElement(of data: Data, in range: Range<Int>, _ visit: (Range<Int>) throws -> Void) rethrows -> Bool {
        try container(data, range, open: UInt8(ascii: "["), close: UInt8(ascii: "]")) { cursor in
            guard let value = cursor.value() else { return false }
            try visit(value)
            return true
        }
    }

    /// The object or array filling `range`, opened by `open`: `item` reads each member or element
    /// (false: not well-formed).
    private static func container(
        _ data: Data, _ range: Range<Int>, open: UInt8, close: UInt8, _ item: (inout Cursor) throws -> Bool
    ) rethrows -> Bool {
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard range.lowerBound >= 0, range.upperBound <= bytes.count else { return false }
            var cursor = Cursor(bytes: bytes, at: range.lowerBound, end: range.upperBound)
            guard cursor.take(open) else { return false }
            cursor.skipSpace()
            if cursor.take(close) { return true }
            while true {
                cursor.skipSpace()
                guard try item(&cursor) else { return false }
                cursor.skipSpace()
                if cursor.take(UInt8(ascii: ",")) { continue }
                return cursor.take(close)
            }
        }
    }

    /// A position in checked bytes; every step stays below `end`.
    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var at: Int
        let end: Int

        mutating func take(_ byte: UInt8) -> Bool {
            guard at < end, bytes[at] == byte else { return false }
            at += 1
            return true
        }

        mutating func skipSpace() {
            while at < end, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
        }

        /// A string with no escape: the range of its contents (nil for an escape or no string).
        mutating func plainString() -> Range<Int>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = at
            while at < end {
                switch bytes[at] {
                case UInt8(ascii: "\""):
                    at += 1
                    return start..<(at - 1)
                case UInt8(ascii: "\\"): return nil
                default: at += 1
                }
            }
            return nil
        }

        /// Moves past a string whose opening quote is at `at`.
        mutating func skipString() -> Bool {
            at += 1
            while at < end {
                switch bytes[at] {
                case UInt8(ascii: "\""):
                    at += 1
                    return true
                case UInt8(ascii: "\\"): at += 2
                default: at += 1
                }
            }
            return false
        }

        /// Moves past the value here; its range.
        mutating func value() -> Range<Int>? {
            let start = at
            guard at < end else { return nil }
            switch bytes[at] {
            case UInt8(ascii: "\""):
                guard skipString() else { return nil }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                repeat {
                    guard at < end else { return nil }
                    switch bytes[at] {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return nil }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    at += 1
                } while depth > 0
            default:
                while at < end {
                    let byte = bytes[at]
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 0x20 || byte == 0x0A
                        || byte == 0x0D || byte == 0x09
                    {
                        break
                    }
                    at += 1
                }
                guard at > start else { return nil }
            }
            return at <= end ? start..<at : nil
        }
    }
}
