import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct ResumeTests {
    static let json = """
        {"seed": 11,
         "templates": [{"template": "Can I {action} a {item}?", "variables": {"action": ["return", "exchange", "repair"], "item": ["phone", "laptop", "watch"]}}],
         "synthesize": {"backend": "gen", "topics": ["refunds", "shipping", "returns"], "perTopic": 2},
         "adversarial": {"categories": ["off-topic"], "perCategory": 3},
         "perturb": {"of": "templates", "kinds": ["typos"]}}
        """

    static func model() -> RecordingModel {
        RecordingModel { request, _ in
            let topic = request.messages[1].content.split(separator: "\n")[0]
            return reply(#"{"items": [{"input": "First about \#(topic)?", "expected": "x"}, {"input": "Second about \#(topic)?", "expected": "y"}]}"#)
        }
    }

    @Test func resumeSkipsWhatIsWrittenAndCompletesTheSameDataset() async throws {
        let dir = try temporaryDirectory()
        let full = dir.appendingPathComponent("full.jsonl")
        let fullReport = try await Generator(spec: try spec(Self.json), backends: Self.model().backendSet()).write(to: full)
        let fullLines = try String(contentsOf: full, encoding: .utf8).split(separator: "\n")
        #expect(fullReport.generated == fullLines.count)
        #expect(fullReport.generated == 9 * 2 + 3 * 2 + 3)

        // A crash after 12 lines, in the middle of the 13th.
        let partial = dir.appendingPathComponent("partial.jsonl")
        let torn = fullLines.prefix(12).joined(separator: "\n") + "\n" + fullLines[12].prefix(20)
        try torn.write(to: partial, atomically: true, encoding: .utf8)

        let model = Self.model()
        let report = try await Generator(spec: try spec(Self.json), backends: model.backendSet()).write(to: partial, resume: true)
        #expect(report.skippedExisting == 12)
        #expect(report.generated == fullLines.count - 12)
        let resumed = try String(contentsOf: partial, encoding: .utf8).split(separator: "\n")
        #expect(resumed == fullLines)

        // Resuming a complete file adds nothing and calls no model.
        let idle = Self.model()
        let again = try await Generator(spec: try spec(Self.json), backends: idle.backendSet()).write(to: partial, resume: true)
        #expect(again.generated == 0)
        #expect(again.skippedExisting == fullLines.count - 6)  // the 6 synthesized ones are skipped by unit, unasked
        #expect(idle.calls == 0)
        #expect(again.repairs["resumed-unit"] == 3)
        #expect(try String(contentsOf: partial, encoding: .utf8).split(separator: "\n") == fullLines)

        // Every line passes the dataset check.
        var count = 0
        for try await entry in JSONL.read(TestSample.self, from: partial) {
            _ = try entry.result.get()
            count += 1
        }
        #expect(count == fullLines.count)
    }

    @Test func resumeSkipsModelUnitsAlreadyWritten() async throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("data.jsonl")
        try await Generator(spec: try spec(Self.json), backends: Self.model().backendSet()).write(to: file)
        // Keep everything except the last topic's samples.
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").filter { !$0.contains("topic:returns") }
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let model = Self.model()
        let report = try await Generator(spec: try spec(Self.json), backends: model.backendSet()).write(to: file, resume: true)
        #expect(model.calls == 1)
        #expect(report.generated == 2)
        #expect(report.repairs["resumed-unit"] == 2)
    }

    @Test func resumeRejectsACorruptLine() async throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("data.jsonl")
        try "{\"id\":\"a\",\"input\":\"x\"}\n{\"id\":\"b\"}\n".write(to: file, atomically: true, encoding: .utf8)
        do {
            try await Generator(spec: try spec(#"{"templates": [{"template": "x"}]}"#)).write(to: file, resume: true)
            Issue.record("expected an error")
        } catch let error as ChatbotTesterError {
            #expect(error.location?.line == 2)
            #expect(error.location?.source == file.path)
        }
    }

    @Test func limitStopsEarlyAndCountsExisting() async throws {
        let generator = Generator(spec: try spec(#"{"templates": [{"template": "{n}", "variables": {"n": [1,2,3,4,5,6,7,8,9]}}], "limit": 4}"#))
        let first = try await collect(generator)
        #expect(first.map(\.input) == ["1", "2", "3", "4"])
        var state = ResumeState()
        for sample in first.prefix(2) { state.insert(sample) }
        let rest = try await collect(generator, resume: state)
        #expect(rest.map(\.input) == ["3", "4"])
    }

    @Test func dedupCanBeTurnedOffButIdsStayUnique() async throws {
        let json = #"{"templates": [{"template": "Same?"}, {"template": "same"}, {"template": "Same?"}], "dedup": false}"#
        let samples = try await collect(Generator(spec: try spec(json)))
        #expect(samples.count == 3)
        #expect(samples[2].id == samples[0].id + "-2")
        let deduped = Generator(spec: try spec(json.replacingOccurrences(of: "false", with: "true")))
        #expect(try await collect(deduped).count == 1)
        #expect(deduped.report.dropped[.duplicate] == 2)
    }
}
