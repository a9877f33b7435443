import Foundation

/// The shape a model's reply should take.
public enum ResponseFormat: Sendable, Hashable, Codable {
    /// Free text.
    case text
    /// Any JSON object (JSON mode).
    case json
    /// JSON matching a schema; `name` labels it for providers that want one.
    case jsonSchema(name: String, schema: JSONValue)
}

/// A request to a chat model or chatbot: the messages so far and sampling options.
public struct ChatRequest: Sendable, Hashable, Codable {
    public var messages: [Message]
    /// Overrides the backend's configured model, when set.
    public var model: String?
    public var temperature: Double?
    public var maxTokens: Int?
    public var topP: Double?
    public var stop: [String]?
    public var seed: Int?
    public var responseFormat: ResponseFormat
    /// Opaque conversation state a backend returned with the previous reply (a chatbot's session id).
    public var session: JSONValue?
    /// Labels for logs and caches (`sampleId`, `purpose`); never sent to the model.
    public var tags: [String: String]
    /// The tools the model may call (none: a plain chat request).
    public var tools: [ToolDefinition]
    /// Whether and which tool the model must call (the provider's default when `nil`).
    public var toolChoice: ToolChoice?
    /// Whether the model may call several tools in one reply (the provider's default when `nil`).
    public var parallelToolCalls: Bool?

    public init(
        messages: [Message], model: String? = nil, temperature: Double? = nil, maxTokens: Int? = nil,
        topP: Double? = nil, stop: [String]? = nil, seed: Int? = nil, responseFormat: ResponseFormat = .text,
        session: JSONValue? = nil, tags: [String: String] = [:], tools: [ToolDefinition] = [], toolChoice: ToolChoice? = nil,
        parallelToolCalls: Bool? = nil
    ) {
        self.messages = messages
        self.model = model
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.topP = topP
        self.stop = stop
        self.seed = seed
        self.responseFormat = responseFormat
        self.session = session
        self.tags = tags
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case messages, model, temperature, maxTokens, topP, stop, seed, responseFormat, session, tags, tools, toolChoice,
            parallelToolCalls
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            messages: try c.decode([Message].self, forKey: .messages), model: try c.decodeIfPresent(String.self, forKey: .model),
            temperature: try c.decodeIfPresent(Double.self, forKey: .temperature),
            maxTokens: try c.decodeIfPresent(Int.self, forKey: .maxTokens), topP: try c.decodeIfPresent(Double.self, forKey: .topP),
            stop: try c.decodeIfPresent([String].self, forKey: .stop), seed: try c.decodeIfPresent(Int.self, forKey: .seed),
            responseFormat: try c.decodeIfPresent(ResponseFormat.self, forKey: .responseFormat) ?? .text,
            session: try c.decodeIfPresent(JSONValue.self, forKey: .session),
            tags: try c.decodeIfPresent([String: String].self, forKey: .tags) ?? [:],
            tools: try c.decodeIfPresent([ToolDefinition].self, forKey: .tools) ?? [],
            toolChoice: try c.decodeIfPresent(ToolChoice.self, forKey: .toolChoice),
            parallelToolCalls: try c.decodeIfPresent(Bool.self, forKey: .parallelToolCalls))
    }

    /// Encodes every member; the tool members only when set, so a plain request's JSON (and the
    /// response cache's key for it) is what it was before tools existed.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(messages, forKey: .messages)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encodeIfPresent(temperature, forKey: .temperature)
        try c.encodeIfPresent(maxTokens, forKey: .maxTokens)
        try c.encodeIfPresent(topP, forKey: .topP)
        try c.encodeIfPresent(stop, forKey: .stop)
        try c.encodeIfPresent(seed, forKey: .seed)
        try c.encode(responseFormat, forKey: .responseFormat)
        try c.encodeIfPresent(session, forKey: .session)
        try c.encode(tags, forKey: .tags)
        if !tools.isEmpty { try c.encode(tools, forKey: .tools) }
        try c.encodeIfPresent(toolChoice, forKey: .toolChoice)
        try c.encodeIfPresent(parallelToolCalls, forKey: .parallelToolCalls)
    }
}

