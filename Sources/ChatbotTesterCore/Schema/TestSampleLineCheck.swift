/// A byte-level check of one dataset line, for `validate` at disk speed: it says that a line
/// certainly is a valid `TestSample` — strict syntax, known fields, the right types, exactly one
/// of `input`/`turns` — and where its `id` is, without building a value or a `String` per field.
///
/// It covers the shapes cases take in practice: plain-keyed members, strings (valid UTF-8, the
/// usual escapes), string lists, a `metadata` object of plain JSON, small integers. For anything
/// else — a `scenario` or `tools`, an escaped key or id, a surrogate escape, a number with an
/// exponent, a repeated key, and every invalid line — it answers `nil`, and the caller decodes
/// the line the usual way (`JSONL.decode`), which accepts or refuses it with the file:line:field
/// message. So the check may only err towards `nil`; a differential test compares it with the
/// decoder on valid and invalid lines.
enum TestSampleLineCheck {
    /// The byte range of the `id` string's body (no escapes in it) when `line` is certainly a
    /// valid test case; `nil` when the decoder must decide.
    static func idRange(_ line: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var scanner = Scanner(bytes: line)
        return scanner.sample()
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        // Members the check knows (bit per field; a repeated one is left to the decoder).
        private static let fieldID = 1 << 0, fieldInput = 1 << 1, fieldSystem = 1 << 2, fieldExpected = 1 << 3
        private static let fieldCriteria = 1 << 4, fieldTurns = 1 << 5, fieldContext = 1 << 6, fieldTags = 1 << 7
        private static let fieldReference = 1 << 8, fieldMetadata = 1 << 9, fieldVersion = 1 << 10, fieldMaxSteps = 1 << 11

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        @inline(__always)
        func at(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

        mutating func sample() -> Range<Int>? {
            skipSpace()
            guard at(UInt8(ascii: "{")) else { return nil }
            index += 1
            skipSpace()
            var seen = 0
            var id: Range<Int>?
            var hasInput = false
            var hasTurns = false
            if at(UInt8(ascii: "}")) { return nil }  // no id
            while true {
                skipSpace()
                guard at(UInt8(ascii: "\"")), let key = plainString() else { return nil }
                let field = self.field(key)
                guard field != 0, seen & field == 0 else { return nil }
                seen |= field
                skipSpace()
                guard at(UInt8(ascii: ":")) else { return nil }
                index += 1
                skipSpace()
                switch field {
                case Self.fieldID:
                    guard at(UInt8(ascii: "\"")), let body = plainString(), !body.isEmpty else { return nil }
                    id = body
                case Self.fieldInput:
                    guard let present = nullableString() else { return nil }
                    hasInput = present
                case Self.fieldSystem, Self.fieldExpected, Self.fieldCriteria:
                    guard nullableString() != nil else { return nil }
                case Self.fieldTurns:
                    guard let count = nullableStringList() else { return nil }
                    if count >= 0 {
                        guard count > 0 else { return nil }  // 'turns' must not be empty
                        hasTurns = true
                    }
                case Self.fieldContext, Self.fieldTags, Self.fieldReference:
                    guard nullableStringList() != nil else { return nil }
                case Self.fieldMetadata:
                    if literal("null") { break }
                    guard at(UInt8(ascii: "{")), value(depth: 0) else { return nil }
                case Self.fieldVersion:
                    guard let version = smallInteger(), version <= TestSample.currentSchemaVersion else { return nil }
                case Self.fieldMaxSteps:
                    if literal("null") { break }
                    guard let steps = smallInteger(), steps >= 1 else { return nil }
                default:
                    return nil
                }
                guard let closed = endOfElement(UInt8(ascii: "}")) else { return nil }
                if closed { break }
            }
            skipSpace()
            guard index == bytes.count, let id, hasInput != hasTurns else { return nil }
            return id
        }

        private static let fields: [(name: [UInt8], bit: Int)] = [
            ("id", fieldID), ("input", fieldInput), ("system", fieldSystem), ("expected", fieldExpected), ("criteria", fieldCriteria),
            ("turns", fieldTurns), ("context", fieldContext), ("tags", fieldTags), ("referenceContexts", fieldReference),
            ("metadata", fieldMetadata), ("schemaVersion", fieldVersion), ("maxSteps", fieldMaxSteps),
        ].map { (Array($0.0.utf8), $0.1) }

        /// The bit of the member named by the key's bytes; 0 for any other.
        func field(_ key: Range<Int>) -> Int {
            for (name, bit) in Self.fields where name.count == key.count {
                var same = true
                for offset in 0..<name.count where bytes[key.lowerBound + offset] != name[offset] {
                    same = false
                    break
                }
                if same { return bit }
            }
            return 0
        }

        /// After an element or member: past a comma (false) or the closing bracket (true); nil for
        /// anything else (a trailing comma shows up at the next element).
        mutating func endOfElement(_ closing: UInt8) -> Bool? {
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                return false
            }
            guard bytes[index] == closing else { return nil }
            index += 1
            return true
        }

        /// A string without escapes, control characters or invalid UTF-8 at `index` (on the quote):
        /// its body's range, the index past the closing quote.
        mutating func plainString() -> Range<Int>? {
            let start = index + 1
            var i = start
            var nonASCII = false
            while i < bytes.count {
                let byte = bytes[i]
                if byte == UInt8(ascii: "\"") {
                    let body = start..<i
                    if nonASCII, JSONByteParser.invalidUTF8Offset(UnsafeBufferPointer(rebasing: bytes[body])) != nil { return nil }
                    index = i + 1
                    return body
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                if byte >= 0x80 { nonASCII = true }
                i += 1
            }
            return nil
        }

        /// Any valid JSON string at `index` (on the quote): simple escapes and `\u` escapes outside
        /// the surrogate range; false for anything the check does not vouch for.
        mutating func string() -> Bool {
            var i = index + 1
            var runStart = i
            // The bytes of the run since `runStart` ORed together: a set top bit means non-ASCII
            // bytes, whose UTF-8 is then checked.
            var seen: UInt64 = 0
            let end = bytes.count
            guard let base = bytes.baseAddress else { return false }
            while i < end {
                // Eight bytes at a time while none is a quote, a backslash or a control byte.
                if i + 8 <= end {
                    let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                    if !Self.mayEndRun(word) {
                        seen |= word
                        i += 8
                        continue
                    }
                }
                let byte = bytes[i]
                if byte == UInt8(ascii: "\"") {
                    if !validUTF8(runStart..<i, seen) { return false }
                    index = i + 1
                    return true
                }
                if byte < 0x20 { return false }
                if byte == UInt8(ascii: "\\") {
                    if !validUTF8(runStart..<i, seen) { return false }
                    guard i + 1 < end else { return false }
                    switch bytes[i + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                        UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 2
                    case UInt8(ascii: "u"):
                        var at = i + 2
                        guard let code = try? JSONByteParser.hex4(bytes, at: &at, end: end), !(0xD800...0xDFFF).contains(code) else {
                            return false
                        }
                        i = at
                    default:
                        return false
                    }
                    runStart = i
                    seen = 0
                    continue
                }
                seen |= UInt64(byte)
                i += 1
            }
            return false
        }

        /// Whether some byte of `word` may be a quote, a backslash or below 0x20 (never a false
        /// "no"; bytes of 0x80 and above are not flagged).
        @inline(__always)
        static func mayEndRun(_ word: UInt64) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let zeroQuote = (quote &- ones) & ~quote
            let zeroBackslash = (backslash &- ones) & ~backslash
            let control = (word &- ones &* 0x20) & ~word
            return (zeroQuote | zeroBackslash | control) & highs != 0
        }

        /// Whether `range` is valid UTF-8; `seen` is its bytes ORed (ASCII when no top bit is set).
        func validUTF8(_ range: Range<Int>, _ seen: UInt64) -> Bool {
            seen & 0x8080_8080_8080_8080 == 0 || JSONByteParser.invalidUTF8Offset(UnsafeBufferPointer(rebasing: bytes[range])) == nil
        }

        /// The literal `word` at `index` (moved past it when there).
        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            let matches = word.withUTF8Buffer { w in (0..<count).allSatisfy { bytes[index + $0] == w[$0] } }
            if matches { index += count }
            return matches
        }

