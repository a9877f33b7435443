import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

@Suite("Wire formats, as the server received them")
struct WireFormatTests {
    @Test("openai: model, messages, sampling, response_format, headers")
    func openAI() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "openai",
                [
                    "baseURL": .string(server.openAIBaseURL), "model": "gpt-test", "apiKey": ["env": "TEST_API_KEY"],
                    "organization": "org-1", "temperature": 0.2, "maxTokens": 50, "seed": 7,
                    "headers": ["X-Team": "qa", "X-Secret-Header": ["env": "TEST_HEADER_SECRET"]],
                    "extraBody": ["user": "tester"],
                ])
            let response = try await bot.send(
                ChatRequest(
                    messages: [.system("You are terse."), .user("first"), .assistant("ok"), .user("second")], topP: 0.9,
                    stop: ["END"], responseFormat: .json))
            let json = try JSONValue(parsing: response.content)
            #expect(json["reply"] == "Echo: second")
            #expect(response.finishReason == "stop")
            #expect(response.model == "gpt-test")
            #expect((response.usage?.promptTokens ?? 0) > 0 && (response.usage?.completionTokens ?? 0) > 0)

            let recorded = try #require(server.recordedRequests().last)
            #expect(recorded.path == "/v1/chat/completions")
            let body = try #require(recorded.json)
            #expect(body["model"] == "gpt-test")
            #expect(body["messages"]?.arrayValue?.count == 4)
            #expect(body["messages"]?.arrayValue?.first == ["role": "system", "content": "You are terse."])
            #expect(body["temperature"]?.doubleValue == 0.2)
            #expect(body["max_tokens"] == 50)
            #expect(body["top_p"]?.doubleValue == 0.9)
            #expect(body["stop"] == ["END"])
            #expect(body["seed"] == 7)
            #expect(body["user"] == "tester")
            #expect(body["response_format"] == ["type": "json_object"])
            #expect(recorded.headers["authorization"] == "Bearer \(fakeKey)")
            #expect(recorded.headers["openai-organization"] == "org-1")
            #expect(recorded.headers["x-team"] == "qa")
            #expect(recorded.headers["x-secret-header"] == "header-secret-42")
            #expect(recorded.redacted.headers["authorization"] == "[redacted]")
        }
    }

    @Test("openai: json_schema response_format and per-request model override")
    func openAISchema() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat("openai", ["baseURL": .string(server.openAIBaseURL), "model": "default-model"])
            let schema: JSONValue = ["type": "object", "properties": ["answer": ["type": "string"]], "required": ["answer"]]
            _ = try await bot.send(
                ChatRequest(messages: [.user("q")], model: "override", responseFormat: .jsonSchema(name: "my answer!", schema: schema)))
            let body = try #require(server.recordedRequests().last?.json)
            #expect(body["model"] == "override")
            #expect(
                body["response_format"]
                    == ["type": "json_schema", "json_schema": ["name": "my_answer_", "schema": schema, "strict": true]])
            #expect(server.recordedRequests().last?.headers["authorization"] == nil)
        }
    }

    @Test("azure-openai: deployment URL, api-version query, api-key header, no model")
    func azure() async throws {
        try await withMockLLMServer { server in
            let set = makeBackends(
                RegistryConfig([
                    "az": ComponentSpec(
                        type: "azure-openai",
                        options: [
                            "endpoint": .string(server.baseURL + "/"), "deployment": "gpt4o-dep", "embeddingDeployment": "emb-dep",
                            "apiVersion": "2024-06-01", "apiKey": ["env": "TEST_API_KEY"],
                        ])
                ]))
            let response = try await set.chat("az").send(ChatRequest(messages: [.user("hi azure")]))
            #expect(response.content == "Echo: hi azure")
            _ = try await set.embedding("az").embed(["x"])
            let requests = server.recordedRequests()
            #expect(requests.map(\.path) == ["/openai/deployments/gpt4o-dep/chat/completions", "/openai/deployments/emb-dep/embeddings"])
            #expect(requests.allSatisfy { $0.query == "api-version=2024-06-01" })
            #expect(requests.allSatisfy { $0.headers["api-key"] == fakeKey && $0.headers["authorization"] == nil })
            #expect(requests[0].json?["model"] == nil)
        }
    }

    @Test("anthropic: /v1/messages, top-level system, max_tokens default, headers, JSON by prefill")
    func anthropic() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "anthropic", ["baseURL": .string(server.baseURL), "model": "claude-test", "apiKey": ["env": "TEST_API_KEY"], "stop": ["STOP"]])
            let response = try await bot.send(ChatRequest(messages: [.system("Rule one."), .system("Rule two."), .user("hello")]))
            #expect(response.content == "Echo: hello")
            #expect(response.finishReason == "end_turn")
            #expect(response.usage?.promptTokens == 5)  // "Rule one. Rule two. hello" = 5 words
            var recorded = try #require(server.recordedRequests().last)
            #expect(recorded.path == "/v1/messages")
            var body = try #require(recorded.json)
            #expect(body["system"] == "Rule one.\n\nRule two.")
            #expect(body["messages"] == [["role": "user", "content": "hello"]])
            #expect(body["max_tokens"] == 1024)
            #expect(body["model"] == "claude-test")
            #expect(body["stop_sequences"] == ["STOP"])
            #expect(recorded.headers["x-api-key"] == fakeKey)
            #expect(recorded.headers["anthropic-version"] == "2023-06-01")

            let json = try await bot.send(ChatRequest(messages: [.user("give json")], maxTokens: 99, responseFormat: .json))
            #expect(try JSONValue(parsing: json.content) == ["reply": "Echo: give json"])
            recorded = try #require(server.recordedRequests().last)
            body = try #require(recorded.json)
            #expect(body["max_tokens"] == 99)
            #expect(body["messages"]?.arrayValue?.last == ["role": "assistant", "content": "{"])
            #expect(body["system"]?.stringValue?.contains("JSON object") == true)
        }
    }

    @Test("MOCK_REPLY scripts the answer verbatim, even in JSON mode")
    func scriptedReply() async throws {
        try await withMockLLMServer { server in
            for type in ["openai", "anthropic"] {
                let options: [String: JSONValue] =
                    type == "openai" ? ["baseURL": .string(server.openAIBaseURL), "model": "m"] : ["baseURL": .string(server.baseURL), "model": "m"]
                let bot = try await makeChat(type, options)
                let text = try await bot.send(ChatRequest(messages: [.user("MOCK_REPLY: {\"score\": 0.25}")], responseFormat: .json))
                #expect(text.content == "{\"score\": 0.25}", "\(type)")
                let broken = try await bot.send(ChatRequest(messages: [.user("MOCK_REPLY: not json at all")], responseFormat: .json))
                #expect(broken.content.hasSuffix("not json at all"), "\(type)")
            }
        }
    }
}
