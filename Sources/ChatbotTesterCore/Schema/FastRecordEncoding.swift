import Foundation

/// Encoding of `EvalRecord` lines (and `RunRecord`s, events, `FastRecordEncoding+Run.swift`) straight to bytes, without `JSONEncoder`: `evaluate` writes
/// millions of them (one per sample × metric).
///
/// The bytes are those `JSONCoding.encoder()` writes (sorted keys, no escaped slashes, absent
/// optionals left out): numbers as `Double.description` without a trailing `.0`, strings with the
/// same escapes. Anything it cannot write the same way for certain — a non-finite number, a
/// `details` key outside printable ASCII — returns `nil`, and the caller encodes with
/// `JSONEncoder`, the reference. A differential test compares both on every field.
public enum FastRecordEncoding {
    /// The JSON line of `record` (with its newline), or `nil` when `JSONEncoder` must write it.
    public static func line(_ record: EvalRecord) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(256 + (record.reason?.utf8.count ?? 0))
        guard append(record, to: &out) else { return nil }
        out.append(0x0A)
        return out
    }

    /// Appends the JSON object of `record`; false (with `out` partly written) when it cannot.
    public static func append(_ record: EvalRecord, to out: inout [UInt8]) -> Bool {
        // Members in sorted order: costUSD, details, metric, passed, reason, sampleId, schemaVersion,
        // score, spread, status, straddlesThreshold, tags, threshold, type, usage, votes.
        var members = MemberWriter()
        out.append(UInt8(ascii: "{"))
        if let cost = record.costUSD {
            members.key("costUSD", &out)
            guard appendNumber(cost, to: &out) else { return false }
        }
        if let details = record.details {
            members.key("details", &out)
            guard appendObject(details, to: &out, depth: 0) else { return false }
        }
        members.key("metric", &out)
        appendString(record.metric, to: &out)
        if let passed = record.passed {
            members.key("passed", &out)
            appendBool(passed, to: &out)
        }
        if let reason = record.reason {
            members.key("reason", &out)
            appendString(reason, to: &out)
        }
        members.key("sampleId", &out)
        appendString(record.sampleId, to: &out)
        members.key("schemaVersion", &out)
        appendInt(record.schemaVersion, to: &out)
        if let score = record.score {
            members.key("score", &out)
            guard appendNumber(score, to: &out) else { return false }
        }
        if let spread = record.spread {
            members.key("spread", &out)
            guard appendNumber(spread, to: &out) else { return false }
        }
        members.key("status", &out)
        appendString(record.status.rawValue, to: &out)
        if let straddles = record.straddlesThreshold {
            members.key("straddlesThreshold", &out)
            appendBool(straddles, to: &out)
        }
        members.key("tags", &out)
        out.append(UInt8(ascii: "["))
        for (index, tag) in record.tags.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendString(tag, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        if let threshold = record.threshold {
            members.key("threshold", &out)
            guard appendNumber(threshold, to: &out) else { return false }
        }
        members.key("type", &out)
        appendString(record.type, to: &out)
        if let usage = record.usage {
            members.key("usage", &out)
            appendUsage(usage, to: &out)
        }
        if let votes = record.votes {
            members.key("votes", &out)
            out.append(UInt8(ascii: "["))
            for (index, vote) in votes.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard appendNumber(vote, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    // MARK: Values, as JSONEncoder writes them

    /// `true` or `false`.
    public static func appendBool(_ flag: Bool, to out: inout [UInt8]) {
        out.append(contentsOf: (flag ? "true" : "false").utf8)
    }

    /// An integer in decimal.
    public static func appendInt(_ number: Int, to out: inout [UInt8]) {
        if number >= 0, number < 10 {
            out.append(UInt8(ascii: "0") + UInt8(number))
            return
        }
        // Digits written backwards into a small buffer, no `String` made.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var magnitude = number.magnitude
        withUnsafeMutableBytes(of: &digits) { buffer in
            var at = buffer.count
            repeat {
                at -= 1
                buffer[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if number < 0 {
                at -= 1
                buffer[at] = UInt8(ascii: "-")
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[at...]))
        }
    }

    /// A finite `Double` as `JSONEncoder` writes it: its description without a trailing `.0`.
    /// Returns false (writing nothing) for a non-finite number, which `JSONEncoder` refuses.
    public static func appendNumber(_ number: Double, to out: inout [UInt8]) -> Bool {
        guard number.isFinite else { return false }
        if number == 0 {
            if number.sign == .minus { out.append(UInt8(ascii: "-")) }
            out.append(UInt8(ascii: "0"))
            return true
        }
        if number == 1 {
            out.append(UInt8(ascii: "1"))
            return true
        }
        var text = number.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        out.append(contentsOf: text.utf8)
        return true
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string literal with `JSONEncoder`'s escapes (`withoutEscapingSlashes`).
    public static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if start < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index])) }
                start = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xF)])
                }
            }
            if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A `JSONValue`, as its `Codable` encoding writes it; false for what may differ.
    static func appendValue(_ value: JSONValue, to out: inout [UInt8], depth: Int) -> Bool {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): appendBool(flag, to: &out)
        case .int(let number): appendInt(number, to: &out)
        case .double(let number): return appendNumber(number, to: &out)
        case .string(let text): appendString(text, to: &out)
        case .array(let items):
            guard depth < 64 else { return false }
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard appendValue(item, to: &out, depth: depth + 1) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            guard depth < 64 else { return false }
            return appendObject(members, to: &out, depth: depth + 1)
        }
        return true
    }

    /// An object with sorted keys. Keys must be printable ASCII without escapes (so byte order is
    /// the encoder's order); anything else returns false.
    static func appendObject(_ members: [String: JSONValue], to out: inout [UInt8], depth: Int) -> Bool {
        for key in members.keys {
            guard key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
                return false
            }
        }
        out.append(UInt8(ascii: "{"))
        let keys = members.count == 1 ? Array(members.keys) : members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for (index, key) in keys.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            guard appendValue(members[key]!, to: &out, depth: depth) else { return false }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }
}
