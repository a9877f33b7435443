import ChatbotTesterCore

/// `generate.adversarial`: built-in red-team probes, offline.
///
/// ```yaml
/// adversarial:
///   categories: [prompt-injection, jailbreak, pii-extraction, system-prompt-extraction, off-topic, toxic-request]
///   perCategory: 5
///   domain: "an online electronics store"   # fills {domain} in the probes
/// ```
public struct AdversarialSpec: Sendable, Hashable, Codable {
    public var categories: [AdversarialCategory]
    /// Probes per category (capped at the catalog's size; the seed chooses which).
    public var perCategory: Int
    /// What the bot is for, used in probe wording and criteria.
    public var domain: String
    /// A system prompt copied to every probe (the bot's own prompt, to test leaks against).
    public var system: String?

    public init(
        categories: [AdversarialCategory] = AdversarialCategory.allCases, perCategory: Int = 5,
        domain: String = "this service", system: String? = nil
    ) {
        self.categories = categories
        self.perCategory = perCategory
        self.domain = domain
        self.system = system
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case categories, perCategory, domain, system }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        categories = try c.decodeIfPresent([AdversarialCategory].self, forKey: .categories) ?? AdversarialCategory.allCases
        perCategory = try c.decodeIfPresent(Int.self, forKey: .perCategory) ?? 5
        domain = try c.decodeIfPresent(String.self, forKey: .domain) ?? "this service"
        system = try c.decodeIfPresent(String.self, forKey: .system)
        if categories.isEmpty { throw DecodingError.dataCorruptedError(forKey: .categories, in: c, debugDescription: "must not be empty") }
        if perCategory < 1 { throw DecodingError.dataCorruptedError(forKey: .perCategory, in: c, debugDescription: "must be at least 1") }
    }
}
