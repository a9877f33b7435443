import ChatbotTesterCore
import Foundation

/// `equals`, `contains`, `icontains`, `not-contains`, `regex`, `starts-with`.
enum TextMatchMetrics {
    static func register(into registry: inout MetricRegistry) {
        registry.registerSynchronousScoring(
            "equals", summary: "reply equals `value` (or the sample's expected)",
            options: [
                OptionSpec("value", .string, "the text to equal (default: the sample's expected)"),
                OptionSpec("trim", .bool, default: "true", "ignore leading/trailing whitespace"),
                OptionSpec("ignoreCase", .bool, default: "false", "compare case-insensitively"),
            ]
        ) { options, _ in
            let trim = try options.bool("trim") ?? true
            let ignoreCase = try options.bool("ignoreCase") ?? false
            _ = try options.string("value")
            return { record in
                let want = try options.reference(record)
                let got = try requireReply(record)
                if let same = ASCIIText.equalsNormalised(got, want, trim: trim, ignoreCase: ignoreCase) {
                    return same ? equalScore : differentScore
                }
                let a = normalise(got, trim: trim, ignoreCase: ignoreCase)
                let b = normalise(want, trim: trim, ignoreCase: ignoreCase)
                return .bool(a == b, reason: a == b ? "reply equals the expected text" : "reply differs from the expected text")
            }
        }

        let listOptions = [
            OptionSpec("value", .string, "one text to look for"),
            OptionSpec("values", .array, "several texts to look for"),
            OptionSpec("mode", .string, default: "all", "all: every value must match; any: one is enough"),
            OptionSpec("ignoreCase", .bool, default: "false", "compare case-insensitively"),
        ]
        for (type, negate, caseless) in [("contains", false, false), ("icontains", false, true), ("not-contains", true, false)] {
            registry.registerSynchronousScoring(
                type,
                summary: negate ? "reply contains none of the values (mode any: not all of them)" : "reply contains the value(s)",
                options: listOptions
            ) { options, _ in
                let values = try (options.strings("values") ?? []) + (options.string("value").map { [$0] } ?? [])
                let mode = try options.choice("mode", ["all", "any"], default: "all")
                let ignoreCase = try options.bool("ignoreCase") ?? caseless
                let all = mode == "all"
                // Fixed ASCII values: the score of every found/missing combination, made once.
                let plainValues = !values.isEmpty && values.count <= 6 && values.allSatisfy { ASCIIText.isASCII($0, allowCR: false) }
                let scores = plainValues ? (0..<(1 << values.count)).map { mask in
                    containmentScore(values, found: { values.indices.filter { mask & (1 << $0) != 0 }.map { values[$0] } }(), all: all, negate: negate)
                } : []
                return { record in
                    let needles = values.isEmpty ? [try options.reference(record)] : values
                    let reply = try requireReply(record)
                    if plainValues, ASCIIText.isASCII(reply, allowCR: false) {
                        var mask = 0
                        for (index, value) in values.enumerated() {
                            guard let hit = ASCIIText.contains(reply, value, ignoreCase: ignoreCase) else { mask = -1; break }
                            if hit { mask |= 1 << index }
                        }
                        if mask >= 0 { return scores[mask] }
                    }
                    return containment(reply, needles, all: all, negate: negate, ignoreCase: ignoreCase)
                }
            }
        }

        registry.registerSynchronousScoring(
            "regex", summary: "reply matches a regular expression (ICU syntax, searched anywhere)",
            options: [
                OptionSpec("pattern", .string, required: true, "the regular expression"),
                OptionSpec("ignoreCase", .bool, default: "false", "case-insensitive matching"),
                OptionSpec("negate", .bool, default: "false", "pass when the pattern does NOT match"),
            ]
        ) { options, _ in
            let pattern = try options.requiredString("pattern")
            let negate = try options.bool("negate") ?? false
            let regex: CompiledRegex
            do {
                regex = try CompiledRegex(pattern, ignoreCase: options.bool("ignoreCase") ?? false)
            } catch {
                throw options.invalid("pattern", "invalid regular expression: \(error.localizedDescription)")
            }
            let noMatch = "no match for /\(pattern)/"
            return { record in
                let reply = try requireReply(record)
                let match = regex.firstMatch(in: reply)
                let ok = (match != nil) != negate
                let reason = match.map { "matched '\(excerpt($0))'" } ?? noMatch
                return .bool(ok, reason: reason, details: match.map { ["match": .string($0)] })
            }
        }

        registry.registerSynchronousScoring(
            "starts-with", summary: "reply starts with the value",
            options: [
                OptionSpec("value", .string, "the prefix (default: the sample's expected)"),
                OptionSpec("trim", .bool, default: "true", "ignore leading whitespace of the reply"),
                OptionSpec("ignoreCase", .bool, default: "false", "compare case-insensitively"),
            ]
        ) { options, _ in
            let trim = try options.bool("trim") ?? true
            let ignoreCase = try options.bool("ignoreCase") ?? false
            let fixed = try options.string("value").map { normalise($0, trim: false, ignoreCase: ignoreCase) }
            let fixedPass = fixed.map { MetricScore.bool(true, reason: "reply starts with '\(excerpt($0))'") }
            return { record in
                let reference = try options.reference(record)
                let reply = try requireReply(record)
                if let fixedPass, ASCIIText.hasPrefix(reply, reference, trim: trim, ignoreCase: ignoreCase) == true { return fixedPass }
                let prefix = normalise(reference, trim: false, ignoreCase: ignoreCase)
                var text = normalise(reply, trim: false, ignoreCase: ignoreCase)
                if trim { text = String(text.drop(while: \.isWhitespace)) }
                let ok = text.hasPrefix(prefix)
                return .bool(ok, reason: ok ? "reply starts with '\(excerpt(prefix))'" : "reply starts with '\(excerpt(String(text.prefix(prefix.count + 10))))'")
            }
        }
    }

