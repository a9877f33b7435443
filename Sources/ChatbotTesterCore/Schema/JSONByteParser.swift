import Foundation

/// A small, fast JSON parser straight from UTF-8 bytes to `JSONValue` (RFC 8259).
///
/// Every HTTP reply, every mock-server request and the byte-level paths of journals and spools go
/// through it, so it avoids `JSONDecoder`'s try-each-type decoding of `JSONValue`. It accepts and
/// rejects what Foundation's `JSONDecoder` does and gives the same value (a differential test checks
/// it): numbers whose value is integral and fits `Int` are `.int`, others `.double` (a number too
/// large for `Double` is refused); a duplicated member name keeps its first value; one trailing
/// comma in an array or object is accepted and a leading UTF-8 byte-order mark skipped; strings
/// must be valid UTF-8 and `\u` escapes must pair their surrogates. Unlike `JSONDecoder`, integers
/// beyond 2^53 keep every digit. Nesting deeper than `maxDepth` is refused, so hostile input
/// cannot exhaust the stack.
///
/// ```swift
/// let value = try JSONByteParser.parse(Data(#"{"a": [1, 2.5, "x"]}"#.utf8))
/// ```
public struct JSONByteParser {
    /// Why a document was refused, and where.
    public struct Failure: Error, CustomStringConvertible {
        /// The byte offset of the problem.
        public var offset: Int
        /// What is wrong there.
        public var message: String
        public var description: String { "invalid JSON at byte \(offset): \(message)" }
    }

    /// The deepest nesting of arrays and objects accepted.
    public static let maxDepth = 512

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Refuses what `StrictJSONSyntax` refuses besides what `JSONDecoder` does: a duplicated
    /// member name, a trailing comma, nesting deeper than `StrictJSONSyntax.maxDepth`. For the
    /// record readers that stand in for the strict check and the decoder together.
    var strict = false

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Parses one JSON value filling the whole input (surrounding whitespace allowed).
    public static func parse<Bytes: Sequence<UInt8>>(_ input: Bytes) throws(Failure) -> JSONValue {
        let read = { (buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, Failure> in parse(buffer: buffer, members: nil) }
        let result = input.withContiguousStorageIfAvailable(read) ?? Array(input).withUnsafeBufferPointer(read)
        return try result.get()
    }

    /// The named members of a top-level object, read without building the others: every byte is
    /// still checked (a document `parse` refuses is refused here too), but members not asked for
    /// are skipped, not turned into values. For routing on a few fields of a large record (its id,
    /// its index) while the record's bytes pass through untouched.
    ///
    /// ```swift
    /// let fields = try JSONByteParser.members(["sampleId"], of: line)   // ["sampleId": .string("q1")]
    /// ```
    /// - Returns: the members found (a missing name is absent; a duplicated one keeps its first value).
    public static func members<Bytes: Sequence<UInt8>>(_ names: Set<String>, of input: Bytes) throws(Failure) -> [String: JSONValue] {
        let read = { (buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, Failure> in parse(buffer: buffer, members: names) }
        let result = input.withContiguousStorageIfAvailable(read) ?? Array(input).withUnsafeBufferPointer(read)
        guard case .object(let members) = try result.get() else { return [:] }
        return members
    }

    /// Parses the whole buffer; with `members`, the top level must be an object and only those
    /// members are built.
    private static func parse(buffer: UnsafeBufferPointer<UInt8>, members: Set<String>?) -> Result<JSONValue, Failure> {
        var parser = JSONByteParser(buffer)
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { parser.index = 3 }
        do throws(Failure) {
            parser.skipWhitespace()
            let value: JSONValue
            if let members {
                guard parser.index < buffer.count, buffer[parser.index] == UInt8(ascii: "{") else { throw parser.failure("expected an object") }
                value = try parser.object(depth: 0, keeping: members)
            } else {
                value = try parser.value(depth: 0)
            }
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.failure("unexpected data after the value") }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    func failure(_ message: String) -> Failure {
        Failure(offset: index, message: message)
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < (strict ? StrictJSONSyntax.maxDepth - 1 : Self.maxDepth) else { throw failure("nested too deeply") }
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("unexpected character")
        }
    }

    /// Checks one value and moves past it without building arrays or objects.
    private mutating func skipValue(depth: Int) throws(Failure) {
        guard depth < Self.maxDepth else { throw failure("nested too deeply") }
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): _ = try object(depth: depth, keeping: [])
        case UInt8(ascii: "["): _ = try array(depth: depth, keeping: false)
        default: _ = try value(depth: depth)
        }
    }

    mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw failure("unexpected character")
        }
        index += count
    }

    /// An object; with `keeping`, only those members are built (the others are checked and skipped).
    private mutating func object(depth: Int, keeping: Set<String>? = nil) throws(Failure) -> JSONValue {
        var members: [String: JSONValue] = [:]
        try readObject(depth: depth) { (parser: inout JSONByteParser, key: String) throws(Failure) in
            if keeping?.contains(key) ?? true {
                let member = try parser.value(depth: depth + 1)
                if members[key] == nil {
                    members[key] = member
                } else if parser.strict {
                    throw parser.failure("duplicate member name")
                }
            } else {
                try parser.skipValue(depth: depth + 1)
            }
        }
        return .object(members)
    }

    /// An array; with `keeping: false` its items are checked and skipped (an empty array is returned).
    private mutating func array(depth: Int, keeping: Bool = true) throws(Failure) -> JSONValue {
        var items: [JSONValue] = []
        try readArray(depth: depth) { (parser: inout JSONByteParser) throws(Failure) in
            if keeping {
                items.append(try parser.value(depth: depth + 1))
            } else {
                try parser.skipValue(depth: depth + 1)
            }
        }
        return .array(items)
    }

    /// An object at `depth`: `body` gets each member's name with the reader at its value, and
    /// must read exactly that value.
    mutating func readObject(depth: Int, _ body: (inout JSONByteParser, String) throws(Failure) -> Void) throws(Failure) {
        guard depth < (strict ? StrictJSONSyntax.maxDepth - 1 : Self.maxDepth) else { throw failure("nested too deeply") }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw failure("expected an object") }
        index += 1
        if closes(UInt8(ascii: "}")) { return }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            skipWhitespace()
            try body(&self, key)
            if try endsAfterItem(UInt8(ascii: "}")) { return }
        }
    }

    /// An array at `depth`: `body` is called with the reader at each item and must read it.
    mutating func readArray(depth: Int, _ body: (inout JSONByteParser) throws(Failure) -> Void) throws(Failure) {
        guard depth < (strict ? StrictJSONSyntax.maxDepth - 1 : Self.maxDepth) else { throw failure("nested too deeply") }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { throw failure("expected an array") }
        index += 1
        if closes(UInt8(ascii: "]")) { return }
        while true {
            skipWhitespace()
            try body(&self)
            if try endsAfterItem(UInt8(ascii: "]")) { return }
        }
    }

    /// Skips whitespace and, when the next byte is `close`, moves past it: `true`.
    mutating func closes(_ close: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == close else { return false }
        index += 1
        return true
    }

    /// After an item: `,` (then more items, or `close` after one trailing comma, as `JSONDecoder`
    /// accepts) or `close`. `true` when the container ended.
    mutating func endsAfterItem(_ close: UInt8) throws(Failure) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end") }
        if bytes[index] == UInt8(ascii: ",") {
            index += 1
            guard closes(close) else { return false }
            if strict { throw failure("trailing comma") }
            return true
        }
        guard bytes[index] == close else { throw failure("expected ',' or '\(Character(Unicode.Scalar(close)))'") }
        index += 1
        return true
    }

    mutating func string() throws(Failure) -> String {
        index += 1
        let start = index
        var nonASCII = false
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                if nonASCII, let bad = Self.invalidUTF8Offset(raw) { throw Failure(offset: start + bad, message: "invalid UTF-8 in string") }
                index += 1
                return String(decoding: raw, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw failure("control character in string") }
            if byte >= 0x80 { nonASCII = true }
            index += 1
        }
        var scalars = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                if nonASCII, let bad = scalars.withUnsafeBufferPointer(Self.invalidUTF8Offset) {
                    throw Failure(offset: start + bad, message: "invalid UTF-8 in string")
                }
                index += 1
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw failure("unexpected end") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code) {
                        // A surrogate pair: the low half must follow as another \u escape.
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw failure("unpaired surrogate in \\u escape")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw failure("unpaired surrogate in \\u escape")
                    }
                    scalars.append(contentsOf: String(Character(Unicode.Scalar(code) ?? "\u{FFFD}")).utf8)
                default:
                    throw failure("invalid escape")
                }
            default:
                if byte < 0x20 { throw failure("control character in string") }
                if byte >= 0x80 { nonASCII = true }
                scalars.append(byte)
                index += 1
            }
        }
        throw failure("unterminated string")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        try Self.hex4(bytes, at: &index, end: bytes.count)
    }

    /// The four hex digits of a `\\u` escape at `index` (advanced past them; to the bad digit on
    /// failure), for the parser, `JSONByteScanner` and other byte readers (the cluster's line check).
    public static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, at index: inout Int, end: Int) throws(Failure) -> UInt32 {
        guard index + 4 <= end else { throw Failure(offset: index, message: "unexpected end") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Failure(offset: index, message: "invalid \\u escape")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    mutating func number() throws(Failure) -> JSONValue {
        let start = index
        let (text, integral) = try numberText()
        if integral, let value = Int(text) { return .int(value) }
        guard let value = Double(text) else { throw failure("invalid number") }
        guard value.isFinite else { throw Failure(offset: start, message: "number out of range") }
        // As JSONDecoder's `JSONValue` decoding: digits beyond `Int` are a double; a fraction or
        // exponent whose value is integral and fits `Int` is an integer.
        if !integral, let exact = Int(exactly: value) {
            // Below 2^53 the double is the number's integer exactly, as JSONDecoder takes it.
            if value.magnitude < Self.exactDoubleLimit { return .int(exact) }
            // Above, the double may have rounded a fraction away ("777777777777777777.7") or an
            // integer to its neighbour; JSONDecoder decides those through `Decimal`, with rules of
            // its own: it is asked (rare: a fraction or exponent on a number this large).
            if let decided = try? JSONDecoder().decode(Int.self, from: Data(text.utf8)) { return .int(decided) }
        }
        return .double(value)
    }

    /// Whether `text` (a number) is not zero but reads as `Double` zero (`1e-400`): `JSONDecoder`
    /// refuses it as a `Double` (a `JSONValue` takes it as the integer 0).
    static func underflows(_ text: String, to value: Double) -> Bool {
        value == 0 && text.utf8.prefix { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }.contains { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }
    }

    /// 2^53: every integer of smaller magnitude is exactly a `Double`.
    static let exactDoubleLimit = 9_007_199_254_740_992.0

    /// The text of the number here (checked against JSON's grammar) and whether it is written as
    /// an integer (no fraction, no exponent).
    mutating func numberText() throws(Failure) -> (text: String, integral: Bool) {
        let start = index
        var integral = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
            throw failure("invalid number")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw failure("invalid number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw failure("invalid number") }
        }
        return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self), integral)
    }

    /// The offset of the first byte that is not well-formed UTF-8 (overlong forms, surrogates and
    /// code points above U+10FFFF included), or `nil` when all are.
    static func invalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var code: UInt32
            switch lead {
            case 0xC2...0xDF: length = 2; code = UInt32(lead & 0x1F)
            case 0xE0...0xEF: length = 3; code = UInt32(lead & 0x0F)
            case 0xF0...0xF4: length = 4; code = UInt32(lead & 0x07)
            default: return i
            }
            guard i + length <= bytes.count else { return i }
            for k in 1..<length {
                let next = bytes[i + k]
                guard next & 0xC0 == 0x80 else { return i }
                code = code << 6 | UInt32(next & 0x3F)
            }
            if length == 3, code < 0x800 || (0xD800...0xDFFF).contains(code) { return i }
            if length == 4, code < 0x10000 || code > 0x10FFFF { return i }
            i += length
        }
        return nil
    }
}
