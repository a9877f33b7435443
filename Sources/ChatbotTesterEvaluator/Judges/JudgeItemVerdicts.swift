import ChatbotTesterCore
import Foundation

/// One yes/no verdict per numbered item — a claim of the answer, a retrieved passage, a passage
/// retrieval should have found — read into a score by the metric's own rule (the fraction of
/// "yes", or a rank-weighted precision).
///
/// The judge answers `{"verdicts": [{"item": 1, "verdict": "yes", "reason": "…"}, …], "reason": "…"}`.
/// The reader repairs what `JSONRepair` repairs, accepts `true`/`false` and words such as
/// "supported" or "not relevant" for the verdict, a bare list instead of the object, and verdicts
/// given out of order when their `item` numbers say so. A reply with the wrong number of verdicts
/// cannot be read (the judge is asked again, then the record is unmeasured).
public enum JudgeItemVerdicts {
    /// How the items and their verdicts are named in prompts and reasons.
    public struct Wording: Sendable, Hashable {
        /// The item, singular and plural ("claim", "claims").
        public var item: String
        public var items: String
        /// What "yes" and "no" mean for an item ("supported", "unsupported").
        public var yes: String
        public var no: String

        public init(item: String, items: String, yes: String, no: String) {
            self.item = item
            self.items = items
            self.yes = yes
            self.no = no
        }
    }

    /// One item's verdict.
    public struct Verdict: Sendable, Hashable {
        public var yes: Bool
        public var reason: String
    }

