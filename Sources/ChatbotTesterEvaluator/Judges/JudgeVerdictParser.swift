import ChatbotTesterCore
import Foundation

/// The score range a judge answers on, e.g. 1–5; scores are normalised to [0, 1].
public struct JudgeScale: Sendable, Hashable, Codable {
    public var min: Double
    public var max: Double

    public init(min: Double = 1, max: Double = 5) {
        self.min = min
        self.max = max
    }

    /// Maps a raw score on this scale to [0, 1].
    public func normalise(_ raw: Double) -> Double { (raw - min) / (max - min) }

    /// Whether a raw score lies on the scale.
    public func contains(_ raw: Double) -> Bool { raw >= min - 1e-9 && raw <= max + 1e-9 }

    var text: String { "\(JSONSchemaValidator.format(min)) to \(JSONSchemaValidator.format(max))" }
}

/// A parsed judge verdict.
public struct JudgeVerdict: Sendable, Hashable {
    /// The score on the judge's scale.
    public var raw: Double
    public var reason: String
    /// True when the output needed repair (fences, prose, quotes, a score written as text…).
    public var repaired: Bool
    /// What the verdict found beyond the score (per-item verdicts of the RAG metrics), merged into
    /// the record's `details`.
    public var details: [String: JSONValue]? = nil
}

/// Parses a judge's `{score, reason}` output, repairing what can be repaired.
public enum JudgeVerdictParser {
    /// Why a verdict could not be read; the message becomes the retry hint.
    public struct Failure: Error, Sendable, Hashable {
        public var message: String
    }

    /// Parses `text` into a verdict on `scale`.
    public static func parse(_ text: String, scale: JudgeScale) -> Result<JudgeVerdict, Failure> {
        var repaired = false
        var rawScore: JSONValue?
        var reason = ""
        if case .success(let parsed) = JSONRepair.parse(text), let object = parsed.value.objectValue {
            repaired = parsed.repaired
            rawScore = object["score"] ?? object["rating"] ?? object["grade"]
            reason = (object["reason"] ?? object["reasoning"] ?? object["explanation"])?.stringValue ?? ""
        } else if let match = try? CompiledRegex(#"(?i)score["']?\s*[:=]\s*["']?(-?\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?)"#).firstMatchGroup(in: text) {
            repaired = true
            rawScore = .string(match)
            reason = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            return .failure(Failure(message: "the reply is not a JSON object with a 'score'"))
        }
        guard let scoreValue = rawScore else {
            return .failure(Failure(message: "the JSON object has no 'score' field"))
        }
        let number: Double
        if let direct = scoreValue.doubleValue {
            number = direct
        } else if let textual = scoreValue.stringValue, let parsed = parseNumber(textual, scale: scale) {
            number = parsed
            repaired = true
        } else {
            return .failure(Failure(message: "'score' must be a number from \(scale.text), got \(scoreValue.canonicalText)"))
        }
        guard scale.contains(number) else {
            return .failure(Failure(message: "'score' \(JSONSchemaValidator.format(number)) is outside the scale \(scale.text)"))
        }
        return .success(JudgeVerdict(raw: number, reason: reason, repaired: repaired))
    }

    /// Reads "4", "4.5", "4/5", "4 out of 5" (a fraction is rescaled onto `scale`).
    static func parseNumber(_ text: String, scale: JudgeScale) -> Double? {
        let cleaned = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard let regex = try? CompiledRegex(#"^(-?\d+(?:\.\d+)?)\s*(?:(?:/|out of)\s*(\d+(?:\.\d+)?))?"#),
            let groups = regex.groups(in: cleaned), let first = groups[0], let value = Double(first)
        else { return nil }
        if let denominator = groups[1].flatMap(Double.init), denominator > 0, denominator != scale.max {
            return scale.min + (value / denominator) * (scale.max - scale.min)
        }
        return value
    }
}

extension CompiledRegex {
    /// The first capture group of the first match.
    func firstMatchGroup(in text: String) -> String? {
        groups(in: text)?.first ?? nil
    }

    /// The capture groups of the first match (`nil` entries for groups that did not take part).
    func groups(in text: String) -> [String?]? {
        let range = NSRange(text.startIndex..., in: text)
        guard let match = regex.firstMatch(in: text, range: range) else { return nil }
        return (1..<max(match.numberOfRanges, 2)).map { index in
            guard index < match.numberOfRanges, let r = Range(match.range(at: index), in: text) else { return nil }
            return String(text[r])
        }
    }
}
