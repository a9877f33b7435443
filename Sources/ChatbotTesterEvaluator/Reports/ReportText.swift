import ChatbotTesterCore
import Foundation

/// Escaping for the report formats. Every user-supplied text (ids, replies, reasons, tags) goes
/// through one of these before it lands in a file.
public enum ReportText {
    /// XML 1.0 text/attribute escaping; characters XML cannot carry (most C0 controls, C1
    /// controls, U+FFFE/U+FFFF) become U+FFFD.
    public static func xml(_ text: String) -> String {
        // Printable ASCII without markup characters (ids, metric names, most reasons) is returned as is.
        let plain = text.utf8.allSatisfy { byte in
            byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "&") && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">")
                && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "'")
        }
        if plain { return text }
        return replacing(text) { scalar in
            switch scalar {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "\"": "&quot;"
            case "'": "&apos;"
            case "\n": "&#10;"
            case "\r": "&#13;"
            case "\t": "&#9;"
            default:
                scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF || (0x7F...0x9F).contains(scalar.value)
                    && scalar.value != 0x85 ? "\u{FFFD}" : nil
            }
        }
    }

    /// HTML escaping for text and double- or single-quoted attribute values.
    public static func html(_ text: String) -> String {
        // Text with no markup character and no control but a line break or tab (ids, tags, most
        // replies) is returned as is: `report.html` escapes several strings per sample it shows.
        let plain = text.utf8.allSatisfy { byte in
            (byte >= 0x20 || byte == 0x0A || byte == 0x09) && byte != UInt8(ascii: "&") && byte != UInt8(ascii: "<")
                && byte != UInt8(ascii: ">") && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "'") && byte != UInt8(ascii: "`")
        }
        if plain { return text }
        return replacing(text) { scalar in
            switch scalar {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "\"": "&quot;"
            case "'": "&#39;"
            case "`": "&#96;"
            case "\n", "\t": nil
            default: scalar.value < 0x20 ? "\u{FFFD}" : nil
            }
        }
    }

    /// Rebuilds `text`, replacing each scalar for which `replacement` returns a string.
    static func replacing(_ text: String, _ replacement: (Unicode.Scalar) -> String?) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let replaced = replacement(scalar) { out += replaced } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// One RFC 4180 CSV field: quoted when needed, quotes doubled; a leading `=`, `+`, `-`, `@`
    /// (a spreadsheet formula) is prefixed with `'` so opening the file runs nothing.
    public static func csv(_ text: String) -> String {
        var needsQuotes = false
        var formula = false
        for (index, byte) in text.utf8.enumerated() {
            if index == 0, byte == UInt8(ascii: "=") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "@")
                || byte == 0x09 || byte == 0x0D
            {
                formula = Double(text) == nil
            }
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == 0x0A || byte == 0x0D { needsQuotes = true }
        }
        let value = formula ? "'" + text : text
        guard needsQuotes else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Markdown table cell text: pipes and newlines escaped, HTML neutralised, length capped.
    public static func markdownCell(_ text: String, limit: Int = 160) -> String {
        var value = text.count > limit ? String(text.prefix(limit)) + "…" : text
        value = value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
        value = value.replacingOccurrences(of: "|", with: "\\|")
        value = value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        for special in ["*", "_", "[", "]", "`"] { value = value.replacingOccurrences(of: special, with: "\\" + special) }
        return value
    }

    /// A number with up to `digits` decimals, or "–".
    public static func number(_ value: Double?, digits: Int = 3) -> String {
        guard let value, value.isFinite else { return "–" }
        return DecimalText.fixed(value, digits: digits)
    }

    /// Appends `xml(text)`'s bytes to `out`: plain text as it is, without building a `String`.
    static func appendXML(_ text: String, to out: inout [UInt8]) {
        var text = text
        let done = text.withUTF8 { bytes -> Bool in
            for byte in bytes
            where byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">")
                || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
            {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if !done { out.append(contentsOf: xml(text).utf8) }
    }

    /// Appends `csv(text)`'s bytes to `out`: a field that needs neither quotes nor the formula
    /// prefix as it is, without building a `String`.
    static func appendCSV(_ text: String, to out: inout [UInt8]) {
        var text = text
        let done = text.withUTF8 { bytes -> Bool in
            if let first = bytes.first,
                first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-") || first == UInt8(ascii: "@")
                    || first == 0x09 || first == 0x0D
            {
                return false
            }
            for byte in bytes where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == 0x0A || byte == 0x0D { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if !done { out.append(contentsOf: csv(text).utf8) }
    }

    /// A percentage, or "–".
    public static func percent(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.1f%%", value * 100)
    }
}
