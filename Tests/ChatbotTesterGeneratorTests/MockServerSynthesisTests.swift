import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

/// Synthesis over real HTTP (loopback) through the built-in `openai` backend and the mock LLM server.
@Suite struct MockServerSynthesisTests {
    static func backends(_ server: MockLLMServer) -> BackendSet {
        let config = RegistryConfig([
            "gen": ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "mock-gen"])
        ])
        return BackendSet(config: config, registry: BuiltinBackends.registry(), wrapper: BackendMiddleware.standard)
    }

    @Test func schemaShapedRepliesBecomeSamples() async throws {
        try await withMockLLMServer { server in
            let generator = Generator(
                spec: try spec(#"{"seed": 1, "synthesize": {"backend": "gen", "topics": ["refunds", "shipping"], "perTopic": 2}}"#),
                backends: Self.backends(server))
            let samples = try await collect(generator)
            // The mock fills the schema: `minItems` identical items per request, so one survives per
            // topic and the copies are dropped as duplicates.
            #expect(samples.count == 2)
            #expect(generator.report.dropped[.duplicate] == 2)
            #expect(generator.report.modelCalls == 2)
            #expect(samples[0].input?.contains("refunds") == true)
            #expect(samples[1].input?.contains("shipping") == true)
            #expect(samples.allSatisfy { $0.tags.contains("synthesized") && $0.expected != nil })
            try expectValidDataset(samples)
            let bodies = server.recordedRequests().compactMap { try? JSONValue(parsing: $0.body) }
            #expect(bodies.count == 2)
            #expect(bodies.allSatisfy { $0["response_format"]?["type"] == "json_schema" })
            #expect(bodies.allSatisfy { $0["response_format"]?["json_schema"]?["schema"]?["properties"]?["items"]?["minItems"] == 2 })
        }
    }

    @Test func malformedRepliesOverHTTPAreRepaired() async throws {
        // MOCK_REPLY makes the server answer this exact text: prose, an unclosed code fence, and JSON
        // cut off in the third item.
        let malformed = #"Here you go!\n```json\n{\"items\": [{\"input\": \"Can I return opened headphones?\", \"expected\": \"Yes, within 14 days.\", \"criteria\": \"Mentions 14 days.\", \"type\": \"factual\"}, {\"input\": \"How do I print a return label?\", \"expected\": \"From the orders page.\", \"criteria\": \"Gives the steps.\", \"type\": \"how-to\"}, {\"input\": \"Wh"#
        try await withMockLLMServer { server in
            let generator = Generator(
                spec: try spec(#"{"synthesize": {"backend": "gen", "topics": ["returns"], "perTopic": 2, "instructions": "MOCK_REPLY: \#(malformed)"}}"#),
                backends: Self.backends(server))
            let samples = try await collect(generator)
            #expect(samples.map(\.input) == ["Can I return opened headphones?", "How do I print a return label?"])
            #expect(generator.report.repairs["truncated"] == 1)
            #expect(generator.report.repairs["code-fence"] == 1)
            #expect(generator.report.totalDropped == 0)
            try expectValidDataset(samples)
        }
    }
}
