import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct ScenarioAndProbeTests {
    static let personas = """
        {"personas": {"personas": ["an impatient customer", {"name": "novice", "description": "a first-time online shopper"}],
          "intents": ["Get a refund for a broken phone", {"goal": "change the delivery address", "stopCondition": "the new address is confirmed"}],
          "maxTurns": 4, "simulator": "sim"}}
        """

    @Test func personaTimesIntentGivesScenarios() async throws {
        let samples = try await collect(Generator(spec: try spec(Self.personas)))
        #expect(samples.count == 4)
        #expect(samples.allSatisfy { $0.kind == .simulated && $0.scenario?.maxTurns == 4 && $0.scenario?.simulator == "sim" })
        #expect(samples[0].scenario?.persona == "an impatient customer")
        #expect(samples[0].tags == ["scenario", "persona:an-impatient-customer", "intent:get-a-refund-for-a-broken-phone"])
        #expect(samples[3].tags.contains("persona:novice"))
        #expect(samples[3].scenario?.stopCondition == "the new address is confirmed")
        #expect(samples[0].scenario?.stopCondition?.isEmpty == false)
        #expect(samples[0].criteria?.contains("get a refund for a broken phone") == true)
        #expect(try await collect(Generator(spec: try spec(Self.personas))) == samples)
        try expectValidDataset(samples)
    }

    @Test func enrichmentAddsOpeningMessagesAndFallsBack() async throws {
        let model = RecordingModel { request, number in
            if request.messages[1].content.contains("first-time") {
                return reply("no idea")
            }
            return reply(#"{"openingMessage": "Hi, scenario \#(number) here", "stopCondition": "Done."}"#)
        }
        var json = Self.personas
        json = json.replacingOccurrences(of: "\"maxTurns\": 4", with: "\"maxTurns\": 4, \"backend\": \"gen\"")
        let generator = Generator(spec: try spec(json), backends: model.backendSet())
        let samples = try await collect(generator)
        #expect(samples.count == 4)
        #expect(samples[0].scenario?.openingMessage?.hasPrefix("Hi, scenario") == true)
        #expect(samples[0].scenario?.stopCondition == "Done.")
        #expect(samples[0].metadata["enriched"] == true)
        #expect(samples[2].metadata["enriched"] == false)
        #expect(samples[2].scenario?.openingMessage == nil)
        #expect(generator.report.repairs["enrichment-fallback"] == 2)
        try expectValidDataset(samples)
    }

    @Test(arguments: AdversarialCategory.allCases)
    func probesPerCategory(category: AdversarialCategory) async throws {
        let samples = try await collect(Generator(spec: try spec("""
            {"seed": 5, "adversarial": {"categories": ["\(category.rawValue)"], "perCategory": 5, "domain": "Acme Electronics"}}
            """)))
        #expect(samples.count == 5)
        for sample in samples {
            #expect(sample.tags == ["adversarial", "category:\(category.rawValue)"])
            #expect(sample.criteria == category.criteria.replacingOccurrences(of: "{domain}", with: "Acme Electronics"))
            #expect(sample.metadata["category"] == .string(category.rawValue))
            #expect(!sample.userTurns.joined().contains("{domain}"))
        }
        #expect(Set(samples.map(\.id)).count == 5)
        try expectValidDataset(samples)
    }

    @Test func adversarialDefaultsCoverEveryCategoryAndCap() async throws {
        let samples = try await collect(Generator(spec: try spec(#"{"adversarial": {"perCategory": 100}}"#)))
        let categories = Set(samples.compactMap { $0.metadata["category"]?.stringValue })
        #expect(categories == Set(AdversarialCategory.allCases.map(\.rawValue)))
        #expect(samples.count == AdversarialCategory.allCases.reduce(0) { $0 + AdversarialCatalog.probes(for: $1).count })
        #expect(samples.contains { $0.kind == .scripted })
        #expect(AdversarialCategory.systemPromptExtraction.criteria.contains("does not reveal the system prompt"))
    }
}
