import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOCore
import Testing

/// The mock server as an agent: deterministic tool calls and streaming in both wire formats.
@Suite("Mock server: tools and streaming")
struct MockToolsAndStreamingTests {
    static let booking = [
        ToolDefinition(
            name: "search_flights", description: "Find flights",
            parameters: [
                "type": "object", "properties": ["from": ["type": "string"], "to": ["type": "string"], "passengers": ["type": "integer"]],
                "required": ["from", "to"],
            ]),
        ToolDefinition(name: "book_flight", parameters: ["type": "object", "properties": ["flight": ["type": "string"]], "required": ["flight"]]),
    ]

    static func options(_ type: String, _ server: MockLLMServer, stream: Bool) -> [String: JSONValue] {
        type == "openai"
            ? ["baseURL": .string(server.openAIBaseURL), "model": "mock", "stream": .bool(stream)]
            : ["baseURL": .string(server.baseURL), "model": "mock", "stream": .bool(stream)]
    }

    static let cases: [(String, Bool)] = [("openai", false), ("openai", true), ("anthropic", false), ("anthropic", true)]

    @Test("calls the tool named in the user's text, with arguments from the text, then answers quoting the result", arguments: cases)
    func agentLoop(type: String, stream: Bool) async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, Self.options(type, server, stream: stream))
            var request = ChatRequest(messages: [.user("Please search_flights from=Berlin to: \"New York\" passengers=2.")])
            request.tools = Self.booking
            let first = try await bot.send(request)
            #expect(first.toolCalls.count == 1)
            let call = try #require(first.toolCalls.first)
            #expect(call.name == "search_flights")
            #expect(call.arguments == ["from": "Berlin", "to": "New York", "passengers": 2])
            #expect(!call.id.isEmpty)
            #expect(first.finishReason == (type == "openai" ? "tool_calls" : "tool_use"))
            #expect((first.streaming != nil) == stream)

            var assistant = Message.assistant(first.content)
            assistant.toolCalls = first.toolCalls
            request.messages += [assistant, .tool(callId: call.id, name: call.name, content: "{\"flight\":\"LH400\"}")]
            let second = try await bot.send(request)
            #expect(second.toolCalls.isEmpty)
            #expect(second.content == "search_flights returned: {\"flight\":\"LH400\"}")

            // The same conversation gives the same call id, whatever else the server served.
            let again = try await bot.send(ChatRequest(messages: [.user("Please search_flights from=Berlin to: \"New York\" passengers=2.")]).with(tools: Self.booking))
            #expect(again.toolCalls.first?.id == call.id)
        }
    }

    @Test("tool choice: none answers in text, required calls the first tool, a named choice calls that tool", arguments: ["openai", "anthropic"])
    func toolChoice(type: String) async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, Self.options(type, server, stream: false))
            var request = ChatRequest(messages: [.user("search_flights please")]).with(tools: Self.booking)
            request.toolChoice = ToolChoice.none
            #expect(try await bot.send(request).toolCalls.isEmpty)
            request.messages = [.user("hello")]
            request.toolChoice = .auto
            let plain = try await bot.send(request)
            #expect(plain.toolCalls.isEmpty)
            #expect(plain.content == "Echo: hello")
            request.toolChoice = .required
            #expect(try await bot.send(request).toolCalls.map(\.name) == ["search_flights"])
            request.toolChoice = .tool("book_flight")
            let named = try await bot.send(request)
            #expect(named.toolCalls.map(\.name) == ["book_flight"])
            #expect(named.toolCalls.first?.arguments == ["flight": "hello"], "a required string not written in the text gets the text")
        }
    }

    @Test("MOCK_TOOL_CALLS scripts parallel calls exactly", arguments: cases)
    func scriptedParallelCalls(type: String, stream: Bool) async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, Self.options(type, server, stream: stream))
            let request = ChatRequest(messages: [.user("MOCK_TOOL_CALLS: search_flights {\"from\": \"Oslo\", \"to\": \"Rome\"}; book_flight {\"flight\": \"SK1\"}")])
                .with(tools: Self.booking)
            let response = try await bot.send(request)
            #expect(response.toolCalls.map(\.name) == ["search_flights", "book_flight"])
            #expect(response.toolCalls.map(\.arguments) == [["from": "Oslo", "to": "Rome"], ["flight": "SK1"]])
            #expect(Set(response.toolCalls.map(\.id)).count == 2)
        }
    }

    @Test("a streamed reply equals the unstreamed one; requests without tools behave as before", arguments: ["openai", "anthropic"])
    func streamSameAnswer(type: String) async throws {
        try await withMockLLMServer { server in
            let plain = try await makeChat(type, Self.options(type, server, stream: false))
            let streamed = try await makeChat(type, Self.options(type, server, stream: true))
            let request = ChatRequest(messages: [.user("Grüße aus 東京, how are you today?")])
            let a = try await plain.send(request)
            let b = try await streamed.send(request)
            #expect(a.content == "Echo: Grüße aus 東京, how are you today?")
            #expect(b.content == a.content)
            #expect(b.finishReason == a.finishReason)
            #expect(b.usage == a.usage)
            let timing = try #require(b.streaming)
            #expect(timing.chunks == 8, "one chunk per word")
            let body = try #require(server.recordedRequests().last?.json)
            #expect(body["stream"] == true)
            #expect(a.streaming == nil)
        }
    }

    @Test("the mock streams the documented event shapes (usage chunk with empty choices, [DONE]; ping, message_stop)")
    func streamShapes() async throws {
        try await withMockLLMServer { server in
            let client = BuiltinBackends.sharedHTTPClient
            for (path, body) in [
                ("/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}"),
                ("/v1/messages", "{\"model\":\"m\",\"max_tokens\":10,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}"),
            ] {
                let request = HTTPRequest(.POST, url: server.baseURL + path, headers: [("content-type", "application/json")], body: Data(body.utf8))
                let response = try await client.stream(request, timeout: .seconds(10))
                #expect(response.headers.first(name: "content-type") == "text/event-stream")
                let text = String(decoding: try await response.collect(upTo: 1 << 20), as: UTF8.self)
                if path.hasSuffix("completions") {
                    #expect(text.hasSuffix("data: [DONE]\n\n"))
                    #expect(text.contains("\"choices\":[]"))
                    #expect(text.contains("\"object\":\"chat.completion.chunk\""))
                } else {
                    #expect(text.hasPrefix("event: message_start\n"))
                    #expect(text.contains("event: ping\n"))
                    #expect(text.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
                }
            }
        }
    }
}

extension ChatRequest {
    func with(tools: [ToolDefinition]) -> ChatRequest {
        var copy = self
        copy.tools = tools
        return copy
    }
}
