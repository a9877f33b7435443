import ChatbotTesterHTTP
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
    /// Stream replies (`stream: true`, server-sent events) and measure time to first token.
    let streams: Bool

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        let (body, prefill) = requestBody(sampling.apply(to: request))
        let peer = BackendPeer(field: http.field, url: url)
        var response: ChatResponse
        if streams {
            var decoder = AnthropicStreamDecoder(peer: peer, prefill: prefill)
            let measurement = try await http.stream(url: url, headers: headers, body: JSONWire.encode(body), start: start) {
                try decoder.feed($0)
            }
            response = try decoder.finish()
            response.streaming = measurement.timing(completionTokens: response.usage?.completionTokens, chunks: measurement.deltas)
        } else {
            let reply = try await http.sendJSON(url: url, headers: headers, body: body)
            response = try Self.parseMessage(reply, prefill: prefill, peer: peer)
        }
        response.latencyMs = start.millisecondsSince
        return response
    }

    /// The Messages API body, and the assistant prefill to put back in front of the reply.
    func requestBody(_ request: ChatRequest) -> (JSONValue, String) {
        var system: [String] = []
        var messages: [JSONValue] = []
        for message in request.messages {
            switch message.role {
            case .system:
                system.append(message.content)
            case .assistant:
                messages.append(Self.assistantMessage(message))
            case .tool:
                let block = Self.toolResultBlock(message)
                // Every result of one assistant turn goes in one user message, results first.
                if let last = messages.last, last["role"] == "user", var blocks = last["content"]?.arrayValue,
                    blocks.allSatisfy({ $0["type"] == "tool_result" })
                {
                    blocks.append(block)
                    messages[messages.count - 1] = ["role": "user", "content": .array(blocks)]
                } else {
                    messages.append(["role": "user", "content": [block]])
                }
            case .user:
                // Text after tool results joins their user message (the roles must alternate).
                if let last = messages.last, last["role"] == "user", var blocks = last["content"]?.arrayValue,
                    blocks.first?["type"] == "tool_result"
                {
                    blocks.append(["type": "text", "text": .string(message.content)])
                    messages[messages.count - 1] = ["role": "user", "content": .array(blocks)]
                } else {
                    messages.append(["role": "user", "content": .string(message.content)])
                }
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
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map(Self.wireTool))
            if let choice = Self.wireToolChoice(request.toolChoice, parallel: request.parallelToolCalls) { body["tool_choice"] = choice }
        }
        if streams { body["stream"] = true }
        return (.object(body), prefill)
    }

    /// An assistant turn: plain text, or content blocks when it called tools (`text`, then one
    /// `tool_use` block per call with its arguments as the `input` object).
    static func assistantMessage(_ message: Message) -> JSONValue {
        guard let calls = message.toolCalls, !calls.isEmpty else {
            return ["role": "assistant", "content": .string(message.content)]
        }
        var blocks: [JSONValue] = []
        if !message.content.isEmpty { blocks.append(["type": "text", "text": .string(message.content)]) }
        for call in calls {
            blocks.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": toolInput(call.arguments)])
        }
        return ["role": "assistant", "content": .array(blocks)]
    }

    /// `input` must be an object: arguments kept as unparseable text are sent as `{}`.
    static func toolInput(_ arguments: JSONValue) -> JSONValue {
        if arguments.objectValue != nil { return arguments }
        if case .string(let raw) = arguments, let parsed = try? JSONWire.parse(Data(raw.utf8)), parsed.objectValue != nil { return parsed }
        return .object([:])
    }

    /// `{"type": "tool_result", "tool_use_id", "content", "is_error"}` (`is_error` only when true).
    static func toolResultBlock(_ message: Message) -> JSONValue {
        var block: [String: JSONValue] = [
            "type": "tool_result", "tool_use_id": .string(message.toolCallId ?? ""), "content": .string(message.content),
        ]
        if message.isError == true { block["is_error"] = true }
        return .object(block)
    }

    /// `{"name", "description", "input_schema"}`; the API requires a schema, so a tool without
    /// parameters gets an empty object schema.
    static func wireTool(_ tool: ToolDefinition) -> JSONValue {
        var wire: [String: JSONValue] = ["name": .string(tool.name), "input_schema": tool.parameters ?? ["type": "object", "properties": [:]]]
        if let description = tool.description { wire["description"] = .string(description) }
        return .object(wire)
    }

    /// `{"type": "auto" | "any" | "none" | "tool", "name"}`; `parallel: false` adds
    /// `disable_parallel_tool_use: true` (with `auto` when no choice is set).
    static func wireToolChoice(_ choice: ToolChoice?, parallel: Bool?) -> JSONValue? {
        var wire: [String: JSONValue]
        switch choice {
        case nil: wire = parallel == false ? ["type": "auto"] : [:]
        case .auto?: wire = ["type": "auto"]
        case .none?: wire = ["type": "none"]
        case .required?: wire = ["type": "any"]
        case .tool(let name)?: wire = ["type": "tool", "name": .string(name)]
        }
        if wire.isEmpty { return nil }
        if parallel == false, wire["type"] != "none" { wire["disable_parallel_tool_use"] = true }
        return .object(wire)
    }

    static func parseMessage(_ reply: JSONValue, prefill: String, peer: BackendPeer) throws -> ChatResponse {
        guard let blocks = reply["content"]?.arrayValue else {
            throw peer.badResponse("reply has no 'content' array", body: JSONWire.encode(reply))
        }
        let text = blocks.filter { $0["type"]?.stringValue == "text" }.compactMap { $0["text"]?.stringValue }.joined()
        let calls = blocks.filter { $0["type"]?.stringValue == "tool_use" }.map { block in
            ToolCall(id: block["id"]?.stringValue ?? "", name: block["name"]?.stringValue ?? "", arguments: block["input"] ?? .object([:]))
        }
        var usage: Usage?
        if let counts = reply["usage"], counts.objectValue != nil {
            usage = Usage(
                promptTokens: counts["input_tokens"]?.intValue ?? 0, completionTokens: counts["output_tokens"]?.intValue ?? 0)
        }
        var response = ChatResponse(
            content: prefill + text, finishReason: reply["stop_reason"]?.stringValue, usage: usage,
            model: reply["model"]?.stringValue)
        response.toolCalls = calls
        return response
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
            OptionSpec("stream", .bool, default: "false", "stream replies (server-sent events) and record time to first token and tokens/s"),
            HeaderOptions.timeoutSpec(),
        ] + SamplingDefaults.optionSpecs(maxTokensDefault: "1024")

    static func registration(client: HTTPClient?) -> ComponentType<any ModelBackend> {
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
                model: try options.requiredString("model"), sampling: sampling, streams: try options.bool("stream") ?? false)
        }
    }
}
