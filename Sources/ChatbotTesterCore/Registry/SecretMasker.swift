import Foundation

/// Replaces every known secret value in text before it is written anywhere.
///
/// A secret is known by where it came from, never by a key name: the ``SecretResolver`` registers
/// every value it resolves (`{env: NAME}`, `{file: PATH}`, options a backend type declares
/// `.secret`), and a job config registers the values of `${VAR}` expansions that build a credential
/// (an `Authorization`-like header, URL user-info). Values shorter than ``minimumLength`` are not
/// masked (they would garble ordinary text).
///
/// Each value is looked for as written, JSON-escaped (as our encoder and as an `ensure_ascii`
/// encoder write it, with and without `\/`) and URL-encoded (percent-encoding with upper- or
/// lower-case hex, and form encoding), so a server that echoes the key inside a JSON error body or a
/// URL is masked too. Occurrences become `[secret:NAME]`.
///
/// Masking happens at the sources of text: ``ChatbotTesterError`` (message, body excerpt, cause),
/// ``ErrorInfo``, run records (``RunRecord/masked(by:)``, applied by the Runner as it creates them),
/// eval records (applied by the Evaluator), the event log and the response cache, and the CLI's
/// stderr. Every artifact is written from those, so no writer has to know about secrets.
///
/// ``shared`` is the process's masker, the default of every ``SecretResolver``: a cluster worker
/// masks with the secrets it resolved itself. Pass your own instance for isolation in tests.
public final class SecretMasker: Sendable {
    /// Values shorter than this are not masked.
    public static let minimumLength = 6

    /// The process's masker; every ``SecretResolver`` feeds it unless given another.
    public static let shared = SecretMasker()

    private struct Pattern {
        var text: String
        var bytes: Data
        var replacement: String
    }

    private struct State {
        /// Longest first, so a secret that contains another is masked whole.
        var patterns: [Pattern] = []
        var values: Set<String> = []
    }

    private let state = Locked(State())

    public init() {}

    /// Whether no secret is registered (masking is then free).
    public var isEmpty: Bool { state.withLock { $0.patterns.isEmpty } }

    /// The number of distinct secret values registered.
    public var count: Int { state.withLock { $0.values.count } }

    /// Registers a resolved secret value; `name` labels its occurrences (`[secret:NAME]`).
    /// Values shorter than ``minimumLength`` are ignored.
    public func register(_ value: String, name: String) {
        guard value.count >= Self.minimumLength else { return }
        let label = "[secret:\(Self.label(name))]"
        state.withLock { state in
            guard state.values.insert(value).inserted else { return }
            let known = Set(state.patterns.map(\.text))
            var forms = Self.forms(of: value)
            // In JSON text a string's escapes are escaped once more (a message quoting a JSON body).
            forms += forms.flatMap { Self.jsonEscapedForms($0) }
            for form in forms where !known.contains(form) && form.count >= Self.minimumLength {
                state.patterns.append(Pattern(text: form, bytes: Data(form.utf8), replacement: label))
            }
            var seen = Set<String>()
            state.patterns = state.patterns.filter { seen.insert($0.text).inserted }
            state.patterns.sort { $0.bytes.count > $1.bytes.count }
        }
    }

    /// `text` with every registered secret replaced by `[secret:NAME]`.
    public func mask(_ text: String) -> String {
        let patterns = state.withLock { $0.patterns }
        guard !patterns.isEmpty else { return text }
        var out = text
        for pattern in patterns where out.contains(pattern.text) {
            out = out.replacingOccurrences(of: pattern.text, with: pattern.replacement)
        }
        return out
    }

    /// `text` masked, or `nil` when it is `nil`.
    public func mask(_ text: String?) -> String? {
        text.map { mask($0) }
    }

    /// Bytes (a JSON line, a file's contents) with every registered secret replaced. Returns the
    /// input unchanged, without copying, when no secret occurs in it.
    public func mask(_ data: Data) -> Data {
        let patterns = state.withLock { $0.patterns }
        guard !patterns.isEmpty else { return data }
        var out = data
        for pattern in patterns {
            guard var found = out.range(of: pattern.bytes) else { continue }
            var result = Data()
            result.reserveCapacity(out.count)
            var position = out.startIndex
            let replacement = Data(pattern.replacement.utf8)
            while true {
                result.append(out[position..<found.lowerBound])
                result.append(replacement)
                position = found.upperBound
                guard let next = out.range(of: pattern.bytes, in: position..<out.endIndex) else { break }
                found = next
            }
            result.append(out[position..<out.endIndex])
            out = result
        }
        return out
    }

    /// A JSON value with every string (and object key) masked.
    public func mask(_ value: JSONValue) -> JSONValue {
        guard !isEmpty else { return value }
        switch value {
        case .string(let text): return .string(mask(text))
        case .array(let items): return .array(items.map { mask($0) })
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, child) in object { out[mask(key)] = mask(child) }
            return .object(out)
        default: return value
        }
    }

    /// Whether `text` contains a registered secret in any of its forms.
    public func reveals(_ text: String) -> Bool {
        state.withLock { $0.patterns }.contains { text.contains($0.text) }
    }

    /// The forms a value is looked for in: as written, JSON-escaped, URL-encoded.
    public static func forms(of value: String) -> [String] {
        var forms = [value]
        forms += jsonEscapedForms(value)
        forms.append(percentEncoded(value, upper: true, form: false))
        forms.append(percentEncoded(value, upper: false, form: false))
        forms.append(percentEncoded(value, upper: true, form: true))
        var seen = Set<String>()
        return forms.filter { seen.insert($0).inserted }
    }

    /// `value` as it appears inside a JSON string: our encoder's escapes, with `\/` for `/`, and
    /// with every non-ASCII character as `\uXXXX` (Python's `json.dumps` default).
    static func jsonEscapedForms(_ value: String) -> [String] {
        var plain = ""
        var ascii = ""
        for scalar in value.unicodeScalars {
            let escaped: String?
            switch scalar {
            case "\"": escaped = "\\\""
            case "\\": escaped = "\\\\"
            case "\n": escaped = "\\n"
            case "\r": escaped = "\\r"
            case "\t": escaped = "\\t"
            case "\u{08}": escaped = "\\b"
            case "\u{0C}": escaped = "\\f"
            default: escaped = scalar.value < 0x20 ? unicodeEscape(scalar.value) : nil
            }
            if let escaped {
                plain += escaped
                ascii += escaped
            } else {
                plain.unicodeScalars.append(scalar)
                if scalar.value < 0x80 {
                    ascii.unicodeScalars.append(scalar)
                } else if scalar.value > 0xFFFF {
                    let offset = scalar.value - 0x10000
                    ascii += unicodeEscape(0xD800 + (offset >> 10)) + unicodeEscape(0xDC00 + (offset & 0x3FF))
                } else {
                    ascii += unicodeEscape(scalar.value)
                }
            }
        }
        return [plain, ascii, plain.replacingOccurrences(of: "/", with: "\\/"), ascii.replacingOccurrences(of: "/", with: "\\/")]
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Every byte outside the unreserved set (`A-Z a-z 0-9 - . _ ~`) as `%XX`; with `form`, a space
    /// is `+`.
    static func percentEncoded(_ value: String, upper: Bool, form: Bool) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: " ") where form:
                out += "+"
            default:
                let hex = String(byte, radix: 16, uppercase: upper)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    /// A replacement label safe in any text format (letters, digits, `_ . -`).
    private static func label(_ name: String) -> String {
        let kept = name.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0) }
        return kept.isEmpty ? "value" : String(String.UnicodeScalarView(kept))
    }
}
