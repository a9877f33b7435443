import ChatbotTesterCore

/// The model-graded metrics: `llm-judge` (rubric), `correctness`, `factuality` (against the
/// reference), and the conversation-level `goal-completion`, `persona-consistency` and `tone`.
enum JudgeMetrics {
    /// Builds the judge's system and user prompts for one record, or throws `NotApplicable`.
    typealias PromptBuilder = @Sendable (RunRecord) throws -> (system: String, user: String)

    static let preamble = "You are an impartial, strict evaluator of a chatbot's answers. Judge only what is asked."

    static func register(into registry: inout MetricRegistry) {
        add(
            "llm-judge", "scores the reply against a rubric",
            [
                OptionSpec("rubric", .string, "what a good answer does (default: the sample's criteria)"),
                OptionSpec("criteria", .array, "a list of criteria, each to be met"),
                OptionSpec("includeReference", .bool, default: "true", "show the sample's expected answer to the judge"),
            ], into: &registry
        ) { options in
            let rubric = try options.string("rubric")
            let criteria = try options.strings("criteria") ?? []
            let includeReference = try options.bool("includeReference") ?? true
            return { record in
                var parts: [String] = []
                if let rubric { parts.append(rubric) }
                if !criteria.isEmpty { parts.append("Criteria (all must be met):\n" + criteria.map { "- \($0)" }.joined(separator: "\n")) }
                if parts.isEmpty, let fromSample = record.sample.criteria { parts.append(fromSample) }
                guard !parts.isEmpty else { throw NotApplicable("no 'rubric' or 'criteria' option and the sample has no 'criteria'") }
                let reply = try requireReply(record)
                var user = conversationBlock(record, reply: reply)
                if includeReference, let expected = record.sample.expected { user += "\n\n<reference_answer>\n\(expected)\n</reference_answer>" }
                return ("\(preamble)\nScore the FINAL ASSISTANT REPLY against this rubric:\n\(parts.joined(separator: "\n\n"))", user)
            }
        }
        add("correctness", "is the reply correct and complete given the reference answer", [], into: &registry) { _ in
            { record in
                guard let expected = record.sample.expected else { throw NotApplicable("the sample has no 'expected' answer") }
                let reply = try requireReply(record)
                return (
                    "\(preamble)\nDecide whether the FINAL ASSISTANT REPLY answers the question correctly and completely, "
                        + "using the reference answer as ground truth. Wording may differ; meaning must match. "
                        + "Lowest score: wrong or contradicts the reference. Highest: fully correct and complete.",
                    conversationBlock(record, reply: reply) + "\n\n<reference_answer>\n\(expected)\n</reference_answer>"
                )
            }
        }
        add("factuality", "does the reply avoid claims that contradict or go beyond the reference/context", [], into: &registry) { _ in
            { record in
                let sources = [record.sample.expected].compactMap { $0 } + (record.sample.context ?? [])
                guard !sources.isEmpty else { throw NotApplicable("the sample has no 'expected' or 'context' to check facts against") }
                let reply = try requireReply(record)
                return (
                    "\(preamble)\nCheck every factual claim in the FINAL ASSISTANT REPLY against the reference material. "
                        + "Lowest score: a claim contradicts the material. Highest: every claim is supported by it. "
                        + "Unsupported but not contradicting claims lower the score.",
                    conversationBlock(record, reply: reply) + "\n\n<reference_material>\n\(sources.joined(separator: "\n---\n"))\n</reference_material>"
                )
            }
        }
        add(
            "goal-completion", "did the conversation achieve the user's goal (scenario goal)",
            [OptionSpec("goal", .string, "the goal (default: the sample's scenario goal, else its criteria)")], into: &registry
        ) { options in
            let fixed = try options.string("goal")
            return { record in
                guard let goal = fixed ?? record.sample.scenario?.goal ?? record.sample.criteria else {
                    throw NotApplicable("no 'goal' option and the sample has no scenario goal or criteria")
                }
                return (
                    "\(preamble)\nRead the whole conversation and decide whether the assistant helped the user achieve this goal:\n\(goal)\n"
                        + "Lowest score: the goal was not reached. Highest: fully reached, efficiently.",
                    transcriptBlock(record)
                )
            }
        }
        add(
            "persona-consistency", "does the assistant stay in its persona across the conversation",
            [OptionSpec("persona", .string, "the assistant's persona (default: the sample's system prompt)")], into: &registry
        ) { options in
            let fixed = try options.string("persona")
            return { record in
                guard let persona = fixed ?? record.sample.system ?? record.transcript.first(where: { $0.role == .system })?.content else {
                    throw NotApplicable("no 'persona' option and the sample has no system prompt")
                }
                return (
                    "\(preamble)\nRead the whole conversation and decide whether every assistant turn is consistent with this persona "
                        + "and its instructions:\n\(persona)\nLowest score: breaks persona or contradicts itself. Highest: fully consistent.",
                    transcriptBlock(record)
                )
            }
        }
        add(
            "tone", "does every assistant turn keep the required tone",
            [OptionSpec("tone", .string, required: true, "the required tone, e.g. 'friendly and professional'")], into: &registry
        ) { options in
            let tone = try options.requiredString("tone")
            return { record in
                (
                    "\(preamble)\nRead the whole conversation and rate how well every assistant turn keeps this tone: \(tone).\n"
                        + "Lowest score: the tone is clearly wrong. Highest: always right.",
                    transcriptBlock(record)
                )
            }
        }
    }

    /// Registers a judge metric built from a prompt builder; default threshold 0.5.
    static func add(
        _ type: String, _ summary: String, _ options: [OptionSpec], into registry: inout MetricRegistry,
        prompts: @escaping @Sendable (ComponentOptions) throws -> PromptBuilder
    ) {
        registry.registerScoring(type, summary: summary, options: LLMJudge.optionSpecs + options, defaultThreshold: BuiltinMetrics.defaultThreshold(for: type)) { options, context in
            let builder = try prompts(options)
            let judge = try await LLMJudge.make(options, context)
            return { record in
                let (system, user) = try builder(record)
                return try await judge.score(system: system, user: user, label: type)
            }
        }
    }

    /// The conversation before the final reply, then the reply itself.
    static func conversationBlock(_ record: RunRecord, reply: String) -> String {
        var earlier = record.transcript.filter { $0.role != .system }
        if let last = earlier.last, last.role == .assistant, last.content == reply { earlier.removeLast() }
        let context = earlier.map(\.judgeText).joined(separator: "\n")
        return "<conversation>\n\(context)\n</conversation>\n\n<final_assistant_reply>\n\(reply)\n</final_assistant_reply>"
    }

    /// The whole transcript, for conversation-level judges.
    static func transcriptBlock(_ record: RunRecord) -> String {
        "<conversation>\n\(record.transcriptText())\n</conversation>"
    }
}
