import ChatbotTesterCore
import Foundation

/// What the mock server does with one request: the I/O shell carries it out.
struct MockLLMReply: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: Data
    /// Wait this long before answering.
    var delayMs: Double
    /// Never answer (the client's timeout fires).
    var hang: Bool

    static func json(_ value: JSONValue, status: Int = 200, delayMs: Double = 0) -> MockLLMReply {
        MockLLMReply(status: status, headers: [("content-type", "application/json")], body: JSONWire.encode(value), delayMs: delayMs, hang: false)
    }

    static func error(_ status: Int, _ message: String, type: String = "mock_error", delayMs: Double = 0) -> MockLLMReply {
        json(["error": ["message": .string(message), "type": .string(type)]], status: status, delayMs: delayMs)
    }
}

/// The pure part of the mock server: request JSON in, reply JSON out.
enum MockLLMResponder {
    /// The deterministic reply text for a prompt.
    static func replyText(for prompt: String) -> String {
        "Echo: \(prompt)"
    }

    /// `{role, content}` pairs from an OpenAI or Anthropic `messages` array (content may be blocks).
    static func messages(_ body: JSONValue) -> [(role: String, content: String)] {
        (body["messages"]?.arrayValue ?? []).map { message in
            let content = message["content"]
            let text = content?.stringValue ?? content?.arrayValue?.compactMap { $0["text"]?.stringValue }.joined() ?? ""
            return (message["role"]?.stringValue ?? "", text)
        }
    }

    static func lastUserMessage(_ body: JSONValue) -> String {
        messages(body).last { $0.role == "user" }?.content ?? ""
    }

    /// Truncates to `maxTokens` words; returns the text and whether it was cut.
    static func limit(_ text: String, maxTokens: Int?) -> (String, Bool) {
        guard let maxTokens, maxTokens > 0 else { return (text, false) }
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count > maxTokens else { return (text, false) }
        return (words.prefix(maxTokens).joined(separator: " "), true)
    }

    static func promptTokens(_ body: JSONValue) -> Int {
        messages(body).reduce(0) { $0 + HashedEmbedding.tokenCount($1.content) }
            + HashedEmbedding.tokenCount(body["system"]?.stringValue ?? "")
    }

    /// `POST /v1/chat/completions`.
    static func openAIChat(_ body: JSONValue, directive: MockDirective, sequence: Int) -> JSONValue {
        let prompt = lastUserMessage(body)
        var text: String
        var cut = false
        if let scripted = directive.reply {
            text = scripted
        } else {
            var format = ResponseFormat.text
            switch body["response_format"]?["type"]?.stringValue {
            case "json_object": format = .json
            case "json_schema":
                format = .jsonSchema(name: "", schema: body["response_format"]?["json_schema"]?["schema"] ?? ["type": "object"])
            default: break
            }
            text = DeterministicJSON.answer(replyText(for: prompt), format: format)
            if format == .text { (text, cut) = limit(text, maxTokens: body["max_tokens"]?.intValue) }
        }
        let prompts = promptTokens(body)
        let completions = HashedEmbedding.tokenCount(text)
        return [
            "id": .string("chatcmpl-mock-\(sequence)"), "object": "chat.completion", "created": 0,
            "model": body["model"] ?? "mock",
            "choices": [["index": 0, "message": ["role": "assistant", "content": .string(text)], "finish_reason": cut ? "length" : "stop"]],
            "usage": ["prompt_tokens": .int(prompts), "completion_tokens": .int(completions), "total_tokens": .int(prompts + completions)],
        ]
    }

    /// `POST /v1/messages` (Anthropic). JSON is recognised by the `{` prefill the anthropic backend
    /// sends; the schema is read from the system prompt after `AnthropicBackend.schemaInstruction`.
    static func anthropicMessages(_ body: JSONValue, directive: MockDirective, sequence: Int) -> JSONValue {
        let all = messages(body)
        let prefill = all.last?.role == "assistant" ? all.last!.content : ""
        let prompt = lastUserMessage(body)
        var text: String
        var cut = false
        if let scripted = directive.reply {
            text = scripted
        } else if prefill.hasPrefix("{") {
            var format = ResponseFormat.json
            if let system = body["system"]?.stringValue, let marker = system.range(of: AnthropicBackend.schemaInstruction),
                let schema = try? JSONValue(parsing: String(system[marker.upperBound...]).components(separatedBy: "\n\n")[0])
            {
                format = .jsonSchema(name: "", schema: schema)
            }
            text = DeterministicJSON.answer(replyText(for: prompt), format: format)
        } else {
            (text, cut) = limit(replyText(for: prompt), maxTokens: body["max_tokens"]?.intValue)
        }
        if !prefill.isEmpty, text.hasPrefix(prefill) { text.removeFirst(prefill.count) }
        return [
            "id": .string("msg_mock_\(sequence)"), "type": "message", "role": "assistant", "model": body["model"] ?? "mock",
            "content": [["type": "text", "text": .string(text)]], "stop_reason": cut ? "max_tokens" : "end_turn",
            "stop_sequence": nil,
            "usage": ["input_tokens": .int(promptTokens(body)), "output_tokens": .int(HashedEmbedding.tokenCount(text))],
        ]
    }

    /// `POST /v1/embeddings`.
    static func embeddings(_ body: JSONValue, dimensions: Int) -> JSONValue {
        let inputs: [String] = body["input"]?.stringValue.map { [$0] } ?? body["input"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let size = body["dimensions"]?.intValue ?? dimensions
        let data: [JSONValue] = inputs.enumerated().map { index, text in
            ["object": "embedding", "index": .int(index), "embedding": .array(HashedEmbedding.vector(text, dimensions: size).map(JSONValue.double))]
        }
        let tokens = inputs.reduce(0) { $0 + HashedEmbedding.tokenCount($1) }
        return [
            "object": "list", "data": .array(data), "model": body["model"] ?? "mock-embedding",
            "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)],
        ]
    }

    /// `POST /chatbot`: `{"message", "session"}` → `{"data": {"reply", "session", "turn"}}`.
    static func chatbot(message: String, directive: MockDirective, session: String, turn: Int) -> JSONValue {
        let reply = directive.reply ?? "\(replyText(for: message)) (turn \(turn))"
        return ["data": ["reply": .string(reply), "session": .string(session), "turn": .int(turn)]]
    }
}
