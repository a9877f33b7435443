import ChatbotTesterCore

/// Lenient recovery of a JSON object from model output.
///
/// Handles the usual damage: a ```json code fence, prose before or after the object, single-quoted
/// strings, unquoted keys, trailing commas, Python literals (`True`, `False`, `None`).
public enum JSONRepair {
    /// The first balanced `{…}` (or `[…]`) in `text`, code fences removed; `nil` when there is none.
    public static func extractJSON(from text: String) -> String? {
        let chars = Array(stripFences(text))
        guard let start = chars.firstIndex(where: { $0 == "{" || $0 == "[" }) else { return nil }
        var depth = 0
        var quote: Character?
        var escaped = false
        for index in start..<chars.count {
            let c = chars[index]
            if let q = quote {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == q { quote = nil }
                continue
            }
            switch c {
            case "\"", "'": quote = c
            case "{", "[": depth += 1
            case "}", "]":
                depth -= 1
                if depth == 0 { return String(chars[start...index]) }
            default: break
            }
        }
        return String(chars[start...])  // unterminated: let `repair` try to close it
    }

    /// Parses `text` as a JSON value, repairing it when plain parsing fails; `nil` when hopeless.
    public static func parse(_ text: String) -> (value: JSONValue, repaired: Bool)? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = try? JSONValue(parsing: trimmed), value.objectValue != nil { return (value, false) }
        guard let candidate = extractJSON(from: trimmed) else { return nil }
        if let value = try? JSONValue(parsing: candidate) { return (value, true) }
        if let value = try? JSONValue(parsing: normalise(candidate)) { return (value, true) }
        return nil
    }

    static func stripFences(_ text: String) -> String {
        guard let open = text.range(of: "```") else { return text }
        var rest = text[open.upperBound...]
        if let newline = rest.firstIndex(of: "\n") { rest = rest[rest.index(after: newline)...] }
        if let close = rest.range(of: "```") { return String(rest[..<close.lowerBound]) }
        return String(rest)
    }

    /// Rewrites JSON-like text into JSON: single quotes, bare keys, trailing commas, Python literals,
    /// and closes unterminated strings, objects and arrays.
    static func normalise(_ text: String) -> String {
        var out = ""
        var stack: [Character] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\"" || c == "'" {
                // A string: copy it as a double-quoted JSON string.
                var j = i + 1
                var body = ""
                while j < chars.count, chars[j] != c {
                    if chars[j] == "\\", j + 1 < chars.count {
                        body.append(chars[j])
                        body.append(chars[j + 1])
                        j += 2
                        continue
                    }
                    if chars[j] == "\"" { body += "\\\"" } else if chars[j] == "\n" { body += "\\n" } else { body.append(chars[j]) }
                    j += 1
                }
                out += "\"" + body.replacingOccurrences(of: "\\'", with: "'") + "\""
                i = j + 1
                continue
            }
            if c.isLetter || c == "_" {
                var j = i
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                let word = String(chars[i..<j])
                var k = j
                while k < chars.count, chars[k] == " " { k += 1 }
                if k < chars.count, chars[k] == ":" {
                    out += "\"\(word)\""
                } else {
                    switch word {
                    case "True", "true": out += "true"
                    case "False", "false": out += "false"
                    case "None", "null", "nil": out += "null"
                    default: out += "\"\(word)\""
                    }
                }
                i = j
                continue
            }
            switch c {
            case "{", "[": stack.append(c)
            case "}", "]":
                if !stack.isEmpty { stack.removeLast() }
                while let last = out.last, last == "," || last.isWhitespace { out.removeLast() }
            default: break
            }
            out.append(c)
            i += 1
        }
        while let last = out.last, last == "," || last.isWhitespace { out.removeLast() }
        for open in stack.reversed() { out.append(open == "{" ? "}" : "]") }
        return out
    }
}
