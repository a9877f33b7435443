extension JSONRepair {
    /// Rewrites closed JSON-like bytes into JSON: trailing commas, single-quoted strings, unquoted
    /// keys, bare-word values, Python literals, raw control characters in strings. Valid JSON comes
    /// back unchanged with no kinds.
    static func normalise(_ bytes: [UInt8]) -> (bytes: [UInt8], applied: Set<Kind>) {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var applied: Set<Kind> = []
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            let previous = out.last(where: { !JSONByteScanner.isWhitespace($0) }) ?? 0
            if byte == UInt8(ascii: "\"") || (byte == UInt8(ascii: "'") && opensSingleQuote(after: previous)) {
                let end = stringEnd(bytes, from: i).end ?? bytes.count
                if byte == UInt8(ascii: "'") { applied.insert(.singleQuotes) }
                appendString(bytes[(i + 1)..<end], quote: byte, to: &out, applied: &applied)
                i = end + 1
                continue
            }
            if isNumberStart(byte) {
                var j = i + 1
                while j < bytes.count, isNumberByte(bytes[j]) { j += 1 }
                out += bytes[i..<j]
                i = j
                continue
            }
            if isWordByte(byte) {
                i = appendWord(bytes, from: i, to: &out, applied: &applied)
                continue
            }
            if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                var j = out.count - 1
                while j >= 0, JSONByteScanner.isWhitespace(out[j]) { j -= 1 }
                if j >= 0, out[j] == UInt8(ascii: ",") {
                    out.remove(at: j)
                    applied.insert(.trailingComma)
                }
            }
            out.append(byte)
            i += 1
        }
        return (out, applied)
    }

    /// Appends a string body as a double-quoted JSON string.
    static func appendString(_ body: ArraySlice<UInt8>, quote: UInt8, to out: inout [UInt8], applied: inout Set<Kind>) {
        out.append(UInt8(ascii: "\""))
        var i = body.startIndex
        while i < body.endIndex {
            let byte = body[i]
            if byte == UInt8(ascii: "\\"), i + 1 < body.endIndex {
                if body[i + 1] == UInt8(ascii: "'") {
                    out.append(UInt8(ascii: "'"))
                    applied.insert(.singleQuotes)
                } else {
                    out += [byte, body[i + 1]]
                }
                i += 2
                continue
            }
            if byte == UInt8(ascii: "\"") && quote != byte {
                out += [UInt8(ascii: "\\"), byte]
            } else if byte < 0x20 {
                out += escaped(control: byte)
                applied.insert(.controlCharacters)
            } else {
                out.append(byte)
            }
            i += 1
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends the bare word at `start` as a quoted key, a literal or a quoted value; returns where
    /// it ends.
    static func appendWord(_ bytes: [UInt8], from start: Int, to out: inout [UInt8], applied: inout Set<Kind>) -> Int {
        var end = start
        while end < bytes.count, isWordByte(bytes[end]) || isDigit(bytes[end]) { end += 1 }
        var next = end
        while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x09 { next += 1 }
        if next < bytes.count, bytes[next] == UInt8(ascii: ":") {
            appendQuoted(bytes[start..<end], to: &out)
            applied.insert(.unquotedKeys)
            return end
        }
        switch String(decoding: bytes[start..<end], as: UTF8.self) {
        case "true", "false", "null":
            out += bytes[start..<end]
            return end
        case "True":
            out += Array("true".utf8)
        case "False":
            out += Array("false".utf8)
        case "None", "nil":
            out += Array("null".utf8)
        default:
            // A bare value runs to the next `,`, `}`, `]` or line end: `{reason: too vague, score: 2}`.
            var stop = end
            while stop < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x0A, 0x0D].contains(bytes[stop]) { stop += 1 }
            while stop > end, JSONByteScanner.isWhitespace(bytes[stop - 1]) { stop -= 1 }
            appendQuoted(bytes[start..<stop], to: &out)
            applied.insert(.bareWords)
            return stop
        }
        applied.insert(.pythonLiterals)
        return end
    }

    static func appendQuoted(_ text: ArraySlice<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            if byte < 0x20 { out += escaped(control: byte) } else { out.append(byte) }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func escaped(control byte: UInt8) -> [UInt8] {
        switch byte {
        case 0x0A: return Array(#"\n"#.utf8)
        case 0x0D: return Array(#"\r"#.utf8)
        case 0x09: return Array(#"\t"#.utf8)
        default:
            let hex = Array("0123456789abcdef".utf8)
            return Array(#"\u00"#.utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isNumberStart(_ byte: UInt8) -> Bool { isDigit(byte) || byte == UInt8(ascii: "-") }

    static func isNumberByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }

    /// Letters, `_`, `$` and any byte of a non-ASCII character.
    static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$") || byte >= 0x80
    }
}