/// A model's or chatbot's reply.
public struct ChatResponse: Sendable, Hashable, Codable {
    public var content: String
    /// `stop`, `length`, `content_filter`, … as the provider reports it.
    public var finishReason: String?
    public var usage: Usage?
    /// Wall time of the call in milliseconds, measured by the backend or middleware.
    public var latencyMs: Double?
    /// The model that answered, as reported.
    public var model: String?
    /// Conversation state to pass back with the next request (see `ChatRequest.session`).
    public var session: JSONValue?
    /// Attempts made, including retries (set by the retry middleware).
    public var attempts: Int
    /// Cost in US dollars (set by the accounting middleware when a price is known).
    public var costUSD: Double?
    /// True when served from the response cache.
    public var cached: Bool
    /// The tools the model calls, in order (`finishReason` is then `tool_calls` / `tool_use` as
    /// the provider reports it).
    public var toolCalls: [ToolCall]
    /// The contexts (passages, documents) the bot reports it used for this reply.
    public var retrievedContexts: [String]?
    /// How a streamed reply arrived; `nil` when it was not streamed.
    public var streaming: StreamTiming?

    public init(
        content: String, finishReason: String? = nil, usage: Usage? = nil, latencyMs: Double? = nil,
        model: String? = nil, session: JSONValue? = nil, attempts: Int = 1, costUSD: Double? = nil, cached: Bool = false,
        toolCalls: [ToolCall] = [], retrievedContexts: [String]? = nil, streaming: StreamTiming? = nil
    ) {
        self.content = content
        self.finishReason = finishReason
        self.usage = usage
        self.latencyMs = latencyMs
        self.model = model
        self.session = session
        self.attempts = attempts
        self.costUSD = costUSD
        self.cached = cached
        self.toolCalls = toolCalls
        self.retrievedContexts = retrievedContexts
        self.streaming = streaming
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case content, finishReason, usage, latencyMs, model, session, attempts, costUSD, cached, toolCalls, retrievedContexts,
            streaming
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            content: try c.decode(String.self, forKey: .content), finishReason: try c.decodeIfPresent(String.self, forKey: .finishReason),
            usage: try c.decodeIfPresent(Usage.self, forKey: .usage), latencyMs: try c.decodeIfPresent(Double.self, forKey: .latencyMs),
            model: try c.decodeIfPresent(String.self, forKey: .model), session: try c.decodeIfPresent(JSONValue.self, forKey: .session),
            attempts: try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 1, costUSD: try c.decodeIfPresent(Double.self, forKey: .costUSD),
            cached: try c.decodeIfPresent(Bool.self, forKey: .cached) ?? false,
            toolCalls: try c.decodeIfPresent([ToolCall].self, forKey: .toolCalls) ?? [],
            retrievedContexts: try c.decodeIfPresent([String].self, forKey: .retrievedContexts),
            streaming: try c.decodeIfPresent(StreamTiming.self, forKey: .streaming))
    }

    /// Encodes every member; the tool, context and streaming members only when set.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(content, forKey: .content)
        try c.encodeIfPresent(finishReason, forKey: .finishReason)
        try c.encodeIfPresent(usage, forKey: .usage)
        try c.encodeIfPresent(latencyMs, forKey: .latencyMs)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encodeIfPresent(session, forKey: .session)
        try c.encode(attempts, forKey: .attempts)
        try c.encodeIfPresent(costUSD, forKey: .costUSD)
        try c.encode(cached, forKey: .cached)
        if !toolCalls.isEmpty { try c.encode(toolCalls, forKey: .toolCalls) }
        try c.encodeIfPresent(retrievedContexts, forKey: .retrievedContexts)
        try c.encodeIfPresent(streaming, forKey: .streaming)
    }
}

/// Anything a backend registry can build. Refined by `ChatBackend` and `EmbeddingBackend`.
public protocol ModelBackend: Sendable {}

/// A chat model or the chatbot under test: the one protocol every stage calls.
///
/// Implementations throw `ChatbotTesterError` with a `retry` disposition so middleware can decide
/// whether to try again; everything else (retry, rate limits, caching, accounting) is middleware.
public protocol ChatBackend: ModelBackend {
    /// Sends the conversation and returns the reply.
    func send(_ request: ChatRequest) async throws -> ChatResponse
}

/// The result of an embedding call.
public struct EmbeddingResponse: Sendable, Hashable, Codable {
    /// One vector per input, in input order.
    public var vectors: [[Double]]
    public var usage: Usage?

    public init(vectors: [[Double]], usage: Usage? = nil) {
        self.vectors = vectors
        self.usage = usage
    }
}

/// A model that turns texts into vectors.
public protocol EmbeddingBackend: ModelBackend {
    /// Embeds each input.
    func embed(_ inputs: [String]) async throws -> EmbeddingResponse
}

/// A `ChatBackend` made from a closure: handy in tests and for small adapters.
public struct ClosureChatBackend: ChatBackend {
    private let body: @Sendable (ChatRequest) async throws -> ChatResponse

    public init(_ body: @escaping @Sendable (ChatRequest) async throws -> ChatResponse) {
        self.body = body
    }

    public func send(_ request: ChatRequest) async throws -> ChatResponse {
        try await body(request)
    }
}
