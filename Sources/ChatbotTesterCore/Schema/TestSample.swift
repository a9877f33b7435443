/// One test case: a single prompt, a scripted multi-turn conversation, or a simulated-user scenario.
///
/// The smallest valid case is `{"id": "q1", "input": "Hello?"}`. Exactly one of `input`, `turns`
/// and `scenario` must be present. Unknown fields are errors; free-form data goes under `metadata`.
public struct TestSample: Sendable, Hashable, Codable {
    /// The schema version this record was written with.
    public static let currentSchemaVersion = 2

    public var schemaVersion: Int
    /// A unique, stable id (results are deduplicated and resumed by it).
    public var id: String
    /// A single user prompt.
    public var input: String?
    /// A system prompt sent before the conversation.
    public var system: String?
    /// Scripted user turns, sent one after another with the transcript so far.
    public var turns: [String]?
    /// A simulated-user scenario: another model plays a persona towards a goal.
    public var scenario: Scenario?
    /// The expected answer (reference), for correctness metrics and judges.
    public var expected: String?
    /// What a good answer does, in words, for LLM judges.
    public var criteria: String?
    /// Retrieved or source context, for grounded checks.
    public var context: [String]?
    /// Free-form tags, used to group results.
    public var tags: [String]
    /// Free-form data.
    public var metadata: [String: JSONValue]
    /// Tools offered to the bot for this case, and how the runner answers calls to them (added to
    /// the target's default tools from the job config; a case's tool replaces a default of the
    /// same name).
    public var tools: [ToolSpec]?
    /// Whether and which tool the bot must call.
    public var toolChoice: ToolChoice?
    /// The most calls to the bot per user turn while it keeps calling tools (the agent loop
    /// bound; the run's default when absent). A loop cut there stops with `max_steps`.
    public var maxSteps: Int?
    /// What retrieval should have found (for context precision and recall); `context` stays the
    /// reference material.
    public var referenceContexts: [String]?
    /// The tool calls a good run makes, in order (for the `trajectory` and `tool-args` metrics).
    public var expectedTools: [ExpectedToolCall]?

    public init(
        id: String, input: String? = nil, system: String? = nil, turns: [String]? = nil, scenario: Scenario? = nil,
        expected: String? = nil, criteria: String? = nil, context: [String]? = nil, tags: [String] = [],
        metadata: [String: JSONValue] = [:], tools: [ToolSpec]? = nil, toolChoice: ToolChoice? = nil, maxSteps: Int? = nil,
        referenceContexts: [String]? = nil, expectedTools: [ExpectedToolCall]? = nil
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.id = id
        self.input = input
        self.system = system
        self.turns = turns
        self.scenario = scenario
        self.expected = expected
        self.criteria = criteria
        self.context = context
        self.tags = tags
        self.metadata = metadata
        self.tools = tools
        self.toolChoice = toolChoice
        self.maxSteps = maxSteps
        self.referenceContexts = referenceContexts
        self.expectedTools = expectedTools
    }

    /// The kind of conversation this case asks for.
    public enum Kind: String, Sendable, Hashable, Codable {
        case single, scripted, simulated
    }

    /// The kind of conversation, from which of `input`, `turns`, `scenario` is set.
    public var kind: Kind {
        if scenario != nil { return .simulated }
        if let turns, !turns.isEmpty, input == nil { return .scripted }
        return .single
    }

