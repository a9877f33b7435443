import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterBackends

/// The OpenAI backend writes plain chat bodies straight to bytes; they must be exactly the bytes of
/// the `JSONValue` body (`JSONWire.encode(requestBody(_:))`), the reference, on awkward values.
@Suite struct OpenAIRequestBytesTests {
    static func backend(sendsModel: Bool, streams: Bool, extraBody: [String: JSONValue] = [:]) throws -> OpenAIBackend {
        OpenAIBackend(
            http: BackendHTTP(client: BuiltinBackends.sharedHTTPClient, field: "backends.bot", timeoutSeconds: 5),
            endpoint: .init(chatURL: "http://127.0.0.1:9/v1/chat/completions", embeddingsURL: "http://127.0.0.1:9/v1/embeddings", headers: [], sendsModel: sendsModel),
            model: "gpt-\"x\"", embeddingModel: nil, sampling: try SamplingDefaults(ComponentOptions([:], context: ComponentContext(instanceName: "bot"))), extraBody: extraBody, streams: streams)
    }

    static let texts = ["", "plain", "quote \" backslash \\ slash /", "\u{0}\u{8}\u{C}\t\n\r\u{1F}\u{7F}", "é e\u{301} 😀 \u{2028}", "</script>"]
    static let numbers: [Double] = [0, -0.0, 1, 0.2, 0.9, 1.0 / 3, 1e-7, 1e15, 1e16, 123_456.5, -2, .infinity, .nan]

    static func requests() -> [ChatRequest] {
        var requests: [ChatRequest] = []
        for (position, text) in texts.enumerated() {
            let number = numbers[position % numbers.count]
            requests.append(ChatRequest(messages: [.user(text)]))
            requests.append(
                ChatRequest(
                    messages: [.system(text), .user("u"), .assistant(text), .tool(callId: text, name: "n", content: text), .user(text)],
                    model: position % 2 == 0 ? text : nil, temperature: number, maxTokens: position * 1000 - 3, topP: numbers[(position + 3) % numbers.count],
                    stop: position % 3 == 0 ? [] : [text, "END"], seed: position % 2 == 0 ? -position : nil))
            var toolMessage = Message(role: .tool, content: text)
            toolMessage.toolCallId = nil
            requests.append(ChatRequest(messages: [.user(text), .assistant("", toolCalls: []), toolMessage]))
        }
        return requests
    }

    @Test func plainBodiesAreTheJSONValueBodysBytes() throws {
        var written = 0
        for sendsModel in [true, false] {
            for streams in [false, true] {
                let backend = try Self.backend(sendsModel: sendsModel, streams: streams)
                for request in Self.requests() {
                    let reference = JSONWire.encode(backend.requestBody(request))
                    let bytes = try #require(backend.plainRequestBytes(request))
                    written += 1
                    #expect(Data(bytes) == reference, "\(String(decoding: bytes, as: UTF8.self)) != \(String(decoding: reference, as: UTF8.self))")
                    #expect(backend.requestBytes(request) == reference)
                }
            }
        }
        #expect(written == 4 * Self.requests().count)
    }

    @Test func otherBodiesGoThroughTheJSONValue() throws {
        let plain = try Self.backend(sendsModel: true, streams: false)
        let extra = try Self.backend(sendsModel: true, streams: false, extraBody: ["user": "tester", "messages": []])
        let call = ToolCall(id: "c1", name: "lookup", arguments: ["q": "x"])
        let others = [
            (plain, ChatRequest(messages: [.user("x")], responseFormat: .json)),
            (plain, ChatRequest(messages: [.user("x")], tools: [ToolDefinition(name: "lookup")], toolChoice: .required)),
            (plain, ChatRequest(messages: [.user("x"), .assistant("", toolCalls: [call]), .tool(callId: "c1", name: "lookup", content: "{}")])),
            (extra, ChatRequest(messages: [.user("x")])),
        ]
        for (backend, request) in others {
            #expect(backend.plainRequestBytes(request) == nil)
            #expect(backend.requestBytes(request) == JSONWire.encode(backend.requestBody(request)))
        }
    }
}

/// Plain chat replies are read by the byte scanner; `parseChat` of the parsed tree is the reference.
@Suite struct OpenAIReplyBytesTests {
    static let peer = BackendPeer(field: "backends.bot", url: "http://127.0.0.1:9/v1/chat/completions")

    static let plain = [
        #"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"refunds take 30 days"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#,
        #" { "choices" : [ { "message" : { "content" : "a\"b\\c\n\u00e9 \ud83d\ude00" } } ] } "#,
        #"{"choices":[{"message":{"content":""},"finish_reason":null}],"model":7,"usage":{"prompt_tokens":3.0,"completion_tokens":"2"}}"#,
        #"{"choices":[{"message":{"content":"first","content":"second"},"finish_reason":"length","finish_reason":"stop"}],"usage":[]}"#,
        #"{"choices":[{"message":{"content":"x","refusal":"no"}},{"message":{"content":"y"}}],"usage":{"prompt_tokens":1e3,"completion_tokens":-4}}"#,
        #"{"choices":[{"message":{"content":"x"}}],"usage":null,"model":null,"extra":{"deep":[[[{"a":1}]]]}}"#,
    ]
    static let others = [
        #"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        #"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"text":"b"}]}}]}"#,
        #"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#,
        #"{"choices":[]}"#, #"{"choices":{}}"#, #"{"choices":[{"message":"x"}]}"#, #"{"choices":[{}]}"#, #"[1]"#,
        #"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1"#,
    ]

    @Test func plainRepliesGiveWhatTheTreeGives() throws {
        for text in Self.plain {
            let body = Data(text.utf8)
            let fast = try #require(OpenAIBackend.parsePlainChat(body), "declined \(text)")
            let reference = try OpenAIBackend.parseChat(JSONWire.decode(body, peer: Self.peer), peer: Self.peer)
            #expect(fast == reference, "\(text)")
        }
    }

    @Test func otherRepliesGoToTheTree() {
        for text in Self.others {
            #expect(OpenAIBackend.parsePlainChat(Data(text.utf8)) == nil, "\(text)")
        }
    }
}
