extension JSONRepair {
    /// What a scan of JSON-like bytes from an opening `{`/`[` found.
    struct Scan {
        /// Index of the byte closing the outermost container, when it closes.
        var end: Int?
        /// The containers (`{` or `[`) still open when the text ends.
        var stack: [UInt8] = []
        /// Per open container, the last index the text can be cut at and closed: in an array just
        /// after its last complete element, in an object just after `{` or before its last `,`.
        var cuts: [Int?] = []
        /// The quote of a string still open when the text ends.
        var openQuote: UInt8?
        /// Whether the text ends on the backslash of an escape inside that string.
        var danglingEscape = false
    }

    /// Follows strings and nesting from the opener at `start` to where the outermost container closes.
    static func scan(_ bytes: [UInt8], from start: Int) -> Scan {
        var result = Scan()
        var previous: UInt8 = 0  // the last significant byte outside strings
        var i = start
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") || (byte == UInt8(ascii: "'") && opensSingleQuote(after: previous)) {
                let string = stringEnd(bytes, from: i)
                guard let close = string.end else {
                    result.openQuote = byte
                    result.danglingEscape = string.danglingEscape
                    return result
                }
                previous = byte
                i = close + 1
                continue
            }
            switch byte {
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                result.stack.append(byte)
                result.cuts.append(byte == UInt8(ascii: "{") ? i + 1 : nil)
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                result.stack.removeLast()
                result.cuts.removeLast()
                if result.stack.isEmpty {
                    result.end = i
                    return result
                }
                if result.stack.last == UInt8(ascii: "[") { result.cuts[result.cuts.count - 1] = i + 1 }
            case UInt8(ascii: ","):
                if !result.cuts.isEmpty { result.cuts[result.cuts.count - 1] = i }
            default:
                break
            }
            if !JSONByteScanner.isWhitespace(byte) { previous = byte }
            i += 1
        }
        return result
    }

    /// The index of the quote closing the string that opens at `start` (`nil` when the text ends
    /// first), and whether the text ends on an escape's backslash.
    ///
    /// A single quote closes a string only where a value can end (before `,` `:` `}` `]` or the end),
    /// so `'it's fine'` stays one string.
    static func stringEnd(_ bytes: [UInt8], from start: Int) -> (end: Int?, danglingEscape: Bool) {
        let quote = bytes[start]
        var j = start + 1
        while j < bytes.count {
            let byte = bytes[j]
            if byte == UInt8(ascii: "\\") {
                if j + 1 == bytes.count { return (nil, true) }
                j += 2
                continue
            }
            if byte == quote, quote == UInt8(ascii: "\"") || closesSingleQuote(bytes, at: j) { return (j, false) }
            j += 1
        }
        return (nil, false)
    }

    /// Whether a `'` after `previous` (the last significant byte outside strings) starts a string
    /// rather than being an apostrophe in a bare word.
    static func opensSingleQuote(after previous: UInt8) -> Bool {
        previous == 0 || previous == UInt8(ascii: "{") || previous == UInt8(ascii: "[") || previous == UInt8(ascii: ",")
            || previous == UInt8(ascii: ":")
    }

    static func closesSingleQuote(_ bytes: [UInt8], at index: Int) -> Bool {
        var k = index + 1
        while k < bytes.count, JSONByteScanner.isWhitespace(bytes[k]) { k += 1 }
        guard k < bytes.count else { return true }
        let next = bytes[k]
        return next == UInt8(ascii: ",") || next == UInt8(ascii: ":") || next == UInt8(ascii: "}") || next == UInt8(ascii: "]")
    }
}