        /// A string or null: true for a string, false for null, nil otherwise.
        mutating func nullableString() -> Bool? {
            if literal("null") { return false }
            guard at(UInt8(ascii: "\"")), string() else { return nil }
            return true
        }

        /// An array of strings or null: the count, -1 for null, nil otherwise.
        mutating func nullableStringList() -> Int? {
            if literal("null") { return -1 }
            guard at(UInt8(ascii: "[")) else { return nil }
            index += 1
            skipSpace()
            if at(UInt8(ascii: "]")) {
                index += 1
                return 0
            }
            var count = 0
            while true {
                skipSpace()
                guard at(UInt8(ascii: "\"")), string() else { return nil }
                count += 1
                guard let closed = endOfElement(UInt8(ascii: "]")) else { return nil }
                if closed { return count }
            }
        }

        /// A non-negative integer of at most 9 digits, without sign, fraction or exponent.
        mutating func smallInteger() -> Int? {
            let start = index
            var value = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                // More than 9 digits is left to the decoder: stop before the value can overflow.
                guard index - start < 9 else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            let digits = index - start
            guard digits >= 1, digits <= 9, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            guard index == bytes.count || Self.isDelimiter(bytes[index]) else { return nil }
            return value
        }

        static func isDelimiter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D: true
            default: false
            }
        }

        /// A number `-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?` (no exponent, exactly representable
        /// enough that every reader agrees).
        mutating func simpleNumber() -> Bool {
            if at(UInt8(ascii: "-")) { index += 1 }
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            let digits = index - start
            guard digits >= 1, digits <= 15, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return false }
            if at(UInt8(ascii: ".")) {
                index += 1
                let fraction = index
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
                guard index - fraction >= 1, index - fraction <= 15 else { return false }
            }
            return index == bytes.count || Self.isDelimiter(bytes[index])
        }

        /// Any JSON value made of the pieces above; objects with at most 32 plain, distinct keys.
        mutating func value(depth: Int) -> Bool {
            guard depth < 64, index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true") && (index == bytes.count || Self.isDelimiter(bytes[index]))
            case UInt8(ascii: "f"): return literal("false") && (index == bytes.count || Self.isDelimiter(bytes[index]))
            case UInt8(ascii: "n"): return literal("null") && (index == bytes.count || Self.isDelimiter(bytes[index]))
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return simpleNumber()
            case UInt8(ascii: "["):
                index += 1
                skipSpace()
                if at(UInt8(ascii: "]")) {
                    index += 1
                    return true
                }
                while true {
                    skipSpace()
                    guard value(depth: depth + 1) else { return false }
                    guard let closed = endOfElement(UInt8(ascii: "]")) else { return false }
                    if closed { return true }
                }
            case UInt8(ascii: "{"):
                index += 1
                skipSpace()
                if at(UInt8(ascii: "}")) {
                    index += 1
                    return true
                }
                var keys: [Range<Int>] = []
                while true {
                    skipSpace()
                    // Plain ASCII keys only: then byte equality is the strict check's key equality.
                    guard at(UInt8(ascii: "\"")), let key = plainString(), keys.count < 32 else { return false }
                    for i in key where bytes[i] >= 0x80 { return false }
                    for other in keys where other.count == key.count {
                        if (0..<key.count).allSatisfy({ bytes[other.lowerBound + $0] == bytes[key.lowerBound + $0] }) { return false }
                    }
                    keys.append(key)
                    skipSpace()
                    guard at(UInt8(ascii: ":")) else { return false }
                    index += 1
                    skipSpace()
                    guard value(depth: depth + 1) else { return false }
                    guard let closed = endOfElement(UInt8(ascii: "}")) else { return false }
                    if closed { return true }
                }
            default:
                return false
            }
        }
    }
}
