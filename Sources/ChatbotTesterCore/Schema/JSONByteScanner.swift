import Foundation

/// Finds where the members of a JSON object, or the elements of an array, sit in its UTF-8 bytes,
/// without building values: a path that only routes or copies JSON (a cluster coordinator
/// journaling records as a worker sent them, a merge copying each record's parts) reads the few
/// fields it needs and keeps the rest as bytes.
///
/// Every value it skips is checked as `JSONByteParser` checks it (strings with their escapes and
/// UTF-8, numbers in range, literals, nesting below `maxDepth`), so the scanner accepts exactly
/// the documents the parser accepts (a differential test checks it): bytes it hands out are
/// well-formed JSON. Ranges are byte offsets from the start of the input.
///
/// ```swift
/// let frame = Data(#"{"body":[{"a":1},{"a":2}],"type":"records"}"#.utf8)
/// let members = try JSONByteScanner.members(ofObject: frame)
/// let body = members.first { $0.name == "body" }!.value
/// let elements = try JSONByteScanner.elements(ofArray: frame, in: body)   // two ranges
/// let type = try JSONByteScanner.string(frame, at: members.first { $0.name == "type" }!.value)
/// ```
public enum JSONByteScanner {
    /// Why bytes were refused, and at which byte offset.
    public typealias Failure = JSONByteParser.Failure

    /// Whether `byte` is JSON's insignificant whitespace (RFC 8259: space, tab, line feed,
    /// carriage return) — the one test every byte-level reader of the package trims with.
    @inlinable @inline(__always)
    public static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// One member of an object: its (unescaped) name and the byte range of its value.
    public struct Member: Sendable, Hashable {
        public var name: String
        public var value: Range<Int>

        public init(name: String, value: Range<Int>) {
            self.name = name
            self.value = value
        }
    }

    /// The deepest nesting of arrays and objects accepted (as `JSONByteParser.maxDepth`).
    public static let maxDepth = JSONByteParser.maxDepth

    /// The members of the object filling `range` of `data` (all of it when `nil`; surrounding
    /// whitespace and, for the whole input, a leading byte-order mark allowed), in document order.
    /// A duplicated name appears twice: the first one is the value `JSONDecoder` keeps.
    public static func members(ofObject data: Data, in range: Range<Int>? = nil) throws(Failure) -> [Member] {
        try scan(data, range) { (cursor: inout Cursor) throws(Failure) in try cursor.members() }
    }

    /// The byte ranges of the elements of the array filling `range` of `data`, in order.
    public static func elements(ofArray data: Data, in range: Range<Int>? = nil) throws(Failure) -> [Range<Int>] {
        try scan(data, range) { (cursor: inout Cursor) throws(Failure) in try cursor.elements() }
    }

    /// Checks that `range` of `data` (all of it when `nil`) is one well-formed JSON value.
    public static func validate(_ data: Data, in range: Range<Int>? = nil) throws(Failure) {
        try scan(data, range) { (cursor: inout Cursor) throws(Failure) in try cursor.skipValue(depth: 0) }
    }

    /// The value at `range` (a range this scanner returned), parsed.
    public static func value(_ data: Data, at range: Range<Int>) throws(Failure) -> JSONValue {
        let lower = data.startIndex + range.lowerBound
        return try JSONByteParser.parse(data[lower..<(lower + range.count)])
    }

