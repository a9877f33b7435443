import ChatbotTesterCore

/// Registers every built-in metric type.
public enum BuiltinMetrics {
    /// Adds the built-in metrics to `registry` (replacing same-named types) and the shared options.
    public static func register(into registry: inout MetricRegistry) {
        let known = Set(registry.sharedOptions.map(\.name))
        registry.sharedOptions += MetricCommon.sharedOptions.filter { !known.contains($0.name) }
        TextMatchMetrics.register(into: &registry)
        JSONMetrics.register(into: &registry)
        BoundsMetrics.register(into: &registry)
        RefusalDetector.register(into: &registry)
        LexicalSimilarity.register(into: &registry)
        EmbeddingSimilarityMetric.register(into: &registry)
        JudgeMetrics.register(into: &registry)
        ToolMetrics.register(into: &registry)
        StreamingMetrics.register(into: &registry)
        RAGMetrics.register(into: &registry)
    }

    /// The per-sample threshold a built-in type uses when the config gives none: 1 for checks,
    /// 0.5 for judges (the RAG metrics included), none (informational) for similarity scores.
    public static func defaultThreshold(for type: String) -> Double? {
        switch type {
        case "rouge-l", "bleu", "embedding-similarity": nil
        case "llm-judge", "correctness", "factuality", "goal-completion", "persona-consistency", "tone", "faithfulness",
            "context-precision", "context-recall", "answer-relevancy":
            0.5
        default: 1
        }
    }
}
