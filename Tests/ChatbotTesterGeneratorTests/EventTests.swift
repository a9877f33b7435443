import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct EventTests {
    @Test func progressFollowsTheGeneration() async throws {
        let bus = EventBus()
        let recorder = RecordingEventSink()
        bus.subscribe(recorder)
        let generator = Generator(
            spec: try spec("""
                {"templates": [{"template": "Is {x} in stock?", "variables": {"x": ["A", "a", "B"]}}],
                 "perturb": {"kinds": ["casing", "typos"]}}
                """),
            events: bus)
        let samples = try await collect(generator)
        await bus.shutdown()
        let envelopes = recorder.envelopes
        let updates = envelopes.compactMap { ($0.event as? any ProgressEvent)?.progress }
        #expect(updates.count == envelopes.count)
        // 3 originals × (1 + 2 kinds) planned.
        #expect(updates.first == .started(stage: "generate", total: 9))
        #expect(updates.last == .finished(stage: "generate"))
        var succeeded = 0
        var failed = 0
        for case .advanced(_, let ok, let count) in updates {
            if ok { succeeded += count } else { failed += count }
        }
        #expect(succeeded == samples.count)
        #expect(failed == generator.report.totalDropped)
        #expect(generator.report.dropped[.duplicate] ?? 0 >= 1)  // "Is a in stock?" ≡ "Is A in stock?"
        #expect(succeeded + failed <= 9)

        // Events encode for the JSONL event log; the report's drops are keyed by reason name.
        let completed = try #require(envelopes.last?.event as? GenerateCompletedEvent)
        let json = try JSONValue(encoding: completed)
        #expect(json["report"]?["dropped"]?["duplicate"] != nil)
        #expect(json["report"]?["generated"] == .int(samples.count))
        let decoded = try json["report"]!.decode(GenerationReport.self)
        #expect(decoded == generator.report)
    }

    @Test func questionTypesRotateAcrossUnits() {
        let types: [QuestionType] = [.factual, .howTo, .multiHop, .outOfScope, .ambiguous]
        let plans = (0..<5).map { SynthesisUnit.plan(count: 2, types: types, index: $0) }
        #expect(plans[0] == [.factual, .howTo])
        #expect(plans[1] == [.howTo, .multiHop])
        #expect(Set(plans.flatMap { $0 }) == Set(types))
    }

    @Test func promptsNameTheCountsAndTypes() {
        let synthesizer = Synthesizer(
            spec: SynthesizeSpec(backend: "gen", topics: ["refunds"], questionTypes: [.factual, .ambiguous], instructions: "Customers are retailers."),
            backend: ClosureChatBackend { _ in ChatResponse(content: "") })
        let unit = SynthesisUnit(index: 0, subject: .topic("refunds"), plannedTypes: [.factual, .ambiguous, .factual])
        let messages = synthesizer.messages(for: unit)
        #expect(messages.count == 2)
        #expect(messages[1].content.contains("Write 3 test cases about this topic: 2 factual, 1 ambiguous."))
        #expect(messages[1].content.contains(QuestionType.ambiguous.instruction))
        #expect(messages[1].content.hasSuffix("Customers are retailers."))
        #expect(messages[0].content.contains(#"{"items": ["#))
    }
}
