import ChatbotTesterCore

/// The RAG metrics, judged one item at a time through `LLMJudge` (votes, repair, retry, spread and
/// unmeasured exactly as for `llm-judge`):
/// - `faithfulness`: the share of the answer's claims the retrieved contexts support (else the
///   case's `context`);
/// - `context-precision`: the retrieved contexts relevant to the reference, weighted by rank;
/// - `context-recall`: the share of the reference (`referenceContexts`, else the claims of
///   `expected`) the retrieved contexts cover;
/// - `answer-relevancy`: the share of the answer's statements that address the question.
enum RAGMetrics {
    /// What one sample asks the judge: the prompts, the numbered items and how verdicts score.
    struct JudgeTask: Sendable {
        var system: String
        var user: String
        var items: [String]
        var wording: JudgeItemVerdicts.Wording
        var score: @Sendable ([Bool]) -> Double
    }

    /// Bounds on what one sample sends to the judge.
    struct Limits: Sendable {
        var maxItems: Int
        var maxContextChars: Int
    }

    /// What one sample needs: the judge, or a score known without one.
    enum Step: Sendable {
        case judge(JudgeTask)
        case known(MetricScore)
    }

    typealias TaskBuilder = @Sendable (RunRecord, Limits) throws -> Step

    static let limitOptions: [OptionSpec] = [
        OptionSpec("maxItems", .integer, default: "30", "claims or passages judged at most per sample"),
        OptionSpec("maxContextChars", .integer, default: "4000", "characters of each passage shown to the judge"),
    ]

    static let claim = JudgeItemVerdicts.Wording(item: "claim", items: "claims", yes: "supported", no: "unsupported")
    static let passage = JudgeItemVerdicts.Wording(item: "passage", items: "passages", yes: "relevant", no: "irrelevant")
    static let referencePassage = JudgeItemVerdicts.Wording(
        item: "reference passage", items: "reference passages", yes: "found", no: "missing")
    static let referenceStatement = JudgeItemVerdicts.Wording(
        item: "reference statement", items: "reference statements", yes: "attributed", no: "unattributed")
    static let statement = JudgeItemVerdicts.Wording(item: "statement", items: "statements", yes: "relevant", no: "irrelevant")

    static func register(into registry: inout MetricRegistry) {
        add(
            "faithfulness", "share of the reply's claims supported by the retrieved contexts (else the case's context)",
            [OptionSpec("contexts", .string, default: "auto", "auto: the retrieved contexts, else the case's context; retrieved; context")],
            into: &registry
        ) { options in
            let source = try options.choice("contexts", ["auto", "retrieved", "context"], default: "auto")
            return { record, limits in
                let claims = ClaimSplitter.claims(try requireReply(record), limit: limits.maxItems)
                guard !claims.isEmpty else { throw NotApplicable("the reply makes no claim to check") }
                let passages = try grounding(record, source: source)
                return .judge(JudgeTask(
                    system: "\(JudgeMetrics.preamble)\nDecide whether each numbered CLAIM of the assistant's answer is supported by the "
                        + "PASSAGES. Answer \"yes\" when the passages state the claim or it follows directly from them; \"no\" when "
                        + "they contradict it or do not contain it. Use only the passages, not your own knowledge.",
                    user: questionBlock(record) + "\n\n" + numbered("passages", passages, limits) + "\n\n" + numbered("claims", claims, limits),
                    items: claims, wording: claim, score: JudgeItemVerdicts.fraction))
            }
        }
        add(
            "context-precision", "retrieved contexts relevant to the reference (referenceContexts, else expected), weighted by rank",
            [], into: &registry
        ) { _ in
            { record, limits in
                let retrieved = Array(try retrievedContexts(record, required: true).prefix(limits.maxItems))
                let reference = try referenceBlock(record, limits)
                return .judge(JudgeTask(
                    system: "\(JudgeMetrics.preamble)\nA retriever returned the numbered PASSAGES, best first, for the user's question. "
                        + "Decide for each passage whether it is relevant: \"yes\" when it holds information the REFERENCE uses to "
                        + "answer the question, \"no\" otherwise.",
                    user: questionBlock(record) + "\n\n" + reference + "\n\n" + numbered("passages", retrieved, limits),
                    items: retrieved, wording: passage, score: JudgeItemVerdicts.rankedPrecision))
            }
        }
        add(
            "context-recall", "share of the reference (referenceContexts, else the claims of expected) found in the retrieved contexts",
            [], into: &registry
        ) { _ in
            { record, limits in
                let retrieved = try retrievedContexts(record, required: false)
                if retrieved.isEmpty {
                    return .known(MetricScore(score: 0, reason: "the bot retrieved no contexts for this case: nothing recalled"))
                }
                let retrievedBlock = numbered("retrieved_passages", Array(retrieved.prefix(limits.maxItems)), limits)
                if let references = record.sample.referenceContexts, !references.isEmpty {
                    let items = Array(references.prefix(limits.maxItems))
                    return .judge(JudgeTask(
                        system: "\(JudgeMetrics.preamble)\nDecide for each numbered REFERENCE PASSAGE whether the RETRIEVED PASSAGES "
                            + "contain its information (in any wording): \"yes\" when they do, \"no\" when they lack it.",
                        user: questionBlock(record) + "\n\n" + retrievedBlock + "\n\n" + numbered("reference_passages", items, limits),
                        items: items, wording: referencePassage, score: JudgeItemVerdicts.fraction))
                }
                guard let expected = record.sample.expected else {
                    throw NotApplicable("the case has no 'referenceContexts' and no 'expected' answer to recall")
                }
                let statements = ClaimSplitter.claims(expected, limit: limits.maxItems)
                guard !statements.isEmpty else { throw NotApplicable("the expected answer makes no statement") }
                return .judge(JudgeTask(
                    system: "\(JudgeMetrics.preamble)\nDecide for each numbered STATEMENT of the reference answer whether it can be "
                        + "attributed to the RETRIEVED PASSAGES: \"yes\" when the passages contain it, \"no\" when they do not.",
                    user: questionBlock(record) + "\n\n" + retrievedBlock + "\n\n" + numbered("statements", statements, limits),
                    items: statements, wording: referenceStatement, score: JudgeItemVerdicts.fraction))
            }
        }
        add("answer-relevancy", "share of the reply's statements that address the user's question", [], into: &registry) { _ in
            { record, limits in
                let statements = ClaimSplitter.claims(try requireReply(record), limit: limits.maxItems)
                guard !statements.isEmpty else { throw NotApplicable("the reply makes no statement") }
                return .judge(JudgeTask(
                    system: "\(JudgeMetrics.preamble)\nDecide for each numbered STATEMENT of the assistant's answer whether it "
                        + "addresses the user's question: \"yes\" when it helps answer what was asked (directly, or as context "
                        + "the answer needs); \"no\" when it is off-topic or answers something else.",
                    user: questionBlock(record) + "\n\n" + numbered("statements", statements, limits),
                    items: statements, wording: statement, score: JudgeItemVerdicts.fraction))
            }
        }
    }

