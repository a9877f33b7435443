import ChatbotTesterCore

/// Why a generated item did not become a sample.
public enum DropReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// The model's reply held no JSON that could be repaired.
    case invalidJSON = "invalid-json"
    /// An item of the reply failed validation (missing `input`, wrong types, unknown question type).
    case invalidItem = "invalid-item"
    /// Near-identical to an earlier sample (normalised text).
    case duplicate
    /// More items than asked for.
    case surplus
    /// Fewer valid items than asked for, after retries (counted per missing item).
    case missing
    /// The backend call failed (after its own retries).
    case backendError = "backend-error"
    /// A perturbation that left the text unchanged.
    case unchangedVariant = "unchanged-variant"
    /// The finished sample failed the TestSample schema (what `chatbot-tester validate` checks).
    case invalidSample = "invalid-sample"
}

/// One dropped item, for the report and the `generate.dropped` event.
public struct DroppedItem: Sendable, Hashable, Codable {
    public var reason: DropReason
    /// What was wrong, in words.
    public var detail: String
    /// Where it came from: `template[0]`, `synthesize topic 'refunds'`, `perturb typos of gen-…`.
    public var origin: String

    public init(reason: DropReason, detail: String, origin: String) {
        self.reason = reason
        self.detail = detail
        self.origin = origin
    }
}

/// What a generation produced, dropped, repaired and skipped.
public struct GenerationReport: Sendable, Hashable, Codable {
    /// Samples yielded.
    public var generated: Int = 0
    /// Samples yielded per source (`template`, `synthesize`, `persona`, `adversarial`, `perturbation`).
    public var bySource: [String: Int] = [:]
    /// Samples not yielded because their id was already in the output (resume).
    public var skippedExisting: Int = 0
    /// Drops per reason.
    public var dropped: [DropReason: Int] = [:]
    /// Repairs per kind (`code-fence`, `trailing-comma`, `truncated`, `single-object`, `retry`, …).
    public var repairs: [String: Int] = [:]
    /// Model calls made.
    public var modelCalls: Int = 0
    /// The first dropped items, with details (capped at `detailLimit`).
    public var drops: [DroppedItem] = []
    /// How many dropped items keep their details.
    public static let detailLimit = 500

    public init() {}

    /// Total drops over every reason.
    public var totalDropped: Int { dropped.values.reduce(0, +) }

    mutating func record(_ item: DroppedItem, count: Int = 1) {
        dropped[item.reason, default: 0] += count
        if drops.count < Self.detailLimit { drops.append(item) }
    }

    mutating func repaired(_ kind: String, count: Int = 1) {
        repairs[kind, default: 0] += count
    }

    enum CodingKeys: String, CodingKey {
        case generated, bySource, skippedExisting, dropped, repairs, modelCalls, drops
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        generated = try c.decode(Int.self, forKey: .generated)
        bySource = try c.decodeIfPresent([String: Int].self, forKey: .bySource) ?? [:]
        skippedExisting = try c.decodeIfPresent(Int.self, forKey: .skippedExisting) ?? 0
        let raw = try c.decodeIfPresent([String: Int].self, forKey: .dropped) ?? [:]
        dropped = Dictionary(uniqueKeysWithValues: raw.compactMap { key, value in DropReason(rawValue: key).map { ($0, value) } })
        repairs = try c.decodeIfPresent([String: Int].self, forKey: .repairs) ?? [:]
        modelCalls = try c.decodeIfPresent(Int.self, forKey: .modelCalls) ?? 0
        drops = try c.decodeIfPresent([DroppedItem].self, forKey: .drops) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(generated, forKey: .generated)
        try c.encode(bySource, forKey: .bySource)
        try c.encode(skippedExisting, forKey: .skippedExisting)
        try c.encode(Dictionary(uniqueKeysWithValues: dropped.map { ($0.key.rawValue, $0.value) }), forKey: .dropped)
        try c.encode(repairs, forKey: .repairs)
        try c.encode(modelCalls, forKey: .modelCalls)
        try c.encode(drops, forKey: .drops)
    }
}