    static let equalScore = MetricScore.bool(true, reason: "reply equals the expected text")
    static let differentScore = MetricScore.bool(false, reason: "reply differs from the expected text")

    static func normalise(_ text: String, trim: Bool, ignoreCase: Bool) -> String {
        var text = trim ? text.trimmingCharacters(in: .whitespacesAndNewlines) : text
        if ignoreCase { text = text.lowercased() }
        return text
    }

    /// Scores containment: the fraction of needles found (or absent, when negated) for `all`, 1/0 for `any`.
    static func containment(_ reply: String, _ needles: [String], all: Bool, negate: Bool, ignoreCase: Bool) -> MetricScore {
        let haystack = ignoreCase ? reply.lowercased() : reply
        let found = needles.filter { haystack.contains(ignoreCase ? $0.lowercased() : $0) }
        return containmentScore(needles, found: found, all: all, negate: negate)
    }

    /// The containment score once it is known which needles were found.
    static func containmentScore(_ needles: [String], found: [String], all: Bool, negate: Bool) -> MetricScore {
        let missing = needles.filter { !found.contains($0) }
        let hits = negate ? missing.count : found.count
        let score: Double = all ? Double(hits) / Double(max(needles.count, 1)) : (hits > 0 ? 1 : 0)
        let reason: String
        if negate {
            reason = found.isEmpty ? "none of the forbidden texts appear" : "found forbidden: \(quoted(found))"
        } else {
            reason = missing.isEmpty ? "found \(quoted(found))" : (found.isEmpty ? "missing \(quoted(missing))" : "found \(quoted(found)); missing \(quoted(missing))")
        }
        return MetricScore(
            score: score, reason: reason,
            details: ["found": .array(found.map { .string($0) }), "missing": .array(missing.map { .string($0) })])
    }

    static func quoted(_ texts: [String]) -> String {
        texts.map { "'\(excerpt($0))'" }.joined(separator: ", ")
    }
}

/// The first `limit` characters of a text, with an ellipsis when cut.
func excerpt(_ text: String, limit: Int = 80) -> String {
    text.count <= limit ? text : String(text.prefix(limit)) + "…"
}

/// A compiled `NSRegularExpression`, which is immutable and safe to share across tasks.
struct CompiledRegex: @unchecked Sendable {
    let regex: NSRegularExpression

    init(_ pattern: String, ignoreCase: Bool = false) throws {
        regex = try NSRegularExpression(pattern: pattern, options: ignoreCase ? [.caseInsensitive] : [])
    }

    /// The first match's text, if any.
    func firstMatch(in text: String) -> String? {
        let range = NSRange(text.startIndex..., in: text)
        guard let match = regex.firstMatch(in: text, range: range), let r = Range(match.range, in: text) else { return nil }
        return String(text[r])
    }
}
