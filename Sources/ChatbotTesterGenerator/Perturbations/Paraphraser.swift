import Foundation
import ChatbotTesterCore

/// LLM paraphrases of a sample's input, as variants linked to the original.
struct Paraphraser: Sendable {
    var backend: any ChatBackend
    var seed: UInt64
    var count: Int

    /// Asks the model for `count` paraphrases of `input` (the request seed derives from the text).
    func paraphrases(of input: String) async throws -> StructuredCall.Outcome<String> {
        let schema: JSONValue = [
            "type": "object",
            "properties": ["paraphrases": ["type": "array", "items": ["type": "string"], "minItems": .int(count)]],
            "required": ["paraphrases"],
            "additionalProperties": false,
        ]
        var random = SeededGenerator(seed: seed, labels: ["paraphrase", input])
        let call = StructuredCall(
            backend: backend, format: .jsonSchema, schemaName: "paraphrases", schema: schema, arrayKey: "paraphrases",
            temperature: nil, maxTokens: 1024, seed: Int(truncatingIfNeeded: random.next() >> 1), retries: 1,
            tags: ["purpose": "generate.paraphrase"])
        let messages: [Message] = [
            .system("You rewrite user messages for robustness tests. Keep the meaning, facts and intent; change the wording. Reply with JSON only: {\"paraphrases\": [\"...\"]}"),
            .user("Write \(count) different paraphrase(s) of this user message:\n\(input)"),
        ]
        return try await call.run(messages: messages, want: count) { value -> Result<String, ItemProblem> in
            guard let text = value.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
                return .failure(ItemProblem("a paraphrase must be a non-empty string"))
            }
            return .success(text)
        }
    }

    /// The variants of `original` made from a paraphrase outcome, with its drops and repairs.
    static func batch(of original: TestSample, outcome: StructuredCall.Outcome<String>, unit: String) -> SourceBatch {
        var batch = SourceBatch(origin: "perturb paraphrase of \(original.id)", outcome: outcome)
        batch.samples = outcome.items.enumerated().compactMap { number, text in
            var variant = Perturber.variant(of: original, kind: .paraphrase, number: number) { _, _ in text }
            variant?.metadata["generationUnit"] = .string(unit)
            return variant
        }
        return batch
    }
}
