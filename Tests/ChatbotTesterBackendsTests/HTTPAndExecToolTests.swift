import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

/// `http` and `exec` bots that call tools, report their retrieved contexts, and stream.
@Suite("http and exec: tool calls, contexts, streaming")
struct HTTPAndExecToolTests {
    static let lookup = ToolDefinition(name: "lookup", description: "Search the docs", parameters: ["type": "object", "properties": ["q": ["type": "string"]]])

    @Test("http: {{tools}} and {{toolChoice}} in the body; toolCallsPath and contextPath read the reply")
    func httpToolsAndContexts() async throws {
        let reply = Array(
            """
            {"answer": "Refunds take 30 days.", "calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\\"q\\":\\"refund\\"}"}},
              {"name": "escalate", "input": {"level": 2}}], "sources": [{"text": "Refund policy: 30 days."}, "Shipping: 5 days."]}
            """.utf8)
        try await ReplayServer.with(.init(contentType: "application/json", pieces: [reply])) { server in
            let bot = try await makeChat(
                "http",
                [
                    "url": .string(server.baseURL + "/bot"),
                    "body": ["message": "{{input}}", "history": "{{messages}}", "tools": "{{tools}}", "toolChoice": "{{toolChoice}}", "note": "choice={{toolChoice}}"],
                    "replyPath": "$.answer", "toolCallsPath": "$.calls", "contextPath": "$.sources",
                ])
            var assistant = Message.assistant("")
            assistant.toolCalls = [ToolCall(id: "c0", name: "lookup", arguments: ["q": "refunds"])]
            var request = ChatRequest(messages: [.user("refunds?"), assistant, .tool(callId: "c0", name: "lookup", content: "none found", isError: true)])
            request.tools = [Self.lookup]
            request.toolChoice = .tool("lookup")
            let response = try await bot.send(request)
            #expect(response.content == "Refunds take 30 days.")
            #expect(response.toolCalls == [
                ToolCall(id: "c1", name: "lookup", arguments: ["q": "refund"]), ToolCall(id: "call_1", name: "escalate", arguments: ["level": 2]),
            ])
            #expect(response.retrievedContexts == ["Refund policy: 30 days.", "Shipping: 5 days."])
            let body = try #require(server.requests.first?.json)
            #expect(body["tools"] == [["name": "lookup", "description": "Search the docs", "parameters": Self.lookup.parameters!]])
            #expect(body["toolChoice"] == ["tool": "lookup"])
            #expect(body["note"] == "choice={\"tool\":\"lookup\"}")
            #expect(
                body["history"] == [
                    ["role": "user", "content": "refunds?"],
                    ["role": "assistant", "content": "", "toolCalls": [["id": "c0", "name": "lookup", "arguments": ["q": "refunds"]]]],
                    ["role": "tool", "content": "none found", "toolCallId": "c0", "name": "lookup", "isError": true],
                ])
        }
    }

    @Test("http: stream ndjson with deltaPath, split mid-line and mid-UTF-8; contexts from the last event holding them")
    func httpNDJSON() async throws {
        let lines = Array(
            """
            {"delta": "Grü"}
            {"delta": "ße "}
            {"delta": "aus 東京", "contexts": ["draft"]}

            {"done": true, "contexts": ["Tokyo guide", {"content": "Weather notes"}], "calls": [{"name": "lookup", "arguments": {"q": "東京"}}]}

            """.utf8)
        try await ReplayServer.with(.init(contentType: "application/x-ndjson", pieces: WireFixtures.awkwardPieces(lines, stride: 3))) { server in
            let bot = try await makeChat(
                "http",
                ["url": .string(server.baseURL + "/bot"), "stream": "ndjson", "deltaPath": "$.delta", "contextPath": "$.contexts", "toolCallsPath": "$.calls"])
            let response = try await bot.send(ChatRequest(messages: [.user("hi")]))
            #expect(response.content == "Grüße aus 東京")
            #expect(response.retrievedContexts == ["Tokyo guide", "Weather notes"])
            #expect(response.toolCalls.map(\.name) == ["lookup"])
            #expect(response.streaming?.chunks == 4, "three text deltas and the event with the tool call")
            #expect(server.requests.first?.header("accept") == "application/x-ndjson")
        }
    }

    @Test("http: stream sse with [DONE]; time to first token against a server that waits after the headers")
    func httpSSE() async throws {
        let events = Array("data: {\"token\": \"Hello\"}\n\ndata: {\"token\": \", world\"}\n\ndata: [DONE]\n\ndata: {\"token\": \"ignored\"}\n\n".utf8)
        try await ReplayServer.with(.init(pieces: WireFixtures.awkwardPieces(events, stride: 4), waitAfterHeadersMs: 300)) { server in
            let bot = try await makeChat("http", ["url": .string(server.baseURL + "/bot"), "stream": "sse", "deltaPath": "$.token"])
            let response = try await bot.send(ChatRequest(messages: [.user("hi")]))
            #expect(response.content == "Hello, world")
            #expect(try #require(response.streaming).timeToFirstTokenMs >= 300)
        }
    }

    @Test("http: stream options are checked when the backend is built")
    func httpStreamConfig() async throws {
        let wrongFormat = await backendError { _ = try await makeChat("http", ["url": "http://127.0.0.1:1/x", "replyPath": "$.a", "stream": "websocket"]) }
        #expect(wrongFormat?.location?.field == "backends.bot.stream")
        let deltaAlone = await backendError { _ = try await makeChat("http", ["url": "http://127.0.0.1:1/x", "deltaPath": "$.d"]) }
        #expect(deltaAlone?.location?.field == "backends.bot.deltaPath")
        let nothing = await backendError { _ = try await makeChat("http", ["url": "http://127.0.0.1:1/x"]) }
        #expect(nothing?.location?.field == "backends.bot.replyPath")
        let unknown = await backendError { _ = try await makeChat("http", ["url": "http://127.0.0.1:1/x", "replyPath": "$.a", "body": ["t": "{{tool}}"]]) }
        #expect(unknown?.message.contains("{{toolChoice}}") == true, "the known placeholders are listed")
    }

    @Test("exec: tools in the request; toolCalls, contexts and the program's own timings in the reply")
    func execTools() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = #"""
            #!/bin/sh
            request=$(cat)
            case "$request" in
              *'"toolChoice":"required"'*'"name":"lookup"'*|*'"name":"lookup"'*'"toolChoice":"required"'*)
                echo '{"toolCalls":[{"id":"t1","name":"lookup","arguments":"{\"q\":\"refunds\"}"}],"contexts":["Refund policy"],"timeToFirstTokenMs":12.5,"tokensPerSecond":40}' ;;
              *) echo '{"reply":"no tools offered"}' ;;
            esac
            """#
        let bot = try await makeChat("exec", ["command": [.string(try writeScript(script, in: directory))]])
        var request = ChatRequest(messages: [.user("refunds?")])
        request.tools = [Self.lookup]
        request.toolChoice = .required
        let response = try await bot.send(request)
        #expect(response.content == "")
        #expect(response.toolCalls == [ToolCall(id: "t1", name: "lookup", arguments: ["q": "refunds"])])
        #expect(response.retrievedContexts == ["Refund policy"])
        #expect(response.streaming == StreamTiming(timeToFirstTokenMs: 12.5, tokensPerSecond: 40, chunks: 0))
        let plain = try await bot.send(ChatRequest(messages: [.user("refunds?")]))
        #expect(plain.content == "no tools offered")
    }

    @Test("http against the mock's RAG chatbot: contexts by contextPath, streamed as ndjson and sse", arguments: ["none", "ndjson", "sse"])
    func mockRAGChatbot(stream: String) async throws {
        try await withMockLLMServer { server in
            var options: [String: JSONValue] = [
                "url": .string(server.baseURL + "/chatbot"),
                "body": [
                    "message": "{{input}}", "session": "{{session}}",
                    "documents": ["Refunds are paid within 30 days.", "Shipping takes 5 days.", "Refunds need a receipt."],
                ],
                "replyPath": "$.data.reply", "sessionPath": "$.data.session", "contextPath": "$.data.contexts",
            ]
            if stream != "none" {
                options["stream"] = .string(stream)
                options["deltaPath"] = "$.delta"
                options["body"] = options["body"]!.objectValue!.merging(["stream": .string(stream)]) { $1 }.jsonValue
            }
            let bot = try await makeChat("http", options)
            let response = try await bot.send(ChatRequest(messages: [.user("How do refunds work? Do I need a receipt?")]))
            #expect(response.retrievedContexts == ["Refunds need a receipt.", "Refunds are paid within 30 days."])
            #expect(response.content == "According to our documents: Refunds need a receipt.")
            #expect(response.session == "sess-1")
            #expect((response.streaming != nil) == (stream != "none"))
        }
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    var jsonValue: JSONValue { .object(self) }
}
