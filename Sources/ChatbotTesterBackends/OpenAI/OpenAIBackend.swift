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

    /// Stream replies (`stream: true` with `stream_options.include_usage`) and measure time to first token.
    let streams: Bool

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        let body = requestBytes(sampling.apply(to: request))
        let peer = BackendPeer(field: http.field, url: endpoint.chatURL)
        var response: ChatResponse
        if streams {
            var decoder = OpenAIStreamDecoder(peer: peer)
            let measurement = try await http.stream(
                url: endpoint.chatURL, headers: endpoint.headers, body: body, start: start
            ) { try decoder.feed($0) }
            response = try decoder.finish()
            response.streaming = measurement.timing(completionTokens: response.usage?.completionTokens, chunks: measurement.deltas)
        } else {
            let reply = try await http.send(url: endpoint.chatURL, headers: endpoint.headers, body: body)
            if let plain = Self.parsePlainChat(reply.body) {
                response = plain
            } else {
                response = try Self.parseChat(JSONWire.decode(reply.body, peer: peer), peer: peer)
            }
        }
        response.latencyMs = start.millisecondsSince
        return response
    }

    /// The `/chat/completions` body for a request.
    func requestBody(_ request: ChatRequest) -> JSONValue {
        var body: [String: JSONValue] = ["messages": .array(request.messages.map(Self.wireMessage))]
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
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map(Self.wireTool))
            if let choice = request.toolChoice { body["tool_choice"] = Self.wireToolChoice(choice) }
            if let parallel = request.parallelToolCalls { body["parallel_tool_calls"] = .bool(parallel) }
        }
        if streams {
            body["stream"] = true
            body["stream_options"] = ["include_usage": true]
        }
        body.merge(extraBody) { _, extra in extra }
        return .object(body)
    }

    /// A message as the API takes it: assistant tool calls with their arguments as JSON *text*, tool
    /// results as `role: tool` with the `tool_call_id` they answer.
    static func wireMessage(_ message: Message) -> JSONValue {
        var wire: [String: JSONValue] = ["role": .string(message.role.rawValue), "content": .string(message.content)]
        switch message.role {
        case .assistant:
            if let calls = message.toolCalls, !calls.isEmpty {
                if message.content.isEmpty { wire["content"] = .null }
                wire["tool_calls"] = .array(
                    calls.map { call in
                        [
                            "id": .string(call.id), "type": "function",
                            "function": ["name": .string(call.name), "arguments": .string(ToolArguments.text(call.arguments))],
                        ]
                    })
            }
        case .tool:
            wire["tool_call_id"] = .string(message.toolCallId ?? "")
        case .system, .user:
            break
        }
        return .object(wire)
    }

    /// `{"type": "function", "function": {name, description, parameters}}`.
    static func wireTool(_ tool: ToolDefinition) -> JSONValue {
        var function: [String: JSONValue] = ["name": .string(tool.name)]
        if let description = tool.description { function["description"] = .string(description) }
        if let parameters = tool.parameters { function["parameters"] = parameters }
        return ["type": "function", "function": .object(function)]
    }

    /// `"auto"`, `"none"`, `"required"` or `{"type": "function", "function": {"name": …}}`.
    static func wireToolChoice(_ choice: ToolChoice) -> JSONValue {
        switch choice {
        case .auto: "auto"
        case .none: "none"
        case .required: "required"
        case .tool(let name): ["type": "function", "function": ["name": .string(name)]]
        }
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
        guard let message = choice["message"] else {
            throw peer.badResponse("reply has no 'choices[0].message'", body: JSONWire.encode(reply))
        }
        let calls = try (message["tool_calls"]?.arrayValue ?? []).enumerated().map { position, call in
            guard let function = call["function"], let name = function["name"]?.stringValue else {
                throw peer.badResponse("'choices[0].message.tool_calls[\(position)]' has no 'function.name'", body: JSONWire.encode(reply))
            }
            let arguments: JSONValue
            switch function["arguments"] {
            case .string(let text)?: arguments = ToolArguments.parse(text)
            case nil, .null?: arguments = .object([:])
            case let value?: arguments = value  // some compatible servers send an object
            }
            return ToolCall(id: call["id"]?.stringValue ?? "", name: name, arguments: arguments)
        }
        let content = message["content"] ?? .null
        let text: String
        if let string = content.stringValue {
            text = string
        } else if let parts = content.arrayValue {
            text = parts.compactMap { $0["text"]?.stringValue }.joined()
        } else if content.isNull, let refusal = message["refusal"]?.stringValue {
            text = refusal
        } else if content.isNull, !calls.isEmpty {
            text = ""
        } else if message["content"] == nil {
            throw peer.badResponse("reply has no 'choices[0].message.content'", body: JSONWire.encode(reply))
        } else {
            throw peer.badResponse("'choices[0].message.content' is not text", body: JSONWire.encode(reply))
        }
        var response = ChatResponse(
            content: text, finishReason: choice["finish_reason"]?.stringValue, usage: parseUsage(reply["usage"]),
            model: reply["model"]?.stringValue)
        response.toolCalls = calls
        return response
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
