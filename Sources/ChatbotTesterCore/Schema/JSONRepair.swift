import Foundation

/// Recovers a JSON object or array from what language models actually reply, and says which
/// repairs it took.
///
/// Every stage that reads model output uses it: LLM judges (`{score, reason}` verdicts), test-case
/// synthesis (`{"items": [...]}` replies), the lenient `json-valid` metric. The damage it repairs:
///
/// - a ```` ```json ```` code fence, closed or not (``Kind/codeFence``);
/// - prose before or after the JSON (``Kind/surroundingProse``);
/// - a reply cut off at the token limit (``Kind/truncated``): inside an array the incomplete element
///   is dropped and the array closed after the last complete one (never half an item; an array with
///   no complete element is dropped with the object member holding it); when only objects are open,
///   the open string and objects are closed (a judge's cut-off `reason` is kept), falling back to
///   dropping the incomplete member. A cut that leaves nothing (`{}`, `[]`) is a failure;
/// - trailing commas, single-quoted strings, unquoted keys, bare-word values, Python literals
///   (`True`, `False`, `None`) and raw control characters inside strings.
///
/// Valid JSON (an object or an array) is returned as is with no repairs.
///
/// ```swift
/// switch JSONRepair.parse(reply.content) {
/// case .success(let outcome): use(outcome.value); count(outcome.repairs)
/// case .failure(let failure): drop(reason: failure.message)
/// }
/// ```
public enum JSONRepair {
    /// A repair that was needed. The raw values are stable: reports count repairs by them.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The JSON was inside a ```` ``` ```` fence.
        case codeFence = "code-fence"
        /// Text before or after the JSON was dropped.
        case surroundingProse = "surrounding-prose"
        /// A comma before `]` or `}` was dropped.
        case trailingComma = "trailing-comma"
        /// The reply ended inside the JSON; it was cut and closed.
        case truncated
        /// `'single-quoted'` strings (or `\'` escapes) were rewritten with double quotes.
        case singleQuotes = "single-quotes"
        /// Object keys without quotes were quoted.
        case unquotedKeys = "unquoted-keys"
        /// Values written as bare words (`{reason: too vague}`) were quoted.
        case bareWords = "bare-words"
        /// `True`, `False`, `None` (and `nil`) became `true`, `false`, `null`.
        case pythonLiterals = "python-literals"
        /// Raw newlines, tabs or other control characters inside strings were escaped.
        case controlCharacters = "control-characters"
    }

    /// The parsed value and the repairs it took, in the order they were applied.
    public struct Outcome: Sendable, Hashable {
        /// The recovered object or array.
        public var value: JSONValue
        /// The repairs that were needed; empty when the text was valid JSON.
        public var repairs: [Kind]

        /// Whether any repair was needed.
        public var repaired: Bool { !repairs.isEmpty }

        public init(value: JSONValue, repairs: [Kind]) {
            self.value = value
            self.repairs = repairs
        }
    }

    /// Why nothing could be recovered; the message is fit for a drop reason or a retry hint.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }

        public init(message: String) { self.message = message }
    }

    /// How many candidate `{`/`[` starts are tried when earlier ones (such as `[1-5]` in prose) are
    /// not JSON.
    static let maxStarts = 8

    /// Parses `text` as a JSON object or array, repairing it when plain parsing fails.
    public static func parse(_ text: String) -> Result<Outcome, Failure> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = try? JSONValue(parsing: trimmed), value.objectValue != nil || value.arrayValue != nil {
            return .success(Outcome(value: value, repairs: []))
        }
        var leading: [Kind] = []
        var body = Array(trimmed.utf8)
        if let unfenced = stripFence(trimmed) {
            body = Array(unfenced.utf8)
            leading.append(.codeFence)
        }
        var firstFailure: Failure?
        var from = 0
        for _ in 0..<maxStarts {
            guard let start = body[from...].firstIndex(where: isOpener) else { break }
            let (result, end) = repair(body, start: start, leading: leading)
            switch result {
            case .success(let outcome): return .success(outcome)
            case .failure(let failure): firstFailure = firstFailure ?? failure
            }
            // Only a complete (balanced) candidate that was not JSON lets a later one be tried: the
            // inside of a cut-off reply is never read as a reply of its own.
            guard let end, end + 1 < body.count else { break }
            from = end + 1
        }
        return .failure(firstFailure ?? Failure(message: "no JSON object or array in the reply"))
    }

    /// The first balanced `{…}` or `[…]` in `text` (code fence removed), or everything from its
    /// first `{`/`[` when it never closes; `nil` when there is none. Nothing else is repaired.
    public static func extractJSON(from text: String) -> String? {
        let bytes = Array((stripFence(text) ?? text).utf8)
        guard let start = bytes.firstIndex(where: isOpener) else { return nil }
        let scan = scan(bytes, from: start)
        return String(decoding: scan.end.map { bytes[start...$0] } ?? bytes[start...], as: UTF8.self)
    }

    /// Repairs the candidate starting at `start`; also returns where a balanced candidate ends.
    static func repair(_ body: [UInt8], start: Int, leading: [Kind]) -> (Result<Outcome, Failure>, end: Int?) {
        var repairs = leading
        if body[..<start].contains(where: { !JSONByteScanner.isWhitespace($0) }) { repairs.append(.surroundingProse) }
        let scan = scan(body, from: start)
        if let end = scan.end {
            if body[(end + 1)...].contains(where: { !JSONByteScanner.isWhitespace($0) }) && !repairs.contains(.surroundingProse) {
                repairs.append(.surroundingProse)
            }
            return (finish(Array(body[start...end]), repairs: repairs), end)
        }
        repairs.append(.truncated)
        let closers = { (stack: ArraySlice<UInt8>) in stack.reversed().map { $0 == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}") } }
        var candidates: [[UInt8]] = []
        if let array = scan.stack.firstIndex(of: UInt8(ascii: "[")) {
            if let cut = scan.cuts[array] {
                // After the last complete element of the outermost open array: never half an item.
                candidates.append(Array(body[start..<cut]) + closers(scan.stack[...array]))
            } else if array > 0, let cut = scan.cuts[array - 1] {
                // No element is complete: drop the object member holding the array.
                candidates.append(Array(body[start..<cut]) + closers(scan.stack[..<array]))
            }
        } else {
            // Only objects are open: close the open string and objects, keeping the partial value …
            var closed = Array(body[start...])
            if let quote = scan.openQuote {
                if scan.danglingEscape { closed.removeLast() }
                closed.append(quote)
            }
            while let last = closed.last, JSONByteScanner.isWhitespace(last) || last == UInt8(ascii: ",") { closed.removeLast() }
            candidates.append(closed + closers(scan.stack[...]))
            // … or, when cut inside a key or a number or before a value, drop the incomplete member.
            if let cut = scan.cuts.last ?? nil { candidates.append(Array(body[start..<cut]) + closers(scan.stack[...])) }
        }
        let cutOff = Failure(message: "the JSON is cut off before its first complete element")
        var firstFailure: Failure?
        for candidate in candidates {
            switch finish(candidate, repairs: repairs) {
            case .success(let outcome) where outcome.value != [:] && outcome.value != []:
                return (.success(outcome), nil)
            case .success:
                firstFailure = cutOff  // nothing complete was left
            case .failure(let failure):
                firstFailure = firstFailure ?? failure
            }
        }
        return (.failure(firstFailure ?? cutOff), nil)
    }

    /// Normalises a closed candidate and parses it.
    static func finish(_ candidate: [UInt8], repairs: [Kind]) -> Result<Outcome, Failure> {
        let (normalised, applied) = normalise(candidate)
        let all = repairs + Kind.allCases.filter(applied.contains)
        do {
            return .success(Outcome(value: try JSONValue(parsing: String(decoding: normalised, as: UTF8.self)), repairs: all))
        } catch {
            let excerpt = String(String(decoding: normalised, as: UTF8.self).prefix(120))
            let done = all.isEmpty ? "" : " (\(all.map(\.rawValue).joined(separator: ", ")))"
            return .failure(Failure(message: "not valid JSON after repair\(done): \(excerpt)"))
        }
    }

    /// The content of the first ```` ``` ```` fence (to the end when it is not closed), or nil.
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

    static func isOpener(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[")
    }
}
