import Foundation
import ChatbotTesterCore

/// Persona × intent → simulated-user scenarios, deterministic; optionally enriched by a model.
public struct ScenarioGrid: Sendable {
    public var spec: PersonaSpec

    public init(spec: PersonaSpec) {
        self.spec = spec
    }

    /// The number of scenarios (personas × intents).
    public var count: Int { spec.personas.count * spec.intents.count }

    /// The `offset`-th scenario sample (persona-major order). Its id is left for the generator.
    public func sample(at offset: Int) -> TestSample {
        let persona = spec.personas[offset / spec.intents.count]
        let intent = spec.intents[offset % spec.intents.count]
        let scenario = Scenario(
            persona: persona.description, goal: intent.goal, maxTurns: spec.maxTurns,
            stopCondition: intent.stopCondition ?? "The goal is reached, or the assistant clearly says it cannot help with it.",
            openingMessage: intent.openingMessage, simulator: spec.simulator)
        return TestSample(
            id: "", system: spec.system, scenario: scenario, expected: intent.expected,
            criteria: intent.criteria
                ?? "Helps the user (\(persona.description)) to \(Self.lowercasedFirst(intent.goal)), staying polite and accurate, without inventing facts.",
            tags: ["scenario", "persona:\(persona.name)", "intent:\(intent.name)"],
            metadata: ["source": "persona", "persona": .string(persona.name), "intent": .string(intent.name)])
    }

    /// Every scenario sample, in order.
    public var samples: [TestSample] { (0..<count).map(sample(at:)) }

    /// Asks a model for an opening message and a sharper stop condition, keeping the deterministic
    /// values for whatever the model does not give validly.
    func enrich(_ sample: TestSample, backend: any ChatBackend, seed: UInt64, position: Int) async throws -> SourceBatch {
        guard var scenario = sample.scenario else { return SourceBatch(origin: "personas", samples: [sample]) }
        let origin = "personas scenario \(position)"
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "openingMessage": ["type": "string", "description": "the user's first message, in the persona's voice"],
                "stopCondition": ["type": "string", "description": "when the goal counts as reached, one sentence"],
            ],
            "required": ["openingMessage", "stopCondition"],
            "additionalProperties": false,
        ]
        let call = StructuredCall(
            backend: backend, format: .jsonSchema, schemaName: "scenario", schema: schema, arrayKey: nil, temperature: nil,
            maxTokens: 512, seed: Int(truncatingIfNeeded: seed &+ UInt64(position)), retries: 1,
            tags: ["purpose": "generate.personas"])
        let messages: [Message] = [
            .system("You prepare simulated users for testing a chatbot. Reply with JSON only: {\"openingMessage\": \"...\", \"stopCondition\": \"...\"}"),
            .user("Persona: \(scenario.persona)\nGoal: \(scenario.goal)\n\nWrite the first message this user sends, in their voice, and when their goal counts as reached."),
        ]
        let outcome = try await call.run(messages: messages, want: 1) { value -> Result<(String?, String?), ItemProblem> in
            let opening = value["openingMessage"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
            let stop = value["stopCondition"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let opening, !opening.isEmpty else { return .failure(ItemProblem("'openingMessage' is missing or empty")) }
            return .success((opening, stop?.isEmpty == false ? stop : nil))
        }
        // A failed enrichment loses nothing (the deterministic scenario is kept), so its item
        // problems are not drops.
        var batch = SourceBatch(origin: origin, outcome: outcome, keepDrops: false)
        var enriched = sample
        if let (opening, stop) = outcome.items.first {
            if scenario.openingMessage == nil { scenario.openingMessage = opening }
            if let stop { scenario.stopCondition = stop }
            enriched.scenario = scenario
            enriched.metadata["enriched"] = true
        } else {
            // Keep the deterministic scenario; say why enrichment failed.
            batch.repairs.append("enrichment-fallback")
            enriched.metadata["enriched"] = false
        }
        batch.samples = [enriched]
        return batch
    }

    static func lowercasedFirst(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.lowercased() + text.dropFirst()
    }
}
