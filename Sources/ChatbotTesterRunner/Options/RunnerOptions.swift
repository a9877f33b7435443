import ChatbotTesterCore

/// How a run plays its samples: the `run:` section of a job config.
///
/// ```yaml
/// run:
///   target: bot                 # backend instance under test
///   concurrency: 32             # samples in flight at most (default 8)
///   ordered: false              # emit records in input order (default: completion order)
///   simulator: sim              # default backend playing simulated users
///   maxTurns: 8                 # cap on user turns of any simulated conversation
///   budgetUSD: 5.0              # stop starting samples once this much is spent
///   failurePolicy: {maxFailures: 50, maxFailureRate: 0.2, minSamples: 20}   # or: never
///   systemPrompt: "You are..."  # used when a sample has no `system`
///   temperature: 0
///   maxTokens: 512
///   timeoutSeconds: 60          # applied by the caller to the target's middleware
///   retries: 4                  # applied by the caller to the target's middleware
///   tools:                      # tools offered to the target in every case (a case's own tool of
///     - {name: lookup, result: {found: true}}   # the same name replaces one of these)
///   toolChoice: auto            # auto | none | required | {tool: NAME}; a case's own wins
///   maxSteps: 8                 # calls to the target per user turn while it calls tools (default 8)
/// ```
/// Decoding is strict: an unknown key is an error naming it.
public struct RunnerOptions: Sendable, Hashable, Codable {
    /// The backend instance name of the chatbot under test.
    public var target: String?
    /// The most samples in flight at once (default 8).
    public var concurrency: Int
    /// Emit records in input order instead of completion order (default false).
    public var ordered: Bool
    /// With `ordered`, how far (in samples) the run may get ahead of the oldest unfinished sample
    /// (default `4 × concurrency`, at least 64). Bounds the records held for reordering.
    public var reorderWindow: Int?
    /// The default backend instance that plays simulated users (a scenario's `simulator` wins).
    public var simulator: String?
    /// The most user turns any simulated conversation takes; a scenario's own `maxTurns` applies
    /// when it is lower.
    public var maxTurns: Int?
    /// Stop starting new samples once this many US dollars are spent (target plus simulator).
    public var budgetUSD: Double?
    /// When failed samples stop the run (default `never`).
    public var failurePolicy: FailurePolicy
    /// System prompt for samples without their own `system`.
    public var systemPrompt: String?
    /// Sampling temperature sent to the target.
    public var temperature: Double?
    /// Completion token limit sent to the target.
    public var maxTokens: Int?
    /// Per-request timeout; not used by the Runner itself — the caller applies it to the target's middleware.
    public var timeoutSeconds: Double?
    /// Retries per request; not used by the Runner itself — the caller applies it to the target's middleware.
    public var retries: Int?
    /// The journal is fsync'd after this many records (default 256)…
    public var syncEvery: Int
    /// …or this many seconds after the oldest unsynced record (default 1).
    public var syncIntervalSeconds: Double
    /// Tools offered to the target in every case, and how their calls are answered (a case's own
    /// tool of the same name replaces one of these).
    public var tools: [ToolSpec]?
    /// The tool choice sent when a case sets none.
    public var toolChoice: ToolChoice?
    /// The agent loop bound when a case sets none: calls to the target per user turn while it
    /// keeps calling tools (default 8).
    public var maxSteps: Int?

    /// The agent loop bound when neither the case nor the run sets one.
    public static let defaultMaxSteps = 8

    public init(
        target: String? = nil, concurrency: Int = 8, ordered: Bool = false, reorderWindow: Int? = nil,
        simulator: String? = nil, maxTurns: Int? = nil, budgetUSD: Double? = nil, failurePolicy: FailurePolicy = .never,
        systemPrompt: String? = nil, temperature: Double? = nil, maxTokens: Int? = nil, timeoutSeconds: Double? = nil,
        retries: Int? = nil, syncEvery: Int = 256, syncIntervalSeconds: Double = 1, tools: [ToolSpec]? = nil,
        toolChoice: ToolChoice? = nil, maxSteps: Int? = nil
    ) {
        self.target = target
        self.concurrency = concurrency
        self.ordered = ordered
        self.reorderWindow = reorderWindow
        self.simulator = simulator
        self.maxTurns = maxTurns
        self.budgetUSD = budgetUSD
        self.failurePolicy = failurePolicy
        self.systemPrompt = systemPrompt
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.timeoutSeconds = timeoutSeconds
        self.retries = retries
        self.syncEvery = syncEvery
        self.syncIntervalSeconds = syncIntervalSeconds
        self.tools = tools
        self.toolChoice = toolChoice
        self.maxSteps = maxSteps
    }

