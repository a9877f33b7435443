import ChatbotTesterCore

/// `generate.synthesize`: test cases written by a model from topics and/or source documents.
///
/// ```yaml
/// synthesize:
///   backend: gen                 # a name under `backends:`
///   topics: [refunds, shipping]
///   perTopic: 5
///   documents: [docs/faq.md]     # chunked; each chunk becomes the grounding context
///   perChunk: 3
///   questionTypes: [factual, how-to, multi-hop, out-of-scope, ambiguous]
/// ```
public struct SynthesizeSpec: Sendable, Hashable, Codable {
    /// How the model is asked for structured output.
    public enum OutputFormat: String, Sendable, Hashable, Codable, CaseIterable, ConfigEnum {
        /// `responseFormat: .jsonSchema` (OpenAI structured outputs, llama.cpp grammars, …).
        case jsonSchema = "json-schema"
        /// JSON mode, with the shape described in the prompt.
        case json
        /// Plain text; the shape is only described in the prompt (for backends with neither).
        case text
    }

    /// The backend instance that writes the cases.
    public var backend: String
    public var topics: [String]
    /// Cases asked for per topic.
    public var perTopic: Int
    /// Paths of source documents (relative to the config file's directory).
    public var documents: [String]
    /// Cases asked for per document chunk (defaults to `perTopic`).
    public var perChunk: Int
    /// Target chunk size in characters.
    public var chunkSize: Int
    /// Characters of the previous chunk repeated at the start of the next.
    public var chunkOverlap: Int
    public var questionTypes: [QuestionType]
    /// Extra instructions for the model ("questions come from retail customers").
    public var instructions: String?
    /// A system prompt copied to every synthesized sample (for the bot under test).
    public var system: String?
    public var temperature: Double?
    public var maxTokens: Int
    /// Retries of a unit whose reply was malformed or short, sending the validation errors back.
    public var retries: Int
    /// Units (topic or chunk) requested at once; output order stays the unit order.
    public var concurrency: Int
    public var format: OutputFormat

    public init(
        backend: String, topics: [String] = [], perTopic: Int = 5, documents: [String] = [], perChunk: Int? = nil,
        chunkSize: Int = 1500, chunkOverlap: Int = 200, questionTypes: [QuestionType] = [.factual, .howTo],
        instructions: String? = nil, system: String? = nil, temperature: Double? = nil, maxTokens: Int = 2048,
        retries: Int = 1, concurrency: Int = 4, format: OutputFormat = .jsonSchema
    ) {
        self.backend = backend
        self.topics = topics
        self.perTopic = perTopic
        self.documents = documents
        self.perChunk = perChunk ?? perTopic
        self.chunkSize = chunkSize
        self.chunkOverlap = chunkOverlap
        self.questionTypes = questionTypes
        self.instructions = instructions
        self.system = system
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.retries = retries
        self.concurrency = concurrency
        self.format = format
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case backend, topics, perTopic, documents, perChunk, chunkSize, chunkOverlap, questionTypes, instructions, system,
            temperature, maxTokens, retries, concurrency, format
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backend = try c.decode(String.self, forKey: .backend)
        topics = try c.decodeIfPresent([String].self, forKey: .topics) ?? []
        perTopic = try c.decodeIfPresent(Int.self, forKey: .perTopic) ?? 5
        documents = try c.decodeIfPresent([String].self, forKey: .documents) ?? []
        perChunk = try c.decodeIfPresent(Int.self, forKey: .perChunk) ?? perTopic
        chunkSize = try c.decodeIfPresent(Int.self, forKey: .chunkSize) ?? 1500
        chunkOverlap = try c.decodeIfPresent(Int.self, forKey: .chunkOverlap) ?? 200
        questionTypes = try c.decodeIfPresent([QuestionType].self, forKey: .questionTypes) ?? [.factual, .howTo]
        instructions = try c.decodeIfPresent(String.self, forKey: .instructions)
        system = try c.decodeIfPresent(String.self, forKey: .system)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? 2048
        retries = try c.decodeIfPresent(Int.self, forKey: .retries) ?? 1
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? 4
        format = try c.decodeIfPresent(OutputFormat.self, forKey: .format) ?? .jsonSchema

        if topics.isEmpty, documents.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .topics, in: c, debugDescription: "give 'topics', 'documents' or both")
        }
        for (key, value, minimum) in [
            (CodingKeys.perTopic, perTopic, 1), (.perChunk, perChunk, 1), (.chunkSize, chunkSize, 100), (.maxTokens, maxTokens, 16),
            (.retries, retries, 0), (.concurrency, concurrency, 1), (.chunkOverlap, chunkOverlap, 0),
        ] where value < minimum {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be at least \(minimum)")
        }
        if chunkOverlap >= chunkSize {
            throw DecodingError.dataCorruptedError(forKey: .chunkOverlap, in: c, debugDescription: "must be smaller than chunkSize")
        }
        if questionTypes.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .questionTypes, in: c, debugDescription: "must not be empty")
        }
    }
}
