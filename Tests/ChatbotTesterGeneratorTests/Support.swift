import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

/// A scripted model (Core's `MockChatBackend`) reachable through a `BackendSet`, the way a user
/// plugs in their own backend type.
final class RecordingModel: Sendable {
    let mock: MockChatBackend

    /// - Parameter reply: the reply to a request and its 1-based call number.
    init(gated: Bool = false, reply: @escaping @Sendable (ChatRequest, Int) -> ChatResponse) {
        mock = MockChatBackend(gated: gated) { request, index in reply(request, index + 1) }
    }

    var requests: [ChatRequest] { mock.requests }
    var calls: Int { mock.callCount }

    /// A `BackendSet` whose `name` instance is this model, built through a registry type the test
    /// registers.
    func backendSet(name: String = "gen") -> BackendSet {
        var registry = BackendRegistry()
        let backend = mock
        registry.register("scripted-test", summary: "test double", options: [OptionSpec("label", .string, "a label")]) { _, _ in
            backend
        }
        return BackendSet(config: RegistryConfig([name: ComponentSpec(type: "scripted-test", options: ["label": "x"])]), registry: registry)
    }
}

func collect(_ generator: Generator, resume: ResumeState = ResumeState()) async throws -> [TestSample] {
    var out: [TestSample] = []
    for try await sample in generator.samples(resume: resume) { out.append(sample) }
    return out
}

/// Decodes a spec from JSON text (a YAML config turned into JSON looks the same).
func spec(_ json: String) throws -> GenerateSpec {
    try GenerateSpec.decode(try JSONValue(parsing: json))
}

/// The check `chatbot-tester validate` makes on every line.
func expectValidDataset(_ samples: [TestSample], sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    var ids = Set<String>()
    for (index, sample) in samples.enumerated() {
        let line = try JSONL.encodeLine(sample)
        let decoded = try JSONL.decode(TestSample.self, from: line, source: "generated.jsonl", line: index + 1).get()
        #expect(decoded == sample, sourceLocation: sourceLocation)
        #expect(ids.insert(sample.id).inserted, "duplicate id \(sample.id)", sourceLocation: sourceLocation)
    }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gen-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func reply(_ content: String, finish: String = "stop") -> ChatResponse {
    ChatResponse(content: content, finishReason: finish)
}