    /// The answer format for `items`: one verdict each; `score` maps the verdicts (in item order)
    /// to a score in [0, 1].
    public static func format(
        items: [String], wording: Wording, score: @escaping @Sendable ([Bool]) -> Double
    ) -> JudgeAnswerFormat {
        let count = items.count
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "verdicts": [
                    "type": "array", "minItems": .int(count), "maxItems": .int(count),
                    "items": [
                        "type": "object",
                        "properties": [
                            "item": ["type": "integer"],
                            "verdict": ["type": "string", "enum": ["yes", "no"]],
                            "reason": ["type": "string"],
                        ],
                        "required": ["item", "verdict", "reason"],
                        "additionalProperties": false,
                    ],
                ],
                "reason": ["type": "string"],
            ],
            "required": ["verdicts", "reason"],
            "additionalProperties": false,
        ]
        let shape = #"{"verdicts": [{"item": 1, "verdict": "yes" or "no", "reason": "<a few words>"}, …], "reason": "<one sentence>"}"#
        return JudgeAnswerFormat(
            schemaName: "verdicts", schema: schema,
            instruction: "Answer with only a JSON object, no code fence and no other text: \(shape). "
                + "Give exactly \(count) verdicts, one per numbered \(wording.item), in order.",
            retryHint: "Reply again with only the JSON object \(shape), exactly \(count) verdicts.",
            scale: JudgeScale(min: 0, max: 1)
        ) { text in
            parse(text, count: count).map { verdicts in
                verdict(verdicts, items: items, wording: wording, score: score(verdicts.map(\.yes)), judgeReason: overallReason(text))
            }
        }
    }

    /// The verdict for a set of item verdicts: the score, a reason naming the "no" items, and the
    /// per-item verdicts in `details`.
    static func verdict(_ verdicts: [Verdict], items: [String], wording: Wording, score: Double, judgeReason: String?) -> JudgeVerdict {
        let yes = verdicts.filter(\.yes).count
        var reason = "\(yes) of \(verdicts.count) \(verdicts.count == 1 ? wording.item : wording.items) \(wording.yes)"
        let noes = zip(items, verdicts).filter { !$0.1.yes }
        if !noes.isEmpty {
            reason += "; \(wording.no): "
                + noes.prefix(5).map { item, verdict in
                    "'\(excerpt(item, limit: 80))'" + (verdict.reason.isEmpty ? "" : " (\(excerpt(verdict.reason, limit: 120)))")
                }.joined(separator: ", ")
            if noes.count > 5 { reason += ", and \(noes.count - 5) more" }
        }
        if let judgeReason, !judgeReason.isEmpty { reason += ". Judge: \(excerpt(judgeReason, limit: 300))" }
        let listed: [JSONValue] = zip(items, verdicts).map { item, verdict in
            ["text": .string(excerpt(item, limit: 200)), "verdict": .string(verdict.yes ? "yes" : "no"), "reason": .string(verdict.reason)]
        }
        return JudgeVerdict(
            raw: score, reason: reason, repaired: false,
            details: [wording.items: .array(listed), wording.yes: .int(yes), wording.no: .int(verdicts.count - yes)])
    }

    /// Reads `count` verdicts from a judge reply.
    public static func parse(_ text: String, count: Int) -> Result<[Verdict], JudgeVerdictParser.Failure> {
        guard case .success(let parsed) = JSONRepair.parse(text) else {
            return .failure(.init(message: "the reply is not a JSON object with 'verdicts'"))
        }
        let list: [JSONValue]
        if let array = parsed.value.arrayValue {
            list = array
        } else if let object = parsed.value.objectValue {
            if let array = (object["verdicts"] ?? object["items"] ?? object["results"])?.arrayValue {
                list = array
            } else if let only = object.values.compactMap(\.arrayValue).first, object.values.filter({ $0.arrayValue != nil }).count == 1 {
                list = only
            } else {
                return .failure(.init(message: "the JSON object has no 'verdicts' list"))
            }
        } else {
            return .failure(.init(message: "the reply is not a JSON object with 'verdicts'"))
        }
        guard list.count == count else {
            return .failure(.init(message: "expected \(count) verdicts (one per item, in order), got \(list.count)"))
        }
        var read: [(item: Int?, verdict: Verdict)] = []
        for (index, entry) in list.enumerated() {
            let object = entry.objectValue
            let value = object.map { $0["verdict"] ?? $0["supported"] ?? $0["relevant"] ?? $0["answer"] ?? .null } ?? entry
            guard let yes = answer(value) else {
                return .failure(.init(message: "verdict \(index + 1) must be \"yes\" or \"no\", got \(excerpt(value.canonicalText, limit: 40))"))
            }
            let reason = (object?["reason"] ?? object?["reasoning"])?.stringValue ?? ""
            read.append(((object?["item"] ?? object?["index"])?.intValue, Verdict(yes: yes, reason: reason)))
        }
        // Item numbers that name every item once put the verdicts in order; otherwise order counts.
        let numbers = read.compactMap(\.item)
        if numbers.count == count, Set(numbers) == Set(1...max(count, 1)), count > 0 {
            return .success(read.sorted { $0.item! < $1.item! }.map(\.verdict))
        }
        return .success(read.map(\.verdict))
    }

    /// "yes"/"no", booleans, 1/0 and the usual words.
    static func answer(_ value: JSONValue) -> Bool? {
        if let flag = value.boolValue { return flag }
        if let number = value.doubleValue { return number == 1 ? true : (number == 0 ? false : nil) }
        guard let text = value.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() else { return nil }
        switch text.trimmingCharacters(in: CharacterSet(charactersIn: ".!")) {
        case "yes", "y", "true", "supported", "relevant", "present", "covered", "attributed", "1": return true
        case "no", "n", "false", "unsupported", "not supported", "irrelevant", "not relevant", "absent", "missing", "not covered",
            "not attributed", "idk", "unknown", "0":
            return false
        default: return nil
        }
    }

    static func overallReason(_ text: String) -> String? {
        guard case .success(let parsed) = JSONRepair.parse(text) else { return nil }
        return parsed.value["reason"]?.stringValue
    }

    // MARK: Scores

    /// The fraction of "yes" (0 for no items).
    public static func fraction(_ verdicts: [Bool]) -> Double {
        verdicts.isEmpty ? 0 : Double(verdicts.filter { $0 }.count) / Double(verdicts.count)
    }

    /// Rank-weighted precision of verdicts in rank order: the mean of precision@k over the ranks k
    /// holding a relevant item (0 when none is relevant), so relevant items ranked first score higher.
    public static func rankedPrecision(_ verdicts: [Bool]) -> Double {
        var relevant = 0
        var sum = 0.0
        for (index, isRelevant) in verdicts.enumerated() where isRelevant {
            relevant += 1
            sum += Double(relevant) / Double(index + 1)
        }
        return relevant == 0 ? 0 : sum / Double(relevant)
    }
}
