import Yams

/// The type YAML 1.1 gives a plain (unquoted, untagged) scalar, decided by hand: the rules of Yams'
/// `Resolver.default`, in its order (bool, int, float, merge, null, timestamp, value; the first that
/// matches wins, else a string), without its regular expressions. Compiling those is most of what
/// loading a config costs (ICU's regex engine starts up for them: a 20-case `test` took 3.4 ms more
/// CPU with them); a config without a tag (`!`) is composed with `Resolver.basic` and its plain
/// scalars typed here.
/// `YAMLPlainScalarTests` checks every decision against `Resolver.default`.
enum YAMLPlainScalar {
    /// The tag `Resolver.default` resolves `text` to, as a plain scalar.
    static func tag(of text: String) -> Tag.Name {
        let bytes = Array(text.utf8)
        if isBool(bytes) { return .bool }
        if isInt(bytes) { return .int }
        if isFloat(bytes) { return .float }
        if bytes == [0x3C, 0x3C] { return .merge }
        if isNull(bytes) { return .null }
        if isTimestamp(bytes) { return .timestamp }
        if bytes == [0x3D] { return .value }
        return .str
    }

    private static let bools: Set<[UInt8]> = Set(
        ["yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"].map {
            Array($0.utf8)
        })

    static func isBool(_ bytes: [UInt8]) -> Bool { bools.contains(bytes) }

    private static let nulls: Set<[UInt8]> = Set(["", "~", "null", "Null", "NULL"].map { Array($0.utf8) })
    private static let infinities: Set<[UInt8]> = Set(["inf", "Inf", "INF"].map { Array($0.utf8) })
    private static let notANumbers: Set<[UInt8]> = Set([".nan", ".NaN", ".NAN"].map { Array($0.utf8) })

    static func isNull(_ bytes: [UInt8]) -> Bool { nulls.contains(bytes) }

    /// A cursor over the bytes, for the patterns below.
    private struct Cursor {
        let bytes: [UInt8]
        var at = 0
        var atEnd: Bool { at == bytes.count }
        var next: UInt8? { at < bytes.count ? bytes[at] : nil }

        /// Takes one byte when `accepts` it.
        mutating func take(_ accepts: (UInt8) -> Bool) -> Bool {
            guard let byte = next, accepts(byte) else { return false }
            at += 1
            return true
        }

        mutating func take(_ byte: UInt8) -> Bool { take { $0 == byte } }

        /// Takes as many bytes as `accepts`; returns how many.
        @discardableResult
        mutating func takeAll(_ accepts: (UInt8) -> Bool) -> Int {
            let start = at
            while take(accepts) {}
            return at - start
        }

        mutating func takeSign() { _ = take { $0 == 0x2B || $0 == 0x2D } }

        /// `(?::[0-5]?[0-9])+`: at least one.
        mutating func takeSexagesimalParts() -> Bool {
            var parts = 0
            while next == 0x3A {
                let before = at
                at += 1
                // `[0-5]?[0-9]`: two digits with the first 0–5, or one digit.
                if let first = next, isDigit(first) {
                    at += 1
                    if first <= 0x35, let second = next, isDigit(second) { at += 1 }
                } else {
                    at = before
                    break
                }
                parts += 1
            }
            return parts > 0
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isDigitOrUnderscore(_ byte: UInt8) -> Bool { isDigit(byte) || byte == 0x5F }

    /// Whether `bytes` match one of `alternatives` in full, each tried from the start.
    private static func matchesAny(_ bytes: [UInt8], _ alternatives: [(inout Cursor) -> Bool]) -> Bool {
        alternatives.contains { alternative in
            var cursor = Cursor(bytes: bytes)
            return alternative(&cursor) && cursor.atEnd
        }
    }

    static func isInt(_ bytes: [UInt8]) -> Bool {
        matchesAny(bytes, [
            // [-+]?0b[0-1_]+
            { c in c.takeSign(); return c.take(0x30) && c.take(0x62) && c.takeAll { $0 == 0x30 || $0 == 0x31 || $0 == 0x5F } > 0 },
            // [-+]?0o?[0-7_]+
            { c in c.takeSign(); guard c.take(0x30) else { return false }; _ = c.take(0x6F); return c.takeAll { ($0 >= 0x30 && $0 <= 0x37) || $0 == 0x5F } > 0 },
            // [-+]?(?:0|[1-9][0-9_]*)
            { c in
                c.takeSign()
                if c.take(0x30) { return true }
                guard c.take({ $0 >= 0x31 && $0 <= 0x39 }) else { return false }
                c.takeAll(isDigitOrUnderscore)
                return true
            },
            // [-+]?0x[0-9a-fA-F_]+
            { c in
                c.takeSign()
                return c.take(0x30) && c.take(0x78)
                    && c.takeAll { isDigitOrUnderscore($0) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) } > 0
            },
            // [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
            { c in
                c.takeSign()
                guard c.take({ $0 >= 0x31 && $0 <= 0x39 }) else { return false }
                c.takeAll(isDigitOrUnderscore)
                return c.takeSexagesimalParts()
            },
        ])
    }

