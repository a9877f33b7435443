import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

@Suite("scripted backend")
struct ScriptedBackendTests {
    static let rules: JSONValue = [
        ["match": "refund", "reply": "Refunds take 30 days."],
        ["match": "regex:^order\\s+#?\\d+", "reply": "Your order ships tomorrow."],
        ["match": ["hi", "hello"], "reply": "Hello! You said: {{input}}"],
    ]

    @Test("rules match case-insensitively, by regex, and fall back to the default")
    func rules() async throws {
        let bot = try await makeChat("scripted", ["rules": Self.rules, "default": "No idea."])
        func ask(_ text: String) async throws -> String { try await bot.send(ChatRequest(messages: [.user(text)])).content }
        #expect(try await ask("What is your REFUND policy?") == "Refunds take 30 days.")
        #expect(try await ask("Order #1234 status") == "Your order ships tomorrow.")
        #expect(try await ask("my order 12") == "No idea.")
        #expect(try await ask("Hello there") == "Hello! You said: Hello there")
        #expect(try await ask("weather?") == "No idea.")
    }

    @Test("an FAQ file answers by containment or word overlap; bad lines name file:line:field")
    func faq() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("faq.jsonl")
        try Data(
            """
            {"question": "opening hours", "answer": "We are open 9 to 5."}
            {"question": "how do I reset my password", "answer": "Use the reset link."}

            """.utf8
        ).write(to: file)
        let bot = try await makeChat("scripted", ["faqFile": .string(file.path)])
        #expect(try await bot.send(ChatRequest(messages: [.user("What are your Opening Hours?")])).content == "We are open 9 to 5.")
        #expect(try await bot.send(ChatRequest(messages: [.user("password reset how?")])).content == "Use the reset link.")
        #expect(try await bot.send(ChatRequest(messages: [.user("unrelated")])).content == "Sorry, I don't know.")

        try Data("{\"question\": \"q\", \"answer\": \"a\"}\n{\"question\": \"q2\"}\n".utf8).write(to: file)
        let error = await backendError { _ = try await makeChat("scripted", ["faqFile": .string(file.path)]) }
        #expect(error?.location == SourceLocation(source: file.path, line: 2, field: "answer"))
    }

    @Test("as a judge it answers JSON: verbatim JSON rules, wrapped text, schema-shaped objects")
    func judge() async throws {
        let bot = try await makeChat(
            "scripted", ["rules": [["match": "grade", "reply": "{\"score\": 0.5, \"reason\": \"half\"}"]], "default": "fine"])
        let graded = try await bot.send(ChatRequest(messages: [.user("grade this")], responseFormat: .json))
        #expect(try JSONValue(parsing: graded.content) == ["score": 0.5, "reason": "half"])
        let wrapped = try await bot.send(ChatRequest(messages: [.user("other")], responseFormat: .json))
        #expect(try JSONValue(parsing: wrapped.content) == ["reply": "fine"])
        let schema: JSONValue = [
            "type": "object", "required": ["passed", "items", "count"],
            "properties": [
                "passed": ["type": "boolean"], "count": ["type": "integer", "minimum": 3],
                "items": ["type": "array", "minItems": 2, "items": ["type": "string"]],
            ],
        ]
        let shaped = try await bot.send(ChatRequest(messages: [.user("other")], responseFormat: .jsonSchema(name: "s", schema: schema)))
        #expect(try JSONValue(parsing: shaped.content) == ["passed": true, "count": 3, "items": ["fine", "fine"]])
    }

    @Test("as a simulated user it ends the dialogue with the stop phrase")
    func simulatedUser() async throws {
        let bot = try await makeChat("scripted", ["default": "Tell me more.", "stopPhrase": "DONE", "stopAfterTurns": 2])
        var messages: [Message] = [.user("start")]
        #expect(try await bot.send(ChatRequest(messages: messages)).content == "Tell me more.")
        messages += [.assistant("a"), .user("b"), .assistant("c")]
        #expect(try await bot.send(ChatRequest(messages: messages)).content == "DONE")
        let error = await backendError { _ = try await makeChat("scripted", ["stopAfterTurns": 2]) }
        #expect(error?.location?.field == "backends.bot.stopPhrase")
    }

    @Test("replies are deterministic and report usage")
    func deterministic() async throws {
        let bot = try await makeChat("scripted", ["rules": Self.rules])
        let request = ChatRequest(messages: [.user("refund please")])
        let first = try await bot.send(request)
        let second = try await bot.send(request)
        #expect(first == second)
        #expect(first.usage == Usage(promptTokens: 2, completionTokens: 4))
        #expect(first.model == "scripted")
    }

    @Test("hashed embeddings: identical texts 1, shared words closer than none")
    func embeddings() {
        func cosine(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let refund = HashedEmbedding.vector("How long do refunds take?")
        let similar = HashedEmbedding.vector("refunds take how long")
        let other = HashedEmbedding.vector("Weather in Paris")
        #expect(abs(cosine(refund, refund) - 1) < 1e-9)
        #expect(cosine(refund, similar) > 0.7)
        #expect(abs(cosine(refund, other)) < cosine(refund, similar))
        #expect(HashedEmbedding.vector("", dimensions: 8) == Array(repeating: 0, count: 8))
    }
}
