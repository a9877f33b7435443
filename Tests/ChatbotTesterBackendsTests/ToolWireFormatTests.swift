@testable import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

/// Tool calls and streaming over real HTTP: the request bytes each backend sends, and the documented
/// reply shapes replayed by a loopback server that knows nothing of our formats, split at awkward
/// byte boundaries (mid-UTF-8, mid-`data:` line, mid-JSON).
@Suite("Tool calls and streaming on the wire")
struct ToolWireFormatTests {
    static let weather: JSONValue = [
        "type": "object",
        "properties": ["location": ["type": "string", "description": "City name"], "unit": ["type": "string", "enum": ["celsius", "fahrenheit"]]],
        "required": ["location"],
    ]
    static let tools = [
        ToolDefinition(name: "get_weather", description: "Current weather for a city", parameters: weather),
        ToolDefinition(name: "get_time"),
    ]

    /// The conversation of the request fixtures: a user question, the assistant's two calls (one with
    /// arguments that never parsed), their results (one an error).
    static func conversation(anthropic: Bool) -> [Message] {
        var assistant = Message.assistant(anthropic ? "Let me check." : "")
        assistant.toolCalls = [
            ToolCall(
                id: anthropic ? "toolu_01A09q90qw90lq917835lq9" : "call_7Hq2weather", name: "get_weather",
                arguments: ["location": "München", "unit": "celsius"]),
            ToolCall(id: anthropic ? "toolu_02B" : "call_9Kx4time", name: "get_time", arguments: .string("{\"tz\": Europe/Berlin")),
        ]
        var messages: [Message] = [.system("You are a weather bot."), .user("What's the weather in München?"), assistant]
        messages.append(.tool(callId: assistant.toolCalls![0].id, name: "get_weather", content: "{\"temperature\":21,\"sky\":\"sunny\"}"))
        messages.append(.tool(callId: assistant.toolCalls![1].id, name: "get_time", content: "unknown time zone", isError: true))
        if anthropic { messages.append(.user("And tomorrow?")) }
        return messages
    }

    @Test("openai: tools, tool_choice, parallel_tool_calls, tool_calls and tool messages, stream_options — as documented")
    func openAIRequestAndStream() async throws {
        let reply = try WireFixtures.bytes("openai-tool-calls.stream.txt")
        try await ReplayServer.with(.init(pieces: WireFixtures.awkwardPieces(reply))) { server in
            let bot = try await makeChat(
                "openai", ["baseURL": .string(server.baseURL + "/v1"), "model": "gpt-4o", "apiKey": ["env": "TEST_API_KEY"], "stream": true])
            var request = ChatRequest(messages: Self.conversation(anthropic: false))
            request.tools = Self.tools
            request.toolChoice = .tool("get_weather")
            request.parallelToolCalls = false
            let response = try await bot.send(request)

            let received = try #require(server.requests.first)
            #expect(received.head.hasPrefix("POST /v1/chat/completions HTTP/1.1"))
            #expect(received.header("authorization") == "Bearer \(fakeKey)")
            #expect(received.header("accept") == "text/event-stream")
            #expect(received.json == (try WireFixtures.json("openai-tool-request.json")))

            #expect(response.toolCalls.map(\.name) == ["get_weather", "get_time"])
            #expect(response.toolCalls[0].arguments == ["location": "München", "unit": "celsius"])
            #expect(response.toolCalls[1].arguments == ["tz": "Europe/Berlin"])
            #expect(response.finishReason == "tool_calls")
            #expect(response.usage == Usage(promptTokens: 82, completionTokens: 41))
            let timing = try #require(response.streaming)
            #expect(timing.chunks == 8)
            #expect(timing.timeToFirstTokenMs <= (response.latencyMs ?? 0))
        }
    }

