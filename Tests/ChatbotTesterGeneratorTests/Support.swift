import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterGenerator

/// Records every request and answers with a scripted closure.
final class RecordingModel: Sendable {
    let requests = Locked<[ChatRequest]>([])
    let reply: @Sendable (ChatRequest, Int) -> ChatResponse

    init(reply: @escaping @Sendable (ChatRequest, Int) -> ChatResponse) {
        self.reply = reply
    }

    var backend: ClosureChatBackend {
        ClosureChatBackend { request in
            let number = self.requests.withLock { list in
                list.append(request)
                return list.count
            }
            return self.reply(request, number)
        }
    }

    var calls: Int { requests.current.count }

    /// A `BackendSet` whose `gen` instance is this model, built through a registry type the test
    /// registers, the way a user plugs in their own backend.
    func backendSet(name: String = "gen") -> BackendSet {
        var registry = BackendRegistry()
        let backend = self.backend
        registry.register("scripted-test", summary: "test double", options: [OptionSpec("label", .string, "a label")]) { _, _ in
            backend
        }
        return BackendSet(config: RegistryConfig([name: ComponentSpec(type: "scripted-test", options: ["label": "x"])]), registry: registry)
    }
}

/// Collects events of the generator.
final class EventRecorder: EventSink {
    let kinds = Locked<[String]>([])
    let dropped = Locked<[GenerateDroppedEvent]>([])

    func receive(_ envelope: EventEnvelope) async {
        kinds.withLock { $0.append(envelope.kind) }
        if let event = envelope.event as? GenerateDroppedEvent { dropped.withLock { $0.append(event) } }
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
