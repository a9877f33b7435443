import Foundation

/// Escaping for the report formats. Every user-supplied text (ids, replies, reasons, tags) goes
/// through one of these before it lands in a file.
public enum ReportText {
    /// XML 1.0 text/attribute escaping; characters XML cannot carry (most C0 controls, lone
    /// surrogates' replacements, U+FFFE/U+FFFF) become U+FFFD.
    public static func xml(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0xFFFE || v == 0xFFFF || (0x7F...0x84).contains(v) || (0x86...0x9F).contains(v) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// HTML escaping for text and double- or single-quoted attribute values.
    public static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "`": out += "&#96;"
            default:
                if scalar.value < 0x20, scalar != "\n", scalar != "\t" { out += "\u{FFFD}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// One RFC 4180 CSV field: quoted when needed, quotes doubled; a leading `=`, `+`, `-`, `@`
    /// (a spreadsheet formula) is prefixed with `'` so opening the file runs nothing.
    public static func csv(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+-@\t\r".contains(first), Double(value) == nil { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Markdown table cell text: pipes and newlines escaped, HTML neutralised, length capped.
    public static func markdownCell(_ text: String, limit: Int = 160) -> String {
        var value = text.count > limit ? String(text.prefix(limit)) + "…" : text
        value = html(value)
        value = value.replacingOccurrences(of: "|", with: "\\|")
        value = value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        for special in ["*", "_", "[", "]"] { value = value.replacingOccurrences(of: special, with: "\\" + special) }
        return value
    }

    /// A number with up to `digits` decimals, or "–".
    public static func number(_ value: Double?, digits: Int = 3) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.\(digits)f", value)
    }

    /// A percentage, or "–".
    public static func percent(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.1f%%", value * 100)
    }
}
