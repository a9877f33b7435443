import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct SynthesisTests {
    static func item(_ input: String, _ type: String = "factual", expected: String = "An answer.") -> String {
        #"{"input": "\#(input)", "expected": "\#(expected)", "criteria": "Is correct.", "type": "\#(type)"}"#
    }

    /// A small local model on a bad day: fences, prose, trailing commas, duplicates, replies cut
    /// off at the token limit, bare objects, no JSON at all, invalid items.
    static let messyModel = RecordingModel { request, _ in
        let prompt = request.messages[1].content
        let isRetry = request.messages.count > 2
        if prompt.hasPrefix("Topic: refunds") {
            return reply("""
                Sure! Here are your test cases:
                ```json
                {"items": [\(item("How do I get a refund?")), \(item("how do I get a REFUND", "how-to")), \(item("Can I get a refund on sale items?", "out of scope")),]}
                ```
                Let me know if you need more.
                """)
        }
        if prompt.hasPrefix("Topic: shipping") {
            if isRetry { return reply(item("Do you ship abroad?", "out-of-scope")) }
            return reply(
                #"{"items": [\#(item("How long does shipping take?")), \#(item("How do I track my parcel?", "how-to")), {"input": "Where is my par"#,
                finish: "length")
        }
        if prompt.hasPrefix("Topic: warranty") {
            if isRetry {
                return reply(#"Corrected: [{"expected": "x", "type": "factual"}, \#(item("Is my phone covered?", "recipe")), {"question": "How long is the warranty?", "answer": "Two years."}]"#)
            }
            return reply("I'm sorry, I can't produce JSON right now.")
        }
        return reply("{}")
    }

    @Test func messyRepliesAreRepairedRetriedDroppedAndDeduped() async throws {
        let model = Self.messyModel
        let recorder = RecordingEventSink()
        let bus = EventBus()
        bus.subscribe(recorder)
        let generator = Generator(
            spec: try spec("""
                {"seed": 3, "synthesize": {"backend": "gen", "topics": ["refunds", "shipping", "warranty"], "perTopic": 3,
                  "questionTypes": ["factual", "how-to", "out-of-scope"], "concurrency": 2}}
                """),
            backends: model.backendSet(), events: bus)
        let samples = try await collect(generator)
        await bus.shutdown()

        #expect(samples.map(\.input) == [
            "How do I get a refund?", "Can I get a refund on sale items?",
            "How long does shipping take?", "How do I track my parcel?", "Do you ship abroad?",
            "How long is the warranty?",
        ])
        let report = generator.report
        #expect(report.generated == 6)
        #expect(report.dropped[.duplicate] == 1)
        #expect(report.dropped[.invalidJSON] == 1)
        #expect(report.dropped[.invalidItem] == 2)
        #expect(report.dropped[.missing] == 2)
        #expect(report.repairs["code-fence"] == 1)
        #expect(report.repairs["trailing-comma"] == 1)
        #expect(report.repairs["surrounding-prose"] == 1)
        #expect(report.repairs["truncated"] == 1)
        #expect(report.repairs["single-object"] == 1)
        #expect(report.repairs["bare-array"] == 1)
        #expect(report.repairs["retry"] == 2)
        #expect(report.modelCalls == 5)
        #expect(model.calls == 5)
        #expect(report.drops.contains { $0.reason == .invalidItem && $0.detail.contains("unknown type 'recipe'") })
        #expect(report.drops.contains { $0.reason == .duplicate && $0.origin == "topic:refunds" })

        // The retry carries the validation error back to the model.
        let retries = model.requests.filter { $0.messages.count > 2 }
        #expect(retries.count == 2)
        #expect(retries.contains { $0.messages.last!.content.contains("cut off at the token limit") })
        #expect(retries.contains { $0.messages.last!.content.contains("not valid JSON") })
        #expect(retries.allSatisfy { $0.messages[2].role == .assistant })

        // Structured output was asked for.
        let first = model.requests[0]
        guard case .jsonSchema(let name, let schema) = first.responseFormat else {
            Issue.record("expected a JSON schema response format")
            return
        }
        #expect(name == "test_cases")
        #expect(schema["properties"]?["items"]?["items"]?["required"] == ["input", "expected", "criteria", "type"])
        #expect(schema["properties"]?["items"]?["minItems"] == 3)
        #expect(first.seed != nil)

        // Samples carry their origin and are valid dataset lines.
        let outOfScope = samples[1]
        #expect(outOfScope.tags == ["synthesized", "type:out-of-scope", "topic:refunds"])
        #expect(outOfScope.metadata["generationUnit"] == "topic:refunds")
        #expect(outOfScope.metadata["questionType"] == "out-of-scope")
        let aliased = samples[5]
        #expect(aliased.expected == "Two years.")
        #expect(aliased.criteria == QuestionType(lenient: aliased.metadata["questionType"]!.stringValue!)!.defaultCriteria)
        try expectValidDataset(samples)

        let kinds = recorder.kinds
        #expect(kinds.first == "generate.started")
        #expect(kinds.last == "generate.completed")
        #expect(kinds.filter { $0 == "generate.sample" }.count == 6)
        #expect(recorder.events(of: GenerateDroppedEvent.self).reduce(0) { $0 + $1.count } == report.totalDropped)
    }

    @Test func surplusItemsAreCappedAndBackendErrorsRecorded() async throws {
        let model = RecordingModel { request, _ in
            if request.messages[1].content.hasPrefix("Topic: down") {
                return reply("")  // replaced below by a throwing backend
            }
            let items = (1...4).map { Self.item("Question number \($0)?") }.joined(separator: ",")
            return reply(#"{"items": [\#(items)]}"#)
        }
        var registry = BackendRegistry()
        let good = model.mock
        registry.register("flaky") { _, _ in
            ClosureChatBackend { request in
                if request.messages[1].content.hasPrefix("Topic: down") {
                    throw ChatbotTesterError(.httpStatus, "server error", status: 503, retry: .transient)
                }
                return try await good.send(request)
            }
        }
        let set = BackendSet(config: RegistryConfig(["gen": ComponentSpec(type: "flaky")]), registry: registry)
        let generator = Generator(
            spec: try spec(#"{"synthesize": {"backend": "gen", "topics": ["up", "down"], "perTopic": 2}}"#), backends: set)
        let samples = try await collect(generator)
        #expect(samples.count == 2)
        #expect(generator.report.dropped[.surplus] == 2)
        #expect(generator.report.dropped[.backendError] == 2)
        #expect(generator.report.drops.contains { $0.reason == .backendError && $0.detail.contains("HTTP 503") })
    }

    @Test func configErrorsAreThrownNotDropped() async throws {
        let generator = Generator(
            spec: try spec(#"{"synthesize": {"backend": "missing", "topics": ["a"]}}"#), backends: RecordingModel { _, _ in reply("") }.backendSet())
        await #expect(throws: ChatbotTesterError.self) { _ = try await collect(generator) }
        do {
            _ = try await collect(generator)
        } catch let error as ChatbotTesterError {
            #expect(error.location?.field == "generate.synthesize.backend")
            #expect(error.message.contains("no backend named 'missing'"))
        }
        let parsed = try spec(#"{"synthesize": {"backend": "missing", "topics": ["a"]}}"#)
        #expect(throws: ChatbotTesterError.self) { try parsed.validate(backends: RegistryConfig(["gen": ComponentSpec(type: "openai")])) }
    }

    @Test func documentsAreChunkedAndGroundTheCases() async throws {
        let dir = try temporaryDirectory()
        let paragraphs = (1...6).map { "Paragraph \($0). " + String(repeating: "Returns are accepted within thirty days of delivery. ", count: 2) }
        try paragraphs.joined(separator: "\n\n").write(to: dir.appendingPathComponent("faq.md"), atomically: true, encoding: .utf8)
        let model = RecordingModel { request, number in
            let prompt = request.messages[1].content
            let part = prompt.components(separatedBy: "part ").dropFirst().first?.prefix(while: \.isNumber) ?? "?"
            let item = Self.item("What does part \(part) say (\(number))?")
            return reply(#"{"items": [\#(item)]}"#)
        }
        let generator = Generator(
            spec: try spec(#"{"synthesize": {"backend": "gen", "documents": ["faq.md"], "perChunk": 1, "chunkSize": 250, "chunkOverlap": 60, "concurrency": 3}}"#),
            backends: model.backendSet(), baseDirectory: dir)
        let samples = try await collect(generator)
        let chunks = DocumentChunker(size: 250, overlap: 60).chunks(of: paragraphs.joined(separator: "\n\n"))
        #expect(chunks.count > 1)
        #expect(samples.count == chunks.count)
        for (index, sample) in samples.enumerated() {
            #expect(sample.metadata["sourceDocument"] == "faq.md")
            #expect(sample.metadata["chunkIndex"] == .int(index))
            #expect(sample.metadata["chunk"] == .string(chunks[index]))
            #expect(sample.context == [chunks[index]])
            #expect(sample.metadata["generationUnit"] == .string("document:faq.md#\(index)"))
            #expect(sample.tags.contains("document:faq.md"))
            #expect(sample.input?.hasPrefix("What does part \(index + 1) say") == true)
        }
        // Each request holds its chunk.
        for request in model.requests {
            #expect(chunks.contains { request.messages[1].content.contains($0) })
        }
        try expectValidDataset(samples)
    }

    @Test func requestsRunInAWindowAndKeepUnitOrder() async throws {
        let model = RecordingModel(gated: true) { request, _ in
            let topic = request.messages[1].content.split(separator: "\n")[0].dropFirst("Topic: ".count)
            let item = Self.item("About \(topic)?")
            return reply(#"{"items": [\#(item)]}"#)
        }
        let topics = (1...7).map { "t\($0)" }
        let generator = Generator(
            spec: try spec(#"{"synthesize": {"backend": "gen", "topics": \#(try JSONValue(encoding: topics).canonicalText), "perTopic": 1, "concurrency": 3}}"#),
            backends: model.backendSet())
        let consumer = Task { try await collect(generator) }
        await model.mock.waitForInFlight(3)
        #expect(model.calls == 3)  // the window holds, nothing more is asked
        model.mock.open()
        let samples = try await consumer.value
        #expect(samples.map(\.input) == topics.map { "About \($0)?" })
        #expect(model.mock.maxInFlight <= 3)
        #expect(model.calls == 7)
    }

    @Test func jsonModeAndTextFormats() async throws {
        for (format, expected) in [("json", ResponseFormat.json), ("text", .text)] {
            let model = RecordingModel { _, _ in reply(#"{"items": [\#(Self.item("Hello there?"))]}"#) }
            let generator = Generator(
                spec: try spec(#"{"synthesize": {"backend": "gen", "topics": ["a"], "perTopic": 1, "format": "\#(format)"}}"#),
                backends: model.backendSet())
            #expect(try await collect(generator).count == 1)
            #expect(model.requests[0].responseFormat == expected)
        }
    }
}
