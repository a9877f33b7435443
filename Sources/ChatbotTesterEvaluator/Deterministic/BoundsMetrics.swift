import ChatbotTesterCore

/// `length`, `latency` and `cost`: a measured quantity checked against `min`/`max`.
enum BoundsMetrics {
    static func register(into registry: inout MetricRegistry) {
        registry.registerSynchronousScoring(
            "length", summary: "reply length within min/max (characters or words)",
            options: [
                OptionSpec("unit", .string, default: "chars", "chars or words"),
                OptionSpec("min", .integer, "minimum length"),
                OptionSpec("max", .integer, "maximum length"),
            ]
        ) { options, _ in
            let unit = try options.choice("unit", ["chars", "words"], default: "chars")
            let bounds = try Bounds(options)
            return { record in
                let reply = try requireReply(record)
                let count = unit == "words" ? reply.split(whereSeparator: { $0.isWhitespace || $0.isNewline }).count : (ASCIIText.characterCount(reply) ?? reply.count)
                return bounds.score(Double(count), unit: unit)
            }
        }
        registry.registerSynchronousScoring(
            "latency", summary: "latency at most `max` milliseconds (total, or slowest turn with perTurn)",
            options: [
                OptionSpec("max", .number, required: true, "maximum milliseconds"),
                OptionSpec("perTurn", .bool, default: "false", "check the slowest assistant turn instead of the total"),
            ]
        ) { options, _ in
            let bounds = try Bounds(options)
            let perTurn = try options.bool("perTurn") ?? false
            return { record in
                let value = perTurn ? (record.turns.map(\.latencyMs).max() ?? record.latencyMs) : record.latencyMs
                return bounds.score(value, unit: "ms")
            }
        }
        registry.registerSynchronousScoring(
            "cost", summary: "cost at most `max` US dollars",
            options: [OptionSpec("max", .number, required: true, "maximum US dollars")]
        ) { options, _ in
            let bounds = try Bounds(options)
            return { record in
                guard let cost = record.costUSD else { throw NotApplicable("the run has no known cost (no price configured)") }
                return bounds.score(cost, unit: "USD")
            }
        }
    }

    struct Bounds: Sendable {
        var min: Double?
        var max: Double?

        init(_ options: ComponentOptions) throws {
            min = try options.double("min")
            max = try options.double("max")
            if min == nil, max == nil { throw options.invalid("max", "give 'min', 'max' or both") }
            if let min, let max, min > max { throw options.invalid("min", "'min' (\(min)) is above 'max' (\(max))") }
        }

        func score(_ value: Double, unit: String) -> MetricScore {
            let shown = JSONSchemaValidator.format(value)
            if let min, value < min {
                return .bool(false, reason: "\(shown) \(unit) is below the minimum \(JSONSchemaValidator.format(min))", details: ["value": .double(value)])
            }
            if let max, value > max {
                return .bool(false, reason: "\(shown) \(unit) is above the maximum \(JSONSchemaValidator.format(max))", details: ["value": .double(value)])
            }
            return .bool(true, reason: "\(shown) \(unit) within bounds", details: ["value": .double(value)])
        }
    }
}
