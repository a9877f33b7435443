import AsyncHTTPClient
import ChatbotTesterCore
import Foundation

/// Anthropic's Messages API (`POST /v1/messages`).
///
/// System messages become the top-level `system` field. JSON mode (and JSON schema) is done by
/// instruction plus prefill: the system prompt asks for a JSON object (quoting the schema), the
/// assistant turn is prefilled with `{`, and the reply is returned with that `{` put back.
struct AnthropicBackend: ChatBackend {
    static let jsonInstruction = "Respond with only a JSON object, without any prose or code fences."
    /// Followed by the schema's JSON text (the mock server finds the schema after this marker).
    static let schemaInstruction = "Respond with only a JSON object, without any prose or code fences, that matches this JSON schema:\n"

    let http: BackendHTTP
    let url: String
    let headers: [(String, String)]
    let model: String
    let sampling: SamplingDefaults

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        let (body, prefill) = requestBody(sampling.apply(to: request))
        let reply = try await http.sendJSON(url: url, headers: headers, body: body)
        var response = try Self.parseMessage(reply, prefill: prefill, peer: BackendPeer(field: http.field, url: url))
        response.latencyMs = start.millisecondsSince
        return response
    }

    /// The Messages API body, and the assistant prefill to put back in front of the reply.
    func requestBody(_ request: ChatRequest) -> (JSONValue, String) {
        var system: [String] = []
        var messages: [JSONValue] = []
        for message in request.messages {
            switch message.role {
            case .system: system.append(message.content)
            case .assistant: messages.append(["role": "assistant", "content": .string(message.content)])
            case .user, .tool: messages.append(["role": "user", "content": .string(message.content)])
            }
        }
        var prefill = ""
        switch request.responseFormat {
        case .text:
            break
        case .json:
            system.append(Self.jsonInstruction)
            prefill = "{"
        case .jsonSchema(_, let schema):
            system.append(Self.schemaInstruction + schema.canonicalText)
            prefill = "{"
        }
        if !prefill.isEmpty, request.messages.last?.role != .assistant {
            messages.append(["role": "assistant", "content": .string(prefill)])
        } else {
            prefill = ""
        }
        var body: [String: JSONValue] = [
            "model": .string(request.model ?? model),
            "max_tokens": .int(request.maxTokens ?? 1024),
            "messages": .array(messages),
        ]
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        if let value = request.temperature { body["temperature"] = .double(value) }
        if let value = request.topP { body["top_p"] = .double(value) }
        if let value = request.stop, !value.isEmpty { body["stop_sequences"] = .array(value.map(JSONValue.string)) }
        return (.object(body), prefill)
    }

    static func parseMessage(_ reply: JSONValue, prefill: String, peer: BackendPeer) throws -> ChatResponse {
        guard let blocks = reply["content"]?.arrayValue else {
            throw peer.badResponse("reply has no 'content' array", body: JSONWire.encode(reply))
        }
        let text = blocks.filter { $0["type"]?.stringValue == "text" }.compactMap { $0["text"]?.stringValue }.joined()
        var usage: Usage?
        if let counts = reply["usage"], counts.objectValue != nil {
            usage = Usage(
                promptTokens: counts["input_tokens"]?.intValue ?? 0, completionTokens: counts["output_tokens"]?.intValue ?? 0)
        }
        return ChatResponse(
            content: prefill + text, finishReason: reply["stop_reason"]?.stringValue, usage: usage,
            model: reply["model"]?.stringValue)
    }
}

extension AnthropicBackend {
    static let options: [OptionSpec] =
        [
            OptionSpec("baseURL", .string, default: "https://api.anthropic.com", "API root; /v1/messages is appended"),
            OptionSpec("model", .string, required: true, "model name, e.g. claude-sonnet-4-5"),
            OptionSpec("apiKey", .secret, "x-api-key header, e.g. {env: ANTHROPIC_API_KEY}"),
            OptionSpec("anthropicVersion", .string, default: "2023-06-01", "anthropic-version header"),
            HeaderOptions.spec,
            HeaderOptions.timeoutSpec(),
        ] + SamplingDefaults.optionSpecs(maxTokensDefault: "1024")

    static func registration(client: HTTPClient) -> ComponentType<any ModelBackend> {
        ComponentType(name: "anthropic", summary: "Anthropic Messages API (/v1/messages)", options: options) { options, _ in
            var base = try options.string("baseURL") ?? "https://api.anthropic.com"
            while base.hasSuffix("/") { base.removeLast() }
            var headers: [(String, String)] = [("anthropic-version", try options.string("anthropicVersion") ?? "2023-06-01")]
            if let key = try options.secret("apiKey") { headers.append(("x-api-key", key)) }
            headers += try HeaderOptions.resolve(options)
            var sampling = try SamplingDefaults(options)
            sampling.maxTokens = sampling.maxTokens ?? 1024
            return AnthropicBackend(
                http: try BackendHTTP(options: options, client: client), url: base + "/v1/messages", headers: headers,
                model: try options.requiredString("model"), sampling: sampling)
        }
    }
}
