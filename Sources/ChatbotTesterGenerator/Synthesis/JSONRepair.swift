import ChatbotTesterCore
import Foundation

/// Recovers JSON from what models actually reply: code fences, prose around the JSON, trailing
/// commas, and arrays cut off at the token limit (closed after the last complete element).
public enum JSONRepair {
    /// A repair that was needed, counted in the generation report.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case codeFence = "code-fence"
        case surroundingProse = "surrounding-prose"
        case trailingComma = "trailing-comma"
        case truncated
    }

    /// The parsed value and the repairs it took.
    public struct Outcome: Sendable, Hashable {
        public var value: JSONValue
        public var repairs: [Kind]
    }

    /// Why nothing could be recovered.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses `text`, repairing it when needed.
    public static func parse(_ text: String) -> Result<Outcome, Failure> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = try? JSONValue(parsing: trimmed), value.objectValue != nil || value.arrayValue != nil {
            return .success(Outcome(value: value, repairs: []))
        }
        var repairs: [Kind] = []
        var body = trimmed
        if let unfenced = stripFence(body) {
            body = unfenced
            repairs.append(.codeFence)
        }
        var bytes = Array(body.utf8)
        guard let start = bytes.firstIndex(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "{") }) else {
            return .failure(Failure(message: "no JSON object or array in the reply"))
        }
        if bytes[..<start].contains(where: { !isSpace($0) }) { repairs.append(.surroundingProse) }
        bytes = Array(bytes[start...])
        let scan = scan(bytes)
        if let end = scan.end {
            if bytes[(end + 1)...].contains(where: { !isSpace($0) }) && !repairs.contains(.surroundingProse) {
                repairs.append(.surroundingProse)
            }
            bytes = Array(bytes[...end])
        } else {
            guard let cut = scan.lastCut else {
                return .failure(Failure(message: "the JSON is cut off before its first complete element"))
            }
            bytes = Array(bytes[..<cut.position])
            for open in cut.stack.reversed() { bytes.append(open == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}")) }
            repairs.append(.truncated)
        }
        let (withoutCommas, removed) = removeTrailingCommas(bytes)
        if removed { repairs.append(.trailingComma) }
        do {
            let value = try JSONValue(parsing: String(decoding: withoutCommas, as: UTF8.self))
            return .success(Outcome(value: value, repairs: repairs))
        } catch {
            let excerpt = String(String(decoding: withoutCommas, as: UTF8.self).prefix(120))
            return .failure(Failure(message: "not valid JSON after repair (\(repairs.map(\.rawValue).joined(separator: ", "))): \(excerpt)"))
        }
    }

    /// The content of the first ``` fence (to the end when it is not closed), or nil.
    static func stripFence(_ text: String) -> String? {
        guard let open = text.range(of: "```") else { return nil }
        var rest = text[open.upperBound...]
        // Skip a language tag such as `json`.
        if let newline = rest.firstIndex(of: "\n") {
            let tag = rest[..<newline].trimmingCharacters(in: .whitespaces)
            if tag.allSatisfy({ $0.isLetter }) { rest = rest[rest.index(after: newline)...] }
        }
        if let close = rest.range(of: "```") { rest = rest[..<close.lowerBound] }
        return String(rest)
    }

    struct Scan {
        /// Index of the byte closing the outermost container, when it closes.
        var end: Int?
        /// The last place the text can be cut and closed: just after a complete array element.
        var lastCut: (position: Int, stack: [UInt8])?
    }

    static func scan(_ bytes: [UInt8]) -> Scan {
        var stack: [UInt8] = []
        var inString = false
        var escaped = false
        var result = Scan()
        for (i, byte) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                stack.append(byte)
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = stack.popLast()
                if stack.isEmpty {
                    result.end = i
                    return result
                }
                if stack.last == UInt8(ascii: "[") { result.lastCut = (i + 1, stack) }
            case UInt8(ascii: ","):
                if stack.last == UInt8(ascii: "[") { result.lastCut = (i, stack) }
            default:
                break
            }
        }
        return result
    }

    /// Removes commas that directly precede `]` or `}` (outside strings).
    static func removeTrailingCommas(_ bytes: [UInt8]) -> ([UInt8], Bool) {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        var removed = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                out.append(byte)
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = true }
            if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                var j = out.count - 1
                while j >= 0, isSpace(out[j]) { j -= 1 }
                if j >= 0, out[j] == UInt8(ascii: ",") {
                    out.remove(at: j)
                    removed = true
                }
            }
            out.append(byte)
        }
        return (out, removed)
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