    /// The user turns a scripted or single case sends, in order.
    public var userTurns: [String] {
        if let input { return [input] }
        return turns ?? []
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion, id, input, system, turns, scenario, expected, criteria, context, tags, metadata, tools,
            toolChoice, maxSteps, referenceContexts, expectedTools
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? Self.currentSchemaVersion
        if schemaVersion > Self.currentSchemaVersion {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: c,
                debugDescription: "schemaVersion \(schemaVersion) is newer than this tool understands (\(Self.currentSchemaVersion))")
        }
        id = try c.decode(String.self, forKey: .id)
        if id.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .id, in: c, debugDescription: "id must not be empty")
        }
        input = try c.decodeIfPresent(String.self, forKey: .input)
        system = try c.decodeIfPresent(String.self, forKey: .system)
        turns = try c.decodeIfPresent([String].self, forKey: .turns)
        scenario = try c.decodeIfPresent(Scenario.self, forKey: .scenario)
        expected = try c.decodeIfPresent(String.self, forKey: .expected)
        criteria = try c.decodeIfPresent(String.self, forKey: .criteria)
        context = try c.decodeIfPresent([String].self, forKey: .context)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        metadata = try c.decodeIfPresent([String: JSONValue].self, forKey: .metadata) ?? [:]
        tools = try c.decodeIfPresent([ToolSpec].self, forKey: .tools)
        toolChoice = try c.decodeIfPresent(ToolChoice.self, forKey: .toolChoice)
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        referenceContexts = try c.decodeIfPresent([String].self, forKey: .referenceContexts)
        expectedTools = try c.decodeIfPresent([ExpectedToolCall].self, forKey: .expectedTools)
        if let maxSteps, maxSteps < 1 {
            throw DecodingError.dataCorruptedError(forKey: .maxSteps, in: c, debugDescription: "maxSteps must be at least 1")
        }
        if let tools, let duplicate = ToolSpec.firstDuplicateName(tools) {
            throw DecodingError.dataCorruptedError(
                forKey: .tools, in: c, debugDescription: "tool '\(duplicate)' is declared twice")
        }
        let present = [input != nil, turns != nil, scenario != nil].filter { $0 }.count
        if present != 1 {
            throw DecodingError.dataCorruptedError(
                forKey: present == 0 ? .input : .turns, in: c,
                debugDescription: present == 0
                    ? "a case needs one of 'input', 'turns' or 'scenario'"
                    : "a case takes only one of 'input', 'turns' or 'scenario'")
        }
        if let turns, turns.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .turns, in: c, debugDescription: "'turns' must not be empty")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(id, forKey: .id)
        try c.encodeIfPresent(input, forKey: .input)
        try c.encodeIfPresent(system, forKey: .system)
        try c.encodeIfPresent(turns, forKey: .turns)
        try c.encodeIfPresent(scenario, forKey: .scenario)
        try c.encodeIfPresent(expected, forKey: .expected)
        try c.encodeIfPresent(criteria, forKey: .criteria)
        try c.encodeIfPresent(context, forKey: .context)
        if !tags.isEmpty { try c.encode(tags, forKey: .tags) }
        if !metadata.isEmpty { try c.encode(metadata, forKey: .metadata) }
        try c.encodeIfPresent(tools, forKey: .tools)
        try c.encodeIfPresent(toolChoice, forKey: .toolChoice)
        try c.encodeIfPresent(maxSteps, forKey: .maxSteps)
        try c.encodeIfPresent(referenceContexts, forKey: .referenceContexts)
        try c.encodeIfPresent(expectedTools, forKey: .expectedTools)
    }
}

/// A simulated-user scenario: a second model plays `persona` and pursues `goal`.
public struct Scenario: Sendable, Hashable, Codable {
    /// Who the simulated user is ("an impatient customer who bought a phone last week").
    public var persona: String
    /// What the simulated user wants to achieve.
    public var goal: String
    /// The most user turns before the conversation is stopped.
    public var maxTurns: Int
    /// When the goal counts as reached, in words, for the simulator.
    public var stopCondition: String?
    /// The first user message; generated by the simulator when absent.
    public var openingMessage: String?
    /// The backend instance that plays the user; the run's default simulator when absent.
    public var simulator: String?

    public init(
        persona: String, goal: String, maxTurns: Int = 6, stopCondition: String? = nil,
        openingMessage: String? = nil, simulator: String? = nil
    ) {
        self.persona = persona
        self.goal = goal
        self.maxTurns = maxTurns
        self.stopCondition = stopCondition
        self.openingMessage = openingMessage
        self.simulator = simulator
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case persona, goal, maxTurns, stopCondition, openingMessage, simulator
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        persona = try c.decode(String.self, forKey: .persona)
        goal = try c.decode(String.self, forKey: .goal)
        maxTurns = try c.decodeIfPresent(Int.self, forKey: .maxTurns) ?? 6
        if maxTurns < 1 {
            throw DecodingError.dataCorruptedError(forKey: .maxTurns, in: c, debugDescription: "maxTurns must be at least 1")
        }
        stopCondition = try c.decodeIfPresent(String.self, forKey: .stopCondition)
        openingMessage = try c.decodeIfPresent(String.self, forKey: .openingMessage)
        simulator = try c.decodeIfPresent(String.self, forKey: .simulator)
    }
}