    @Test("openai: a streamed text reply cut mid-UTF-8 and mid-line arrives whole")
    func openAITextStream() async throws {
        let reply = try WireFixtures.bytes("openai-text.stream.txt")
        try await ReplayServer.with(.init(pieces: WireFixtures.awkwardPieces(reply, stride: 11), gapMs: 1)) { server in
            let bot = try await makeChat("azure-openai", [
                "endpoint": .string(server.baseURL), "deployment": "dep", "apiKey": ["env": "TEST_API_KEY"], "stream": true,
            ])
            let response = try await bot.send(ChatRequest(messages: [.user("Wetter?")]))
            #expect(response.content == "Grüße aus 東京 🌧️ — it is raining.")
            #expect(response.streaming?.chunks == 6)
            #expect(server.requests.first?.json?["stream_options"] == ["include_usage": true])
            #expect(server.requests.first?.json?["tools"] == nil, "no tools offered: no tools member")
        }
    }

    @Test("openai: an unstreamed tool_calls reply; arguments that are not JSON are kept as text")
    func openAIToolReply() async throws {
        let reply = try WireFixtures.bytes("openai-tool-calls.json")
        try await ReplayServer.with(.init(contentType: "application/json", pieces: [reply])) { server in
            let bot = try await makeChat("openai", ["baseURL": .string(server.baseURL + "/v1"), "model": "gpt-4o"])
            var request = ChatRequest(messages: [.user("weather and time in München?")])
            request.tools = Self.tools
            request.toolChoice = .required
            let response = try await bot.send(request)
            #expect(response.content == "")
            #expect(response.toolCalls == [
                ToolCall(id: "call_7Hq2weather", name: "get_weather", arguments: ["location": "München", "unit": "celsius"]),
                ToolCall(id: "call_bad", name: "get_time", arguments: .string("{\"tz\": Europe/Berlin")),
            ])
            #expect(response.streaming == nil)
            let body = try #require(server.requests.first?.json)
            #expect(body["tool_choice"] == "required")
            #expect(body["stream"] == nil)
            #expect(body["parallel_tool_calls"] == nil)
        }
    }

    @Test("anthropic: tools, tool_choice, tool_use and tool_result blocks (is_error), system — as documented; the stream assembled")
    func anthropicRequestAndStream() async throws {
        let reply = try WireFixtures.bytes("anthropic-tool-use.stream.txt")
        try await ReplayServer.with(.init(pieces: WireFixtures.awkwardPieces(reply))) { server in
            let bot = try await makeChat(
                "anthropic", ["baseURL": .string(server.baseURL), "model": "claude-sonnet-4-5", "apiKey": ["env": "TEST_API_KEY"], "stream": true])
            var request = ChatRequest(messages: Self.conversation(anthropic: true))
            request.tools = Self.tools
            request.toolChoice = .required
            request.parallelToolCalls = false
            let response = try await bot.send(request)

            let received = try #require(server.requests.first)
            #expect(received.head.hasPrefix("POST /v1/messages HTTP/1.1"))
            #expect(received.header("x-api-key") == fakeKey)
            #expect(received.json == (try WireFixtures.json("anthropic-tool-request.json")))

            #expect(response.content == "Okay, let me check the weather in München ☀️ for you.")
            #expect(response.toolCalls == [
                ToolCall(id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather", arguments: ["location": "München", "unit": "celsius"])
            ])
            #expect(response.finishReason == "tool_use")
            #expect(response.usage == Usage(promptTokens: 472, completionTokens: 89))
            #expect(response.streaming?.chunks == 4 + 4)
        }
    }

    @Test("anthropic: an unstreamed reply with text and tool_use blocks")
    func anthropicToolReply() async throws {
        let reply = try WireFixtures.bytes("anthropic-tool-use.json")
        try await ReplayServer.with(.init(contentType: "application/json", pieces: [reply])) { server in
            let bot = try await makeChat("anthropic", ["baseURL": .string(server.baseURL), "model": "claude-sonnet-4-5"])
            var request = ChatRequest(messages: [.user("weather in München?")])
            request.tools = [Self.tools[0]]
            request.toolChoice = .tool("get_weather")
            let response = try await bot.send(request)
            #expect(response.content == "I'll check the weather in München.")
            #expect(response.toolCalls == [
                ToolCall(id: "toolu_01A09q90qw90lq917835lq9", name: "get_weather", arguments: ["location": "München", "unit": "celsius"])
            ])
            #expect(server.requests.first?.json?["tool_choice"] == ["type": "tool", "name": "get_weather"])
        }
    }

    @Test("anthropic: an overloaded_error event mid-stream is a transient 529")
    func anthropicStreamError() async throws {
        let reply = try WireFixtures.bytes("anthropic-overloaded.stream.txt")
        try await ReplayServer.with(.init(pieces: WireFixtures.awkwardPieces(reply))) { server in
            let bot = try await makeChat("anthropic", ["baseURL": .string(server.baseURL), "model": "m", "stream": true])
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("hi")])) }
            #expect(error?.status == 529)
            #expect(error?.retry == .transient)
            #expect(error?.location?.field == "backends.bot")
        }
    }

    @Test("time to first token is measured against a server that waits after sending headers", arguments: ["openai", "anthropic"])
    func timeToFirstToken(type: String) async throws {
        let wait = 400
        let fixture = type == "openai" ? "openai-text.stream.txt" : "anthropic-tool-use.stream.txt"
        let pieces = WireFixtures.awkwardPieces(try WireFixtures.bytes(fixture), stride: 200)
        try await ReplayServer.with(.init(pieces: pieces, waitAfterHeadersMs: wait)) { server in
            let options: [String: JSONValue] =
                type == "openai"
                ? ["baseURL": .string(server.baseURL + "/v1"), "model": "m", "stream": true]
                : ["baseURL": .string(server.baseURL), "model": "m", "stream": true]
            let bot = try await makeChat(type, options)
            let before = ContinuousClock.now
            let response = try await bot.send(ChatRequest(messages: [.user("hi")]))
            let timing = try #require(response.streaming)
            #expect(timing.timeToFirstTokenMs >= Double(wait), "TTFT ≈ the wait, not ≈ the headers' arrival")
            // Causality against the server's own clock: the first token cannot be seen before the
            // server sent the piece that completed it.
            let firstTokenSeen = before + .microseconds(Int64(timing.timeToFirstTokenMs * 1000))
            let sent = try #require(server.sendTimes.first)
            #expect(firstTokenSeen >= sent[0] - .milliseconds(5))
            let latency = try #require(response.latencyMs)
            #expect(timing.timeToFirstTokenMs <= latency)
            #expect(timing.tokensPerSecond != nil)
        }
    }

    @Test("an error reply that echoes the key never shows it", arguments: ["openai", "anthropic", "http"])
    func echoedSecret(type: String) async throws {
        let echo = Array("{\"error\":{\"message\":\"invalid key \(fakeKey) for this model\",\"type\":\"authentication_error\"}}".utf8)
        let midStream = Array(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"bad key \(fakeKey)\"}}\n\n".utf8)
        for (status, body) in [(401, echo), (200, type == "anthropic" ? midStream : Array("data: {\"error\":{\"message\":\"bad key \(fakeKey)\"}}\n\n".utf8))] {
            try await ReplayServer.with(.init(status: status, pieces: WireFixtures.awkwardPieces(body, stride: 7))) { server in
                let options: [String: JSONValue]
                switch type {
                case "openai": options = ["baseURL": .string(server.baseURL), "model": "m", "apiKey": ["env": "TEST_API_KEY"], "stream": true]
                case "anthropic": options = ["baseURL": .string(server.baseURL), "model": "m", "apiKey": ["env": "TEST_API_KEY"], "stream": true]
                default:
                    options = [
                        "url": .string(server.baseURL + "/chat"), "apiKey": ["env": "TEST_API_KEY"], "headers": ["Authorization": "Bearer {{apiKey}}"],
                        "stream": "sse", "deltaPath": "$.delta", "replyPath": "$.error.message",
                    ]
                }
                let bot = try await makeChat(type, options)
                let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("hi")])) }
                if type == "http", status == 200 { return }  // a 200 event is data for the http backend, not an error
                let shown = String(describing: error) + (error?.bodyExcerpt ?? "") + (error?.message ?? "")
                #expect(error != nil)
                #expect(!shown.contains(fakeKey), "\(type) \(status): \(shown)")
            }
        }
    }
}
