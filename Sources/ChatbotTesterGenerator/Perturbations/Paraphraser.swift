import ChatbotTesterCore

/// LLM paraphrases of a sample's input, as variants linked to the original.
struct Paraphraser: Sendable {
    var backend: any ChatBackend
    var seed: UInt64
    var count: Int

    func variants(of sample: TestSample) async throws -> SourceBatch {
        let origin = "perturb paraphrase of \(sample.id)"
        guard let input = sample.input else { return SourceBatch(origin: origin) }
        let schema: JSONValue = [
            "type": "object",
            "properties": ["paraphrases": ["type": "array", "items": ["type": "string"]]],
            "required": ["paraphrases"],
            "additionalProperties": false,
        ]
        var random = SeededGenerator(seed: seed, labels: ["paraphrase", sample.id])
        let call = StructuredCall(
            backend: backend, format: .jsonSchema, schemaName: "paraphrases", schema: schema, arrayKey: "paraphrases",
            temperature: nil, maxTokens: 1024, seed: Int(truncatingIfNeeded: random.next() >> 1), retries: 1,
            tags: ["purpose": "generate.paraphrase", "sampleId": sample.id])
        let messages: [Message] = [
            .system("You rewrite user messages for robustness tests. Keep the meaning, facts and intent; change the wording. Reply with JSON only: {\"paraphrases\": [\"...\"]}"),
            .user("Write \(count) different paraphrase(s) of this user message:\n\(input)"),
        ]
        let outcome = try await call.run(messages: messages, want: count) { value -> Result<String, ItemProblem> in
            guard let text = value.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
                return .failure(ItemProblem("a paraphrase must be a non-empty string"))
            }
            return .success(text)
        }
        var batch = SourceBatch(origin: origin, outcome: outcome)
        batch.samples = outcome.items.enumerated().compactMap { number, text in
            Perturber.variant(of: sample, kind: .paraphrase, number: number) { _, _ in text }
        }
        return batch
    }
}
