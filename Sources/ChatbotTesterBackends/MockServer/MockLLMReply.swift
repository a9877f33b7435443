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
    /// A streamed body: written chunk by chunk (flushed each), `transfer-encoding: chunked`.
    var chunks: [Data]? = nil
    /// The chunks leave in one write rather than flushed one by one (`MOCK_STREAM: one-write`).
    var chunksInOneWrite = false

    static func json(_ value: JSONValue, status: Int = 200, delayMs: Double = 0) -> MockLLMReply {
        MockLLMReply(status: status, headers: [("content-type", "application/json")], body: JSONWire.encode(value), delayMs: delayMs, hang: false)
    }

    /// A `text/event-stream` reply of these events.
    static func eventStream(_ chunks: [Data]) -> MockLLMReply {
        MockLLMReply(
            status: 200, headers: [("content-type", "text/event-stream"), ("cache-control", "no-cache")], body: Data(), delayMs: 0,
            hang: false, chunks: chunks)
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

    /// The last user message's text; "" when the conversation ends with tool results (their turn
    /// carries no prompt, so directives of the original prompt do not fire again).
    static func lastUserMessage(_ body: JSONValue) -> String {
        let all = messages(body)
        if all.last?.role == "tool" { return "" }
        return all.last { $0.role == "user" }?.content ?? ""
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

    /// A tool-call id that depends only on the conversation, never on arrival order.
    static func callID(prefix: String, body: JSONValue, name: String, position: Int) -> String {
        var hash = FNV1a64()
        hash.add(JSONWire.encode(body["messages"] ?? .null))
        hash.combine(name)
        hash.combine(UInt64(position))
        return prefix + String(String(hash.value, radix: 16).suffix(12))
    }

    /// `POST /v1/chat/completions`.
    static func openAIChat(_ body: JSONValue, directive: MockDirective, sequence: Int) -> JSONValue {
        let prompt = lastUserMessage(body)
        var text: String
        var cut = false
        var calls: [MockLLMTools.Call] = []
        if let scripted = directive.reply {
            text = scripted
        } else if let results = MockLLMTools.openAIResults(body) {
            text = MockLLMTools.resultAnswer(results)
        } else {
            if body["messages"]?.arrayValue?.last?["role"] == "user" {
                calls = MockLLMTools.calls(
                    offered: MockLLMTools.openAIOffered(body), choice: MockLLMTools.openAIChoice(body), text: prompt,
                    parallel: body["parallel_tool_calls"]?.boolValue ?? true)
            }
            var format = ResponseFormat.text
            switch body["response_format"]?["type"]?.stringValue {
            case "json_object": format = .json
            case "json_schema":
                format = .jsonSchema(name: "", schema: body["response_format"]?["json_schema"]?["schema"] ?? ["type": "object"])
            default: break
            }
            text = calls.isEmpty ? DeterministicJSON.answer(replyText(for: prompt), format: format) : ""
            if format == .text { (text, cut) = limit(text, maxTokens: body["max_tokens"]?.intValue) }
        }
        let prompts = promptTokens(body)
        var message: [String: JSONValue] = ["role": "assistant", "content": calls.isEmpty ? .string(text) : .null]
        var completions = HashedEmbedding.tokenCount(text)
        if !calls.isEmpty {
            message["tool_calls"] = .array(
                calls.enumerated().map { position, call in
                    let arguments = ToolArguments.text(call.arguments)
                    completions += HashedEmbedding.tokenCount(arguments) + 1
                    return [
                        "id": .string(callID(prefix: "call_", body: body, name: call.name, position: position)), "type": "function",
                        "function": ["name": .string(call.name), "arguments": .string(arguments)],
                    ]
                })
        }
        return [
            "id": .string("chatcmpl-mock-\(sequence)"), "object": "chat.completion", "created": 0,
            "model": body["model"] ?? "mock",
            "choices": [
                ["index": 0, "message": .object(message), "finish_reason": !calls.isEmpty ? "tool_calls" : (cut ? "length" : "stop")]
            ],
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
        var calls: [MockLLMTools.Call] = []
        if let scripted = directive.reply {
            text = scripted
        } else if let results = MockLLMTools.anthropicResults(body) {
            text = MockLLMTools.resultAnswer(results)
        } else if prefill.hasPrefix("{") {
            var format = ResponseFormat.json
            if let system = body["system"]?.stringValue, let marker = system.range(of: AnthropicBackend.schemaInstruction),
                let schema = try? JSONValue(parsing: String(system[marker.upperBound...]).components(separatedBy: "\n\n")[0])
            {
                format = .jsonSchema(name: "", schema: schema)
            }
            text = DeterministicJSON.answer(replyText(for: prompt), format: format)
        } else {
            if all.last?.role == "user" {
                calls = MockLLMTools.calls(
                    offered: MockLLMTools.anthropicOffered(body), choice: MockLLMTools.anthropicChoice(body), text: prompt,
                    parallel: body["tool_choice"]?["disable_parallel_tool_use"]?.boolValue != true)
            }
            (text, cut) = calls.isEmpty ? limit(replyText(for: prompt), maxTokens: body["max_tokens"]?.intValue) : ("", false)
        }
        if !prefill.isEmpty, text.hasPrefix(prefill) { text.removeFirst(prefill.count) }
        var content: [JSONValue] = text.isEmpty && !calls.isEmpty ? [] : [["type": "text", "text": .string(text)]]
        var outputs = HashedEmbedding.tokenCount(text)
        for (position, call) in calls.enumerated() {
            outputs += HashedEmbedding.tokenCount(ToolArguments.text(call.arguments)) + 1
            content.append([
                "type": "tool_use", "id": .string(callID(prefix: "toolu_", body: body, name: call.name, position: position)),
                "name": .string(call.name), "input": call.arguments.objectValue != nil ? call.arguments : [:],
            ])
        }
        return [
            "id": .string("msg_mock_\(sequence)"), "type": "message", "role": "assistant", "model": body["model"] ?? "mock",
            "content": .array(content), "stop_reason": !calls.isEmpty ? "tool_use" : (cut ? "max_tokens" : "end_turn"),
            "stop_sequence": nil,
            "usage": ["input_tokens": .int(promptTokens(body)), "output_tokens": .int(outputs)],
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
    ///
    /// A RAG bot when the request carries `"documents": ["…"]`: the documents sharing the most words
    /// (of 4 letters or more) with the message, up to 3, come back as `data.contexts` and the reply
    /// quotes the best one.
    static func chatbot(message: String, directive: MockDirective, session: String, turn: Int, documents: [String] = []) -> JSONValue {
        let contexts = retrieve(message, from: documents)
        var reply = directive.reply ?? "\(replyText(for: message)) (turn \(turn))"
        if directive.reply == nil, let best = contexts.first { reply = "According to our documents: \(best)" }
        var data: [String: JSONValue] = ["reply": .string(reply), "session": .string(session), "turn": .int(turn)]
        if !documents.isEmpty { data["contexts"] = .array(contexts.map(JSONValue.string)) }
        return ["data": .object(data)]
    }

    /// The documents sharing the most words of 4+ letters with `query`, best first, up to 3 (ties in
    /// document order).
    static func retrieve(_ query: String, from documents: [String]) -> [String] {
        func words(_ text: String) -> Set<String> {
            Set(text.lowercased().split { !$0.isLetter && !$0.isNumber }.filter { $0.count >= 4 }.map(String.init))
        }
        let asked = words(query)
        let scored = documents.enumerated().map { (index: $0.offset, text: $0.element, score: words($0.element).intersection(asked).count) }
        return scored.filter { $0.score > 0 }.sorted { ($0.score, -$0.index) > ($1.score, -$1.index) }.prefix(3).map(\.text)
    }

    /// `/chatbot` with `"stream": "sse"` or `"ndjson"`: `{"delta": word}` events, then the whole reply
    /// object as the last event (and `data: [DONE]` for SSE).
    static func chatbotStream(_ reply: JSONValue, format: String) -> [Data] {
        let text = reply["data"]?["reply"]?.stringValue ?? ""
        var events: [JSONValue] = MockLLMStream.pieces(text).map { ["delta": .string($0)] }
        events.append(reply)
        if format == "ndjson" {
            return events.map { JSONWire.encode($0) + Data("\n".utf8) }
        }
        return events.map { MockLLMStream.event($0) } + [Data("data: [DONE]\n\n".utf8)]
    }
}
