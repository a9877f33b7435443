import ChatbotTesterCore

/// Stable ids and near-duplicate keys for generated samples.
public enum SampleIdentity {
    /// The canonical content a generated sample's id is derived from: what is sent to the bot
    /// (system, input or turns or scenario), not the expected answer or metadata.
    public static func canonicalContent(of sample: TestSample) -> String {
        var object: [String: JSONValue] = [:]
        if let system = sample.system { object["system"] = .string(system) }
        if let input = sample.input { object["input"] = .string(input) }
        if let turns = sample.turns { object["turns"] = .array(turns.map(JSONValue.string)) }
        if let scenario = sample.scenario {
            var value: [String: JSONValue] = [
                "persona": .string(scenario.persona), "goal": .string(scenario.goal), "maxTurns": .int(scenario.maxTurns),
            ]
            if let stop = scenario.stopCondition { value["stopCondition"] = .string(stop) }
            if let opening = scenario.openingMessage { value["openingMessage"] = .string(opening) }
            if let simulator = scenario.simulator { value["simulator"] = .string(simulator) }
            object["scenario"] = .object(value)
        }
        var text = ""
        writeCanonical(.object(object), to: &text)
        return text
    }

    /// Compact JSON with sorted keys, `/` unescaped: the same bytes on every platform, without the
    /// cost of a `JSONEncoder` per sample.
    static func writeCanonical(_ value: JSONValue, to out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let number): out += String(number)
        case .double(let number): out += number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .string(let text):
            out += "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                writeCanonical(item, to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                writeCanonical(.string(key), to: &out)
                out += ":"
                writeCanonical(members[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// `gen-` + the first 12 hex digits of the SHA-256 of the canonical content.
    public static func contentId(of sample: TestSample) -> String {
        "gen-" + SHA256Hasher.hex(canonicalContent(of: sample)).prefix(12)
    }

    /// Text with case, whitespace and punctuation folded away: "How do I  return it?" and
    /// "how do i return it" have the same key.
    public static func normalize(_ text: String) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in text.lowercased().unicodeScalars {
            if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                if pendingSpace, !out.isEmpty { out.append(" ") }
                pendingSpace = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingSpace = true
            }
        }
        return out
    }

    /// The near-duplicate key of a sample: its normalised conversation content. Perturbation
    /// variants are keyed by their exact text and kind instead, since what they change (case,
    /// spacing, punctuation) is what normalisation folds away.
    public static func dedupKey(of sample: TestSample) -> String {
        let variantKind = sample.metadata["perturbation"]?.stringValue
        func normalize(_ text: String) -> String {
            variantKind == nil ? Self.normalize(text) : text
        }
        var parts: [String] = []
        if let system = sample.system { parts.append("s:" + normalize(system)) }
        if let input = sample.input { parts.append("i:" + normalize(input)) }
        if let turns = sample.turns { parts.append("t:" + turns.map(normalize).joined(separator: "|")) }
        if let scenario = sample.scenario {
            parts.append("p:" + normalize(scenario.persona))
            parts.append("g:" + normalize(scenario.goal))
            if let opening = scenario.openingMessage { parts.append("o:" + normalize(opening)) }
        }
        if let variantKind { parts.append("v:" + variantKind) }
        return parts.joined(separator: "\n")
    }

    /// A 64-bit digest of the dedup key, which is what generation remembers per sample (so a
    /// million-case run keeps megabytes, not the texts).
    public static func dedupDigest(of sample: TestSample) -> UInt64 {
        var hasher = FNV1a64()
        hasher.combine(dedupKey(of: sample))
        return hasher.value
    }
}