    /// The string at `range`; a value of another type is refused.
    public static func string(_ data: Data, at range: Range<Int>) throws(Failure) -> String {
        // The common case, a string without escapes, is read straight from the bytes.
        let plain: String? = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard range.count >= 2, range.upperBound <= bytes.count, bytes[range.lowerBound] == UInt8(ascii: "\""),
                bytes[range.upperBound - 1] == UInt8(ascii: "\"")
            else { return nil }
            let inner = UnsafeBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
            guard !inner.contains(UInt8(ascii: "\\")), !inner.contains(where: { $0 < 0x20 || $0 >= 0x80 }) else { return nil }
            return String(decoding: inner, as: UTF8.self)
        }
        if let plain { return plain }
        guard case .string(let text) = try value(data, at: range) else { throw Failure(offset: range.lowerBound, message: "expected a string") }
        return text
    }

    /// The integer at `range`; another value is refused.
    public static func int(_ data: Data, at range: Range<Int>) throws(Failure) -> Int {
        guard case .int(let number) = try value(data, at: range) else { throw Failure(offset: range.lowerBound, message: "expected an integer") }
        return number
    }

    /// The number at `range`, or `nil` for `null`; another value is refused.
    public static func optionalDouble(_ data: Data, at range: Range<Int>) throws(Failure) -> Double? {
        switch try value(data, at: range) {
        case .null: return nil
        case .int, .double:
            // From the text, as JSONDecoder reads a `Double` (a large number with a fraction can be
            // `.int` in a `JSONValue`, truncated as JSONDecoder truncates it for an `Int`).
            let lower = data.startIndex + range.lowerBound
            var bytes = data[lower..<(lower + range.count)]
            while let first = bytes.first, isWhitespace(first) { bytes = bytes.dropFirst() }
            while let last = bytes.last, isWhitespace(last) { bytes = bytes.dropLast() }
            let text = String(decoding: bytes, as: UTF8.self)
            guard let number = Double(text) else { throw Failure(offset: range.lowerBound, message: "expected a number") }
            // As JSONDecoder: a number too small for a `Double` is refused, not read as zero.
            guard !JSONByteParser.underflows(text, to: number) else { throw Failure(offset: range.lowerBound, message: "number out of range") }
            return number
        default: throw Failure(offset: range.lowerBound, message: "expected a number")
        }
    }

    /// Whether the value at `range` is the literal `null`.
    public static func isNull(_ data: Data, at range: Range<Int>) -> Bool {
        range.count == 4 && data.withUnsafeBytes { raw in
            range.upperBound <= raw.count && raw[range.lowerBound] == UInt8(ascii: "n")
        }
    }

    /// Walks the value filling `range` of `data` (all of it when `nil`) once: `body` gets a
    /// `Walker` at the value and descends into the objects and arrays it wants (`object`,
    /// `array`); whatever it leaves is checked and skipped. For code that needs the members of
    /// nested objects — a record's, its run's, each evaluation's — without scanning the same bytes
    /// once per level. Ranges are offsets from the start of `data`.
    @discardableResult
    public static func walk<T>(_ data: Data, in range: Range<Int>? = nil, _ body: (inout Walker) throws -> T) throws -> T {
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let range = range ?? 0..<bytes.count
            guard range.lowerBound >= 0, range.upperBound <= bytes.count else { throw Failure(offset: range.lowerBound, message: "range outside the input") }
            var walker = Walker(cursor: Cursor(bytes: bytes, index: range.lowerBound, end: range.upperBound), depth: 0)
            if range.lowerBound == 0, range.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { walker.cursor.index = 3 }
            walker.cursor.skipWhitespace()
            let start = walker.cursor.index
            let value = try body(&walker)
            if walker.cursor.index == start { try walker.cursor.skipValue(depth: 0) }
            walker.cursor.skipWhitespace()
            guard walker.cursor.index == walker.cursor.end else { throw walker.cursor.failure("unexpected data after the value") }
            return value
        }
    }

    /// A position inside `walk(_:in:_:)`: each call reads the one value at the position, checking
    /// every byte as the scanner does, and leaves the walker just past it. Valid only inside the
    /// `walk` that made it.
    public struct Walker {
        var cursor: Cursor
        var depth: Int

        /// The offset of the walker's position from the start of the walked data.
        public var position: Int { cursor.index }

        /// The first byte of the value here (`{`, `[`, `"`, a digit…), or nil at the end.
        public var next: UInt8? { cursor.index < cursor.end ? cursor.bytes[cursor.index] : nil }

        /// Checks the value here and moves past it; returns its range.
        @discardableResult
        public mutating func skip() throws -> Range<Int> {
            let start = cursor.index
            try cursor.skipValue(depth: depth)
            return start..<cursor.index
        }

        /// Reads the object here: `visit` gets each member's (unescaped) name with the walker at
        /// its value, which it may read (at most that one value); a value it leaves is skipped.
        /// Returns the object's range.
        @discardableResult
        public mutating func object(_ visit: (inout Walker, String) throws -> Void) throws -> Range<Int> {
            try container(UInt8(ascii: "{"), UInt8(ascii: "}"), "expected an object") { walker in
                let cursor = walker.cursor
                guard cursor.index < cursor.end, cursor.bytes[cursor.index] == UInt8(ascii: "\"") else { throw cursor.failure("expected a member name") }
                let nameStart = cursor.index
                let escaped = try walker.cursor.skipString()
                let name = walker.cursor.name(nameStart..<walker.cursor.index, escaped: escaped)
                walker.cursor.skipWhitespace()
                guard walker.cursor.index < walker.cursor.end, walker.cursor.bytes[walker.cursor.index] == UInt8(ascii: ":") else {
                    throw walker.cursor.failure("expected ':'")
                }
                walker.cursor.index += 1
                walker.cursor.skipWhitespace()
                try walker.member(named: name, visit)
            }
        }

        /// Reads the array here: `visit` is called with the walker at each element, which it may
        /// read; an element it leaves is skipped. Returns the array's range.
        @discardableResult
        public mutating func array(_ visit: (inout Walker) throws -> Void) throws -> Range<Int> {
            try container(UInt8(ascii: "["), UInt8(ascii: "]"), "expected an array") { walker in
                try walker.member(named: nil) { (walker: inout Walker, _: String) in try visit(&walker) }
            }
        }

        /// An object or array opened by `open`: `item` reads each member or element (the walker
        /// at it, whitespace skipped); returns the container's range.
        private mutating func container(_ open: UInt8, _ close: UInt8, _ expected: String, _ item: (inout Walker) throws -> Void) throws -> Range<Int> {
            let start = cursor.index
            guard depth < maxDepth else { throw cursor.failure("nested too deeply") }
            guard cursor.index < cursor.end, cursor.bytes[cursor.index] == open else { throw cursor.failure(expected) }
            cursor.index += 1
            cursor.skipWhitespace()
            if cursor.index < cursor.end, cursor.bytes[cursor.index] == close {
                cursor.index += 1
                return start..<cursor.index
            }
            while true {
                cursor.skipWhitespace()
                try item(&self)
                if try endsAfterItem(close) { return start..<cursor.index }
            }
        }

        /// One level down: `visit` at the value, then the value skipped if `visit` left it.
        private mutating func member(named name: String?, _ visit: (inout Walker, String) throws -> Void) throws {
            let valueStart = cursor.index
            depth += 1
            defer { depth -= 1 }
            try visit(&self, name ?? "")
            if cursor.index == valueStart { try cursor.skipValue(depth: depth) }
        }

        /// After an item: `,` then more (or the close after one trailing comma, as the parser
        /// accepts), or the close. `true` when the container ended.
        private mutating func endsAfterItem(_ close: UInt8) throws -> Bool {
            cursor.skipWhitespace()
            guard cursor.index < cursor.end else { throw cursor.failure("unexpected end") }
            if cursor.bytes[cursor.index] == UInt8(ascii: ",") {
                cursor.index += 1
                cursor.skipWhitespace()
                guard cursor.index < cursor.end, cursor.bytes[cursor.index] == close else { return false }
                cursor.index += 1
                return true
            }
            guard cursor.bytes[cursor.index] == close else { throw cursor.failure("expected ',' or '\(Character(Unicode.Scalar(close)))'") }
            cursor.index += 1
            return true
        }
    }

    private static func scan<T>(_ data: Data, _ range: Range<Int>?, _ body: (inout Cursor) throws(Failure) -> T) throws(Failure) -> T {
        let result: Result<T, Failure> = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let range = range ?? 0..<bytes.count
            guard range.lowerBound >= 0, range.upperBound <= bytes.count else {
                return .failure(Failure(offset: range.lowerBound, message: "range outside the input"))
            }
            var cursor = Cursor(bytes: bytes, index: range.lowerBound, end: range.upperBound)
            if range.lowerBound == 0, range.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { cursor.index = 3 }
            do throws(Failure) {
                cursor.skipWhitespace()
                let value = try body(&cursor)
                cursor.skipWhitespace()
                guard cursor.index == cursor.end else { throw cursor.failure("unexpected data after the value") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// A position in the bytes; every `skip` leaves it just past what it skipped.
    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index: Int
        let end: Int

        func failure(_ message: String) -> Failure {
            Failure(offset: index, message: message)
        }

        mutating func skipWhitespace() {
            while index < end {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func members() throws(Failure) -> [Member] {
            guard index < end, bytes[index] == UInt8(ascii: "{") else { throw failure("expected an object") }
            var out: [Member] = []
            try skipObject(depth: 0) { (name, value) in out.append(Member(name: name, value: value)) }
            return out
        }

        mutating func elements() throws(Failure) -> [Range<Int>] {
            guard index < end, bytes[index] == UInt8(ascii: "[") else { throw failure("expected an array") }
            var out: [Range<Int>] = []
            try skipArray(depth: 0) { out.append($0) }
            return out
        }

        mutating func skipValue(depth: Int) throws(Failure) {
            guard depth < maxDepth else { throw failure("nested too deeply") }
            guard index < end else { throw failure("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): try skipObject(depth: depth, nil)
            case UInt8(ascii: "["): try skipArray(depth: depth, nil)
            case UInt8(ascii: "\""): _ = try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
            default: throw failure("unexpected character")
            }
        }

        private mutating func literal(_ word: StaticString) throws(Failure) {
            let count = word.utf8CodeUnitCount
            guard index + count <= end else { throw failure("unexpected end") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
                throw failure("unexpected character")
            }
            index += count
        }

        private mutating func skipObject(depth: Int, _ visit: ((String, Range<Int>) -> Void)?) throws(Failure) {
            index += 1
            skipWhitespace()
            if index < end, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard index < end, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a member name") }
                let nameStart = index
                let escaped = try skipString()
                let nameRange = nameStart..<index
                skipWhitespace()
                guard index < end, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                index += 1
                skipWhitespace()
                let valueStart = index
                try skipValue(depth: depth + 1)
                if let visit { visit(name(nameRange, escaped: escaped), valueStart..<index) }
                skipWhitespace()
                guard index < end else { throw failure("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    skipWhitespace()
                    if index < end, bytes[index] == UInt8(ascii: "}") {
                        index += 1
                        return
                    }
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return
                } else {
                    throw failure("expected ',' or '}'")
                }
            }
        }

        func name(_ range: Range<Int>, escaped: Bool) -> String {
            let inner = UnsafeBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
            guard escaped else { return String(decoding: inner, as: UTF8.self) }
            // Already checked: the parser reads it.
            if case .string(let text)? = try? JSONByteParser.parse(UnsafeBufferPointer(rebasing: bytes[range])) { return text }
            return String(decoding: inner, as: UTF8.self)
        }

        private mutating func skipArray(depth: Int, _ visit: ((Range<Int>) -> Void)?) throws(Failure) {
            index += 1
            skipWhitespace()
            if index < end, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                let start = index
                try skipValue(depth: depth + 1)
                visit?(start..<index)
                skipWhitespace()
                guard index < end else { throw failure("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    skipWhitespace()
                    if index < end, bytes[index] == UInt8(ascii: "]") {
                        index += 1
                        return
                    }
                } else if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return
                } else {
                    throw failure("expected ',' or ']'")
                }
            }
        }

        /// Skips a string; returns whether it held escapes.
        mutating func skipString() throws(Failure) -> Bool {
            index += 1
            let start = index
            var nonASCII = false
            var escaped = false
            while index < end {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    if nonASCII, let bad = JSONByteParser.invalidUTF8Offset(UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                        throw Failure(offset: start + bad, message: "invalid UTF-8 in string")
                    }
                    index += 1
                    return escaped
                case UInt8(ascii: "\\"):
                    escaped = true
                    index += 1
                    guard index < end else { throw failure("unexpected end") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                        UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        let code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            guard index + 1 < end, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw failure("unpaired surrogate in \\u escape")
                            }
                            index += 2
                            guard (0xDC00...0xDFFF).contains(try hex4()) else { throw failure("unpaired surrogate in \\u escape") }
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw failure("unpaired surrogate in \\u escape")
                        }
                    default:
                        throw failure("invalid escape")
                    }
                default:
                    if byte < 0x20 { throw failure("control character in string") }
                    if byte >= 0x80 { nonASCII = true }
                    index += 1
                }
            }
            throw failure("unterminated string")
        }

        private mutating func hex4() throws(Failure) -> UInt32 {
            try JSONByteParser.hex4(bytes, at: &index, end: end)
        }

        private mutating func skipNumber() throws(Failure) {
            let start = index
            var integral = true
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { throw failure("invalid number") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                while index < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            }
            if index < end, bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                let digits = index
                while index < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { throw failure("invalid number") }
            }
            var exponent = false
            if index < end, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                integral = false
                exponent = true
                index += 1
                if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                let digits = index
                while index < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { throw failure("invalid number") }
            }
            // Only a long mantissa or an exponent can leave `Double`'s range (what the parser refuses).
            if integral && index - start <= 18 { return }
            if !exponent && index - start <= 300 { return }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if integral, Int(text) != nil { return }
            guard let value = Double(text) else { throw Failure(offset: start, message: "invalid number") }
            guard value.isFinite else { throw Failure(offset: start, message: "number out of range") }
        }
    }
}
