import ChatbotTesterCore
import Foundation

/// `embedding-similarity`: cosine similarity between the reply's and the reference's embeddings,
/// from any `EmbeddingBackend` in the job's `BackendSet`. A negative cosine scores 0.
enum EmbeddingSimilarityMetric {
    static func register(into registry: inout MetricRegistry) {
        registry.registerScoring(
            "embedding-similarity", summary: "cosine similarity of embeddings to the reference",
            options: [
                OptionSpec("backend", .string, required: true, "the embedding backend instance"),
                OptionSpec("value", .string, "the reference text (default: the sample's expected)"),
            ],
            defaultThreshold: BuiltinMetrics.defaultThreshold(for: "embedding-similarity")
        ) { options, context in
            let backend = try await resolveBackend(options, context) { try await $0.embedding($1) }
            return { record in
                let reference = try options.reference(record)
                let reply = try requireReply(record)
                let response = try await backend.embed([reply, reference])
                guard response.vectors.count == 2, response.vectors[0].count == response.vectors[1].count, !response.vectors[0].isEmpty else {
                    throw ChatbotTesterError(.badResponse, "embedding backend returned \(response.vectors.count) vectors of mismatched size")
                }
                let cosine = cosineSimilarity(response.vectors[0], response.vectors[1])
                return MetricScore(
                    score: max(0, cosine), reason: "cosine \(DecimalText.fixed(cosine, digits: 3)) to the reference", usage: response.usage,
                    details: ["cosine": .double(cosine)])
            }
        }
    }

    /// Cosine of the angle between two vectors (0 when either is zero).
    static func cosineSimilarity(_ a: [Double], _ b: [Double]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) {
            dot += x * y
            na += x * x
            nb += y * y
        }
        guard na > 0, nb > 0 else { return 0 }
        return dot / (na.squareRoot() * nb.squareRoot())
    }
}

/// Looks up the backend named by the `backend` option in the context's `BackendSet`.
func resolveBackend<B>(
    _ options: ComponentOptions, _ context: ComponentContext, key: String = "backend",
    _ lookup: (BackendSet, String) async throws -> B
) async throws -> B {
    let name = try options.requiredString(key)
    guard let backends = context.backends else {
        throw options.invalid(key, "no backends are configured, so backend '\(name)' cannot be found")
    }
    do {
        return try await lookup(backends, name)
    } catch var error as ChatbotTesterError {
        if error.location == nil { error.location = SourceLocation(field: context.fieldPath(key)) }
        throw error
    }
}