    /// Registers a per-item judge metric; default threshold from `BuiltinMetrics` (0.5).
    static func add(
        _ type: String, _ summary: String, _ options: [OptionSpec], into registry: inout MetricRegistry,
        tasks: @escaping @Sendable (ComponentOptions) throws -> TaskBuilder
    ) {
        let judgeOptions = LLMJudge.optionSpecs.filter { $0.name != "scale" }
        registry.registerScoring(
            type, summary: summary, options: judgeOptions + limitOptions + options,
            defaultThreshold: BuiltinMetrics.defaultThreshold(for: type)
        ) { options, context in
            let limits = Limits(
                maxItems: try positive(options, "maxItems", default: 30, upTo: 200),
                maxContextChars: try positive(options, "maxContextChars", default: 4000, upTo: 100_000))
            let builder = try tasks(options)
            let judge = try await LLMJudge.make(options, context)
            return { record in
                let task: JudgeTask
                switch try builder(record, limits) {
                case .known(let score): return score
                case .judge(let judged): task = judged
                }
                let format = JudgeItemVerdicts.format(items: task.items, wording: task.wording, score: task.score)
                return try await judge.score(system: task.system, user: task.user, label: type, format: format)
            }
        }
    }

    static func positive(_ options: ComponentOptions, _ key: String, default value: Int, upTo limit: Int) throws -> Int {
        guard let given = try options.int(key) else { return value }
        guard (1...limit).contains(given) else { throw options.invalid(key, "'\(key)' must be between 1 and \(limit) (got \(given))") }
        return given
    }

    // MARK: Material

    /// The retrieved contexts of the run. With `required`, none reported is unmeasured; without,
    /// contexts reported empty count as "retrieved nothing" and only a bot that never reports
    /// contexts is unmeasured.
    static func retrievedContexts(_ record: RunRecord, required: Bool) throws -> [String] {
        let contexts = record.retrievedContexts
        if !contexts.isEmpty { return contexts }
        let reported = record.turns.contains { $0.retrievedContexts != nil }
        if required || !reported {
            throw NotApplicable(
                reported
                    ? "the bot retrieved no contexts for this case"
                    : "the bot reported no retrieved contexts (capture them with the backend's contextPath)")
        }
        return []
    }

    /// The passages a faithful answer rests on.
    static func grounding(_ record: RunRecord, source: String) throws -> [String] {
        let retrieved = record.retrievedContexts
        let reference = record.sample.context ?? []
        switch source {
        case "retrieved":
            guard !retrieved.isEmpty else { throw NotApplicable("the bot reported no retrieved contexts") }
            return retrieved
        case "context":
            guard !reference.isEmpty else { throw NotApplicable("the case has no 'context'") }
            return reference
        default:
            if !retrieved.isEmpty { return retrieved }
            guard !reference.isEmpty else { throw NotApplicable("no retrieved contexts and the case has no 'context' to check against") }
            return reference
        }
    }

    /// The reference retrieval is measured against: `referenceContexts`, else `expected`.
    static func referenceBlock(_ record: RunRecord, _ limits: Limits) throws -> String {
        if let references = record.sample.referenceContexts, !references.isEmpty {
            return numbered("reference", Array(references.prefix(limits.maxItems)), limits)
        }
        guard let expected = record.sample.expected else {
            throw NotApplicable("the case has no 'referenceContexts' and no 'expected' answer")
        }
        return "<reference>\n\(cut(expected, limits.maxContextChars * 2))\n</reference>"
    }

    /// The user's question: the last user message before the final reply.
    static func questionBlock(_ record: RunRecord) -> String {
        let question = record.transcript.last(where: { $0.role == .user })?.content ?? record.sample.input ?? ""
        return "<question>\n\(cut(question, 8000))\n</question>"
    }

    /// `<tag>` with the items numbered from 1.
    static func numbered(_ tag: String, _ items: [String], _ limits: Limits) -> String {
        let body = items.enumerated().map { "[\($0.offset + 1)] \(cut($0.element, limits.maxContextChars))" }.joined(separator: "\n")
        return "<\(tag)>\n\(body.isEmpty ? "(none)" : body)\n</\(tag)>"
    }

    static func cut(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + " … (cut)"
    }
}
