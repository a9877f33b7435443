import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

@Suite("Every built-in backend over loopback")
struct BuiltinBackendTests {
    @Test("answers a prompt", arguments: BuiltinBackends.typeNames)
    func answers(type: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, try builtinOptions(type, server: server, directory: directory))
            let response = try await bot.send(ChatRequest(messages: [.system("Be brief."), .user("hello world")], tags: ["sampleId": "q1"]))
            #expect(response.content.contains("hello world"), "\(type) replied \(response.content)")
            #expect((response.latencyMs ?? -1) >= 0)
            let viaServer = ["openai", "azure-openai", "anthropic", "http"].contains(type)
            #expect(server.stats.requests == (viaServer ? 1 : 0))
        }
    }

    @Test("answers JSON that satisfies a requested schema", arguments: ["openai", "azure-openai", "anthropic", "scripted"])
    func jsonSchema(type: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let schema: JSONValue = [
            "type": "object", "required": ["score", "reason", "verdict"],
            "properties": [
                "score": ["type": "number", "minimum": 0, "maximum": 1], "reason": ["type": "string"],
                "verdict": ["enum": ["pass", "fail"]],
            ],
        ]
        try await withMockLLMServer { server in
            let bot = try await makeChat(type, try builtinOptions(type, server: server, directory: directory))
            let response = try await bot.send(
                ChatRequest(messages: [.user("rate this")], responseFormat: .jsonSchema(name: "verdict", schema: schema)))
            let json = try JSONValue(parsing: response.content)
            #expect(json["score"]?.doubleValue == 1)
            #expect(json["reason"]?.stringValue?.isEmpty == false)
            #expect(json["verdict"] == "pass")
        }
    }

    @Test("embeds texts", arguments: ["openai", "azure-openai", "scripted"])
    func embeddings(type: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMockLLMServer { server in
            let set = makeBackends(RegistryConfig(["emb": ComponentSpec(type: type, options: try builtinOptions(type, server: server, directory: directory))]))
            let embedder = try await set.embedding("emb")
            let result = try await embedder.embed(["refund policy", "refund policy", "weather today"])
            #expect(result.vectors.count == 3)
            #expect(result.vectors[0] == result.vectors[1])
            #expect(result.vectors[0] != result.vectors[2])
            let norm = result.vectors[0].reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-9)
        }
    }

    @Test("http, exec and anthropic cannot embed; the set says so")
    func cannotEmbed() async throws {
        try await withMockLLMServer { server in
            let set = makeBackends(RegistryConfig(["bot": ComponentSpec(type: "anthropic", options: ["baseURL": .string(server.baseURL), "model": "m"])]))
            let error = await backendError { _ = try await set.embedding("bot") }
            #expect(error?.code == .invalidConfig)
        }
    }
}