    /// The reorder window in effect when `ordered` is set.
    public var effectiveReorderWindow: Int {
        max(reorderWindow ?? max(concurrency * 4, 64), concurrency)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case target, concurrency, ordered, reorderWindow, simulator, maxTurns, budgetUSD, failurePolicy, systemPrompt,
            temperature, maxTokens, timeoutSeconds, retries, syncEvery, syncIntervalSeconds, tools, toolChoice, maxSteps
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            target: try c.decodeIfPresent(String.self, forKey: .target),
            concurrency: try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? 8,
            ordered: try c.decodeIfPresent(Bool.self, forKey: .ordered) ?? false,
            reorderWindow: try c.decodeIfPresent(Int.self, forKey: .reorderWindow),
            simulator: try c.decodeIfPresent(String.self, forKey: .simulator),
            maxTurns: try c.decodeIfPresent(Int.self, forKey: .maxTurns),
            budgetUSD: try c.decodeIfPresent(Double.self, forKey: .budgetUSD),
            failurePolicy: try c.decodeIfPresent(FailurePolicy.self, forKey: .failurePolicy) ?? .never,
            systemPrompt: try c.decodeIfPresent(String.self, forKey: .systemPrompt),
            temperature: try c.decodeIfPresent(Double.self, forKey: .temperature),
            maxTokens: try c.decodeIfPresent(Int.self, forKey: .maxTokens),
            timeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds),
            retries: try c.decodeIfPresent(Int.self, forKey: .retries),
            syncEvery: try c.decodeIfPresent(Int.self, forKey: .syncEvery) ?? 256,
            syncIntervalSeconds: try c.decodeIfPresent(Double.self, forKey: .syncIntervalSeconds) ?? 1,
            tools: try c.decodeIfPresent([ToolSpec].self, forKey: .tools),
            toolChoice: try c.decodeIfPresent(ToolChoice.self, forKey: .toolChoice),
            maxSteps: try c.decodeIfPresent(Int.self, forKey: .maxSteps))
        if let problem = firstProblem() {
            throw DecodingError.dataCorruptedError(forKey: problem.key, in: c, debugDescription: problem.message)
        }
    }

    /// Checks the values; the error names the field (`run.concurrency`).
    public func validate(section: String = "run") throws {
        if let problem = firstProblem() {
            throw ChatbotTesterError(
                .invalidConfig, problem.message, location: SourceLocation(field: "\(section).\(problem.key.stringValue)"))
        }
    }

    private func firstProblem() -> (key: CodingKeys, message: String)? {
        if concurrency < 1 { return (.concurrency, "concurrency must be at least 1") }
        if let reorderWindow, reorderWindow < 1 { return (.reorderWindow, "reorderWindow must be at least 1") }
        if let maxTurns, maxTurns < 1 { return (.maxTurns, "maxTurns must be at least 1") }
        if let budgetUSD, !(budgetUSD >= 0) { return (.budgetUSD, "budgetUSD must not be negative") }
        if let temperature, !(temperature >= 0) { return (.temperature, "temperature must not be negative") }
        if let maxTokens, maxTokens < 1 { return (.maxTokens, "maxTokens must be at least 1") }
        if let timeoutSeconds, !(timeoutSeconds > 0) { return (.timeoutSeconds, "timeoutSeconds must be positive") }
        if let retries, retries < 0 { return (.retries, "retries must not be negative") }
        if syncEvery < 1 { return (.syncEvery, "syncEvery must be at least 1") }
        if !(syncIntervalSeconds > 0) { return (.syncIntervalSeconds, "syncIntervalSeconds must be positive") }
        if let maxSteps, maxSteps < 1 { return (.maxSteps, "maxSteps must be at least 1") }
        if let tools, let duplicate = ToolSpec.firstDuplicateName(tools) { return (.tools, "tool '\(duplicate)' is declared twice") }
        return nil
    }
}
