import ChatbotTesterCore

/// `ttft` and `tokens-per-second`: streaming timings of the target's replies against thresholds.
/// Unmeasured when no reply of the run was streamed (no timing recorded).
enum StreamingMetrics {
    static func register(into registry: inout MetricRegistry) {
        registry.registerSynchronousScoring(
            "ttft", summary: "time to first token at most `max` milliseconds (the slowest streamed reply)",
            options: [
                OptionSpec("max", .number, required: true, "maximum milliseconds to the first token"),
                OptionSpec("turn", .string, default: "slowest", "slowest: every streamed reply; first: only the first one"),
            ]
        ) { options, _ in
            let bounds = try BoundsMetrics.Bounds(options)
            let firstOnly = try options.choice("turn", ["slowest", "first"], default: "slowest") == "first"
            return { record in
                let timings = record.turns.compactMap(\.timeToFirstTokenMs)
                guard let value = firstOnly ? timings.first : timings.max() else {
                    throw NotApplicable("no streamed reply: the run has no time-to-first-token (stream the target to measure it)")
                }
                var score = bounds.score(value, unit: "ms to first token")
                score.details?["streamedTurns"] = .int(timings.count)
                return score
            }
        }
        registry.registerSynchronousScoring(
            "tokens-per-second", summary: "streaming speed at least `min` completion tokens per second (the slowest streamed reply)",
            options: [
                OptionSpec("min", .number, required: true, "minimum completion tokens per second"),
                OptionSpec("turn", .string, default: "slowest", "slowest: every streamed reply; first: only the first one"),
            ]
        ) { options, _ in
            let bounds = try BoundsMetrics.Bounds(options)
            let firstOnly = try options.choice("turn", ["slowest", "first"], default: "slowest") == "first"
            return { record in
                let rates = record.turns.compactMap(\.tokensPerSecond)
                guard let value = firstOnly ? rates.first : rates.min() else {
                    throw NotApplicable("no streamed reply with a token count: the run has no tokens-per-second")
                }
                var score = bounds.score(value, unit: "tokens/s")
                score.details?["streamedTurns"] = .int(rates.count)
                return score
            }
        }
    }
}
