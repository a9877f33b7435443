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

    public init(
        messages: [Message], model: String? = nil, temperature: Double? = nil, maxTokens: Int? = nil,
        topP: Double? = nil, stop: [String]? = nil, seed: Int? = nil, responseFormat: ResponseFormat = .text,
        session: JSONValue? = nil, tags: [String: String] = [:]
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

    public init(
        content: String, finishReason: String? = nil, usage: Usage? = nil, latencyMs: Double? = nil,
        model: String? = nil, session: JSONValue? = nil, attempts: Int = 1, costUSD: Double? = nil, cached: Bool = false
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
