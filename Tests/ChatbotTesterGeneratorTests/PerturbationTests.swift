import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct PerturbationTests {
    static let text = "How do I return my broken laptop, and how long does the refund take?"

    @Test(arguments: PerturbationKind.allCases.filter(\.isDeterministic))
    func deterministicForASeed(kind: PerturbationKind) {
        let one = Perturber(seed: 42).apply(kind, to: Self.text, labels: ["s1"])
        let again = Perturber(seed: 42).apply(kind, to: Self.text, labels: ["s1"])
        #expect(one == again)
        #expect(one != Self.text)
        // Other seeds give other variants (over a handful of seeds, at least one differs).
        let others = (43...50).map { Perturber(seed: $0).apply(kind, to: Self.text, labels: ["s1"]) }
        #expect(others.contains { $0 != one })
    }

    @Test func typosStayClose() {
        for seed in UInt64(0)..<50 {
            let variant = Perturber(seed: seed, typoRate: 0.15).apply(.typos, to: Self.text)!
            let words = variant.split(separator: " ")
            let originalWords = Self.text.split(separator: " ")
            #expect(words.count == originalWords.count)
            let changed = zip(words, originalWords).filter { $0 != $1 }.count
            #expect(changed >= 1 && changed <= 3, "\(variant)")
            #expect(abs(variant.count - Self.text.count) <= 3)
        }
    }

    @Test func keyboardNeighboursAreAdjacent() {
        #expect(KeyboardLayout.neighbours["s"]!.sorted() == ["a", "d", "e", "w", "x", "z"])
        #expect(KeyboardLayout.neighbours["q"]!.sorted() == ["a", "w"])
    }

    @Test func variantsAreLinkedToTheirOriginal() async throws {
        let generator = Generator(spec: try spec("""
            {"seed": 9, "templates": [{"template": "How do I {action} my phone?", "variables": {"action": ["return", "exchange"]}, "tags": ["t"]}],
             "perturb": {"kinds": ["typos", "casing", "whitespace", "punctuation", "filler"], "perSample": 2}}
            """))
        let samples = try await collect(generator)
        let originals = samples.filter { $0.metadata["perturbationOf"] == nil }
        #expect(originals.count == 2)
        let variants = samples.filter { $0.metadata["perturbationOf"] != nil }
        #expect(variants.count + generator.report.totalDropped == 2 * 5 * 2)
        for variant in variants {
            let original = try #require(originals.first { .string($0.id) == variant.metadata["perturbationOf"] })
            let kind = try #require(variant.metadata["perturbation"]?.stringValue)
            #expect(variant.tags == ["t", "perturbed", "perturbation:\(kind)"])
            #expect(variant.input != original.input)
            #expect(variant.expected == original.expected)
            #expect(variant.metadata["originalSource"] == "template")
            #expect(variant.metadata["source"] == "perturbation")
        }
        // A variant follows its original.
        #expect(samples[0].metadata["perturbationOf"] == nil)
        #expect(samples[1].metadata["perturbationOf"] == .string(samples[0].id))
        // The whole dataset is reproducible.
        let again = try await collect(Generator(spec: generator.spec))
        #expect(again == samples)
        try expectValidDataset(samples)
    }

    @Test func variantsOfScriptedTurnsAndScenarios() throws {
        let scripted = TestSample(id: "s", turns: ["Hello there friend", "Where is my order?"])
        let variant = try #require(Perturber(seed: 1).variant(of: scripted, kind: .typos))
        #expect(variant.turns?.count == 2)
        #expect(variant.turns != scripted.turns)
        let scenario = TestSample(id: "p", scenario: Scenario(persona: "p", goal: "g"))
        #expect(Perturber(seed: 1).variant(of: scenario, kind: .casing) == nil)
        var opening = scenario
        opening.scenario?.openingMessage = "Hi, I need help"
        #expect(Perturber(seed: 1).variant(of: opening, kind: .casing)?.scenario?.openingMessage != "Hi, I need help")
    }

    @Test func unchangedVariantsAreDropped() async throws {
        let generator = Generator(spec: try spec(#"{"templates": [{"template": "ok"}], "perturb": {"kinds": ["typos"]}}"#))
        let samples = try await collect(generator)
        #expect(samples.count == 1)
        #expect(generator.report.dropped[.unchangedVariant] == 1)
    }

    @Test func perturbOnlySelectedSources() async throws {
        let generator = Generator(spec: try spec("""
            {"templates": [{"template": "How do I return my phone?"}],
             "adversarial": {"categories": ["jailbreak"], "perCategory": 2},
             "perturb": {"of": "adversarial", "kinds": ["casing"]}}
            """))
        let samples = try await collect(generator)
        let variants = samples.filter { $0.metadata["perturbationOf"] != nil }
        #expect(variants.count == 2)
        #expect(variants.allSatisfy { $0.metadata["originalSource"] == "adversarial" && $0.tags.contains("adversarial") })
    }

    @Test func paraphrasesRunAheadInAWindowAndStayLinked() async throws {
        let model = RecordingModel(gated: true) { request, _ in
            let input = request.messages[1].content.components(separatedBy: "user message:\n").last ?? ""
            return reply(JSONValue.object(["paraphrases": [.string("In other words: \(input)")]]).canonicalText)
        }
        let generator = Generator(
            spec: try spec(#"{"templates": [{"template": "Question {n}?", "variables": {"n": [1,2,3,4,5,6,7,8,9,10]}}], "perturb": {"kinds": ["paraphrase"], "backend": "gen"}}"#),
            backends: model.backendSet())
        let consumer = Task { try await collect(generator) }
        // Four calls start ahead; taking the first one's result starts a fifth; then the pipeline
        // waits for the first reply and asks nothing more.
        await model.mock.waitForInFlight(5)
        #expect(model.calls == 5)
        model.mock.open()
        let samples = try await consumer.value
        #expect(samples.count == 20)
        #expect(model.calls == 10)
        #expect(model.mock.maxInFlight <= 5)
        for pair in stride(from: 0, to: 20, by: 2) {
            let original = samples[pair]
            let variant = samples[pair + 1]
            #expect(variant.metadata["perturbationOf"] == .string(original.id))
            #expect(variant.input == "In other words: \(original.input!)")
        }
    }

    @Test func paraphrasesComeFromTheModel() async throws {
        let model = RecordingModel { request, _ in
            #expect(request.messages[1].content.contains("How do I return my phone?"))
            return reply(#"```json\n{"paraphrases": ["What's the way to send my phone back?", "Can I return a phone I bought?", ""]}\n```"#)
        }
        let generator = Generator(
            spec: try spec(#"{"templates": [{"template": "How do I return my phone?"}], "perturb": {"kinds": ["paraphrase"], "perSample": 2, "backend": "gen"}}"#),
            backends: model.backendSet())
        let samples = try await collect(generator)
        #expect(samples.map(\.input) == ["How do I return my phone?", "What's the way to send my phone back?", "Can I return a phone I bought?"])
        #expect(samples[2].metadata["perturbation"] == "paraphrase")
        #expect(samples[2].metadata["perturbationVariant"] == 1)
        #expect(samples[1].metadata["generationUnit"] == .string("paraphrase:\(samples[0].id)"))
        #expect(generator.report.dropped[.invalidItem] == 1)
        #expect(model.calls == 1)
    }
}
