import ChatbotTesterCore

/// `generate.personas`: persona × intent grids that become simulated-user scenarios.
///
/// ```yaml
/// personas:
///   personas: ["an impatient customer", {name: novice, description: "a first-time online shopper"}]
///   intents:  ["get a refund for a broken phone", {goal: "change the delivery address", stopCondition: "the address is confirmed"}]
///   maxTurns: 6
///   backend: gen       # optional: a model writes an opening message and a sharper stop condition
///   simulator: sim     # optional: the backend that plays the user at run time
/// ```
public struct PersonaSpec: Sendable, Hashable, Codable {
    /// Who the simulated user is.
    public struct Persona: Sendable, Hashable, Codable {
        /// A short label, used in tags (`persona:<name>`).
        public var name: String
        /// The description the simulator plays.
        public var description: String

        public init(name: String? = nil, description: String) {
            self.name = name ?? Slug.make(description)
            self.description = description
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case name, description }

        public init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                self.init(description: text)
                return
            }
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(name: try c.decodeIfPresent(String.self, forKey: .name), description: try c.decode(String.self, forKey: .description))
        }
    }

    /// What the simulated user wants.
    public struct Intent: Sendable, Hashable, Codable {
        public var name: String
        public var goal: String
        public var stopCondition: String?
        public var openingMessage: String?
        /// What a good conversation achieves, for judges; a default is derived from the goal.
        public var criteria: String?
        public var expected: String?

        public init(
            name: String? = nil, goal: String, stopCondition: String? = nil, openingMessage: String? = nil,
            criteria: String? = nil, expected: String? = nil
        ) {
            self.name = name ?? Slug.make(goal)
            self.goal = goal
            self.stopCondition = stopCondition
            self.openingMessage = openingMessage
            self.criteria = criteria
            self.expected = expected
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case name, goal, stopCondition, openingMessage, criteria, expected }

        public init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                self.init(goal: text)
                return
            }
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                name: try c.decodeIfPresent(String.self, forKey: .name), goal: try c.decode(String.self, forKey: .goal),
                stopCondition: try c.decodeIfPresent(String.self, forKey: .stopCondition),
                openingMessage: try c.decodeIfPresent(String.self, forKey: .openingMessage),
                criteria: try c.decodeIfPresent(String.self, forKey: .criteria),
                expected: try c.decodeIfPresent(String.self, forKey: .expected))
        }
    }

    public var personas: [Persona]
    public var intents: [Intent]
    public var maxTurns: Int
    /// A backend that enriches each scenario (opening message, stop condition); none keeps the
    /// deterministic scenarios.
    public var backend: String?
    /// The backend that plays the user at run time (`Scenario.simulator`).
    public var simulator: String?
    /// A system prompt for the bot under test, copied to every scenario sample.
    public var system: String?

    public init(
        personas: [Persona], intents: [Intent], maxTurns: Int = 6, backend: String? = nil, simulator: String? = nil,
        system: String? = nil
    ) {
        self.personas = personas
        self.intents = intents
        self.maxTurns = maxTurns
        self.backend = backend
        self.simulator = simulator
        self.system = system
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case personas, intents, maxTurns, backend, simulator, system }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        personas = try c.decode([Persona].self, forKey: .personas)
        intents = try c.decode([Intent].self, forKey: .intents)
        maxTurns = try c.decodeIfPresent(Int.self, forKey: .maxTurns) ?? 6
        backend = try c.decodeIfPresent(String.self, forKey: .backend)
        simulator = try c.decodeIfPresent(String.self, forKey: .simulator)
        system = try c.decodeIfPresent(String.self, forKey: .system)
        if personas.isEmpty { throw DecodingError.dataCorruptedError(forKey: .personas, in: c, debugDescription: "must not be empty") }
        if intents.isEmpty { throw DecodingError.dataCorruptedError(forKey: .intents, in: c, debugDescription: "must not be empty") }
        if maxTurns < 1 { throw DecodingError.dataCorruptedError(forKey: .maxTurns, in: c, debugDescription: "must be at least 1") }
    }
}

/// Short lowercase labels for tags: "An impatient customer!" → `an-impatient-customer`.
enum Slug {
    static func make(_ text: String, maxLength: Int = 40) -> String {
        let words = SampleIdentity.normalize(text).split(separator: " ")
        var slug = ""
        for word in words {
            let next = slug.isEmpty ? String(word) : slug + "-" + word
            if next.count > maxLength, !slug.isEmpty { break }
            slug = next
        }
        return slug.isEmpty ? "item" : String(slug.prefix(maxLength))
    }
}