    static func isFloat(_ bytes: [UInt8]) -> Bool {
        matchesAny(bytes, [
            // [-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
            { c in
                c.takeSign()
                guard c.take(isDigit) else { return false }
                c.takeAll(isDigitOrUnderscore)
                if c.take(0x2E) { c.takeAll(isDigitOrUnderscore) }
                if c.next == 0x65 || c.next == 0x45 {
                    let before = c.at
                    c.at += 1
                    c.takeSign()
                    if c.takeAll(isDigit) == 0 { c.at = before }
                }
                return true
            },
            // \.[0-9_]+(?:[eE][-+][0-9]+)?
            { c in
                guard c.take(0x2E), c.takeAll(isDigitOrUnderscore) > 0 else { return false }
                if c.next == 0x65 || c.next == 0x45 {
                    let before = c.at
                    c.at += 1
                    if !(c.take { $0 == 0x2B || $0 == 0x2D } && c.takeAll(isDigit) > 0) { c.at = before }
                }
                return true
            },
            // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
            { c in
                c.takeSign()
                guard c.take(isDigit) else { return false }
                c.takeAll(isDigitOrUnderscore)
                guard c.takeSexagesimalParts(), c.take(0x2E) else { return false }
                c.takeAll(isDigitOrUnderscore)
                return true
            },
            // [-+]?\.(?:inf|Inf|INF)
            { c in
                c.takeSign()
                guard c.take(0x2E) else { return false }
                guard infinities.contains(Array(c.bytes[c.at...])) else { return false }
                c.at = c.bytes.count
                return true
            },
            // \.(?:nan|NaN|NAN)
            { c in
                guard notANumbers.contains(c.bytes) else { return false }
                c.at = c.bytes.count
                return true
            },
        ])
    }

    static func isTimestamp(_ bytes: [UInt8]) -> Bool {
        func digits(_ c: inout Cursor, _ count: Int) -> Bool {
            for _ in 0..<count where !c.take(isDigit) { return false }
            return true
        }
        /// `[0-9][0-9]?`
        func oneOrTwoDigits(_ c: inout Cursor) -> Bool {
            guard c.take(isDigit) else { return false }
            _ = c.take(isDigit)
            return true
        }
        return matchesAny(bytes, [
            // [0-9]{4}-[0-9]{2}-[0-9]{2}
            { c in digits(&c, 4) && c.take(0x2D) && digits(&c, 2) && c.take(0x2D) && digits(&c, 2) },
            // [0-9]{4}-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
            // (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
            { c in
                guard digits(&c, 4), c.take(0x2D), oneOrTwoDigits(&c), c.take(0x2D), oneOrTwoDigits(&c) else { return false }
                if !c.take({ $0 == 0x54 || $0 == 0x74 }) {
                    guard c.takeAll({ $0 == 0x20 || $0 == 0x09 }) > 0 else { return false }
                }
                guard oneOrTwoDigits(&c), c.take(0x3A), digits(&c, 2), c.take(0x3A), digits(&c, 2) else { return false }
                if c.take(0x2E) { c.takeAll(isDigit) }
                // The zone, optional: spaces then `Z` or an offset; without one the spaces stay unmatched.
                let before = c.at
                c.takeAll { $0 == 0x20 || $0 == 0x09 }
                if c.take(0x5A) { return true }
                if c.take({ $0 == 0x2B || $0 == 0x2D }), oneOrTwoDigits(&c) {
                    let beforeMinutes = c.at
                    if !(c.take(0x3A) && digits(&c, 2)) { c.at = beforeMinutes }
                    return true
                }
                c.at = before
                return true
            },
        ])
    }
}
