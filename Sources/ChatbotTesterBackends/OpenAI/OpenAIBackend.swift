import ChatbotTesterCore
import Foundation

/// Chat completions and embeddings over the OpenAI wire format: OpenAI itself, Azure OpenAI, and any
/// compatible server (llama.cpp server, Ollama, vLLM, the mock server).
struct OpenAIBackend: ChatBackend, EmbeddingBackend {
    /// Where and how to call; differs between `openai` and `azure-openai`.
    struct Endpoint: Sendable {
        var chatURL: String
        var embeddingsURL: String
        var headers: [(String, String)]
        /// Azure picks the model by deployment and takes no `model` field.
        var sendsModel: Bool
    }

    let http: BackendHTTP
    let endpoint: Endpoint
    let model: String?
    let embeddingModel: String?
    let sampling: SamplingDefaults
    /// Extra request-body members (provider-specific knobs), merged last.
    let extraBody: [String: JSONValue]

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        let body = requestBody(sampling.apply(to: request))
        let reply = try await http.sendJSON(url: endpoint.chatURL, headers: endpoint.headers, body: body)
        var response = try Self.parseChat(reply, peer: BackendPeer(field: http.field, url: endpoint.chatURL))
        response.latencyMs = start.millisecondsSince
        return response
    }

    /// The `/chat/completions` body for a request.
    func requestBody(_ request: ChatRequest) -> JSONValue {
        var body: [String: JSONValue] = [
            "messages": .array(request.messages.map { ["role": .string($0.role.rawValue), "content": .string($0.content)] })
        ]
        if endpoint.sendsModel, let model = request.model ?? model { body["model"] = .string(model) }
        if let value = request.temperature { body["temperature"] = .double(value) }
        if let value = request.maxTokens { body["max_tokens"] = .int(value) }
        if let value = request.topP { body["top_p"] = .double(value) }
        if let value = request.stop, !value.isEmpty { body["stop"] = .array(value.map(JSONValue.string)) }
        if let value = request.seed { body["seed"] = .int(value) }
        switch request.responseFormat {
        case .text:
            break
        case .json:
            body["response_format"] = ["type": "json_object"]
        case .jsonSchema(let name, let schema):
            body["response_format"] = [
                "type": "json_schema",
                "json_schema": ["name": .string(Self.schemaName(name)), "schema": schema, "strict": true],
            ]
        }
        body.merge(extraBody) { _, extra in extra }
        return .object(body)
    }

    /// OpenAI accepts `[a-zA-Z0-9_-]{1,64}` as a schema name.
    static func schemaName(_ name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" }.prefix(64))
        return cleaned.isEmpty ? "response" : cleaned
    }

    static func parseChat(_ reply: JSONValue, peer: BackendPeer) throws -> ChatResponse {
        guard let choice = reply["choices"]?.arrayValue?.first else {
            throw peer.badResponse("reply has no 'choices'", body: JSONWire.encode(reply))
        }
        guard let message = choice["message"], let content = message["content"] else {
            throw peer.badResponse("reply has no 'choices[0].message.content'", body: JSONWire.encode(reply))
        }
        let text: String
        if let string = content.stringValue {
            text = string
        } else if let parts = content.arrayValue {
            text = parts.compactMap { $0["text"]?.stringValue }.joined()
        } else if content.isNull, let refusal = message["refusal"]?.stringValue {
            text = refusal
        } else {
            throw peer.badResponse("'choices[0].message.content' is not text", body: JSONWire.encode(reply))
        }
        return ChatResponse(
            content: text, finishReason: choice["finish_reason"]?.stringValue, usage: parseUsage(reply["usage"]),
            model: reply["model"]?.stringValue)
    }

    static func parseUsage(_ usage: JSONValue?) -> Usage? {
        guard let usage, usage.objectValue != nil else { return nil }
        return Usage(
            promptTokens: usage["prompt_tokens"]?.intValue ?? 0, completionTokens: usage["completion_tokens"]?.intValue ?? 0)
    }

    func embed(_ inputs: [String]) async throws -> EmbeddingResponse {
        guard !inputs.isEmpty else { return EmbeddingResponse(vectors: []) }
        var body: [String: JSONValue] = ["input": .array(inputs.map(JSONValue.string))]
        if endpoint.sendsModel, let model = embeddingModel ?? model { body["model"] = .string(model) }
        let reply = try await http.sendJSON(url: endpoint.embeddingsURL, headers: endpoint.headers, body: .object(body))
        return try Self.parseEmbeddings(reply, count: inputs.count, peer: BackendPeer(field: http.field, url: endpoint.embeddingsURL))
    }

    static func parseEmbeddings(_ reply: JSONValue, count: Int, peer: BackendPeer) throws -> EmbeddingResponse {
        guard let data = reply["data"]?.arrayValue, data.count == count else {
            throw peer.badResponse("reply has no 'data' array with \(count) embeddings", body: JSONWire.encode(reply))
        }
        var vectors = [[Double]](repeating: [], count: count)
        for (position, item) in data.enumerated() {
            let index = item["index"]?.intValue ?? position
            guard vectors.indices.contains(index), let numbers = item["embedding"]?.arrayValue else {
                throw peer.badResponse("'data[\(position)]' has no 'embedding'", body: JSONWire.encode(reply))
            }
            vectors[index] = try numbers.map { number in
                guard let value = number.doubleValue else {
                    throw peer.badResponse("'data[\(position)].embedding' holds a non-number", body: JSONWire.encode(reply))
                }
                return value
            }
        }
        let usage = reply["usage"]?["prompt_tokens"]?.intValue.map { Usage(promptTokens: $0) }
        return EmbeddingResponse(vectors: vectors, usage: usage)
    }
}

extension ContinuousClock.Instant {
    /// Milliseconds elapsed since this instant.
    var millisecondsSince: Double {
        let elapsed = ContinuousClock.now - self
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}
