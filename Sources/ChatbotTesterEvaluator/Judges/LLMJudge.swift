import ChatbotTesterCore
import Foundation

/// Asks a chat model for a `{score, reason}` verdict, repairs malformed output, retries once with
/// an error hint, and votes `votes` times.
///
/// The backend is any `ChatBackend` (usually taken by name from the job's `BackendSet`), so a team's
/// own model is a judge with no code change.
public struct LLMJudge: Sendable {
    public let backend: any ChatBackend
    public var scale: JudgeScale
    /// Independent verdicts per evaluation (each with its own `seed`, so a response cache does not
    /// collapse them into one).
    public var votes: Int
    public var temperature: Double?
    public var model: String?
    public var maxTokens: Int?
    /// Ask for a JSON-schema response format (turn off for backends that reject it).
    public var structuredOutput: Bool
    /// The backend instance name, for messages (`judge backend 'judge' unreachable: …`).
    public var backendName: String?

    public init(
        backend: any ChatBackend, scale: JudgeScale = JudgeScale(), votes: Int = 1, temperature: Double? = nil,
        model: String? = nil, maxTokens: Int? = nil, structuredOutput: Bool = true, backendName: String? = nil
    ) {
        self.backend = backend
        self.backendName = backendName
        self.scale = scale
        self.votes = max(1, votes)
        self.temperature = temperature
        self.model = model
        self.maxTokens = maxTokens
        self.structuredOutput = structuredOutput
    }

    /// One vote's outcome.
    public struct Vote: Sendable, Hashable {
        /// The verdict, or `nil` when the output stayed unreadable after the retry.
        public var verdict: JudgeVerdict?
        /// Why the verdict is missing.
        public var failure: String?
        /// The start of the last raw output (for unmeasured records).
        public var rawExcerpt: String
        /// The judge backend's error when the call itself failed (no output to read).
        public var callError: ChatbotTesterError? = nil
        public var retried: Bool
        public var usage: Usage
        public var costUSD: Double?
    }

    /// The JSON schema of a verdict on this judge's scale.
    public var verdictSchema: JSONValue {
        [
            "type": "object",
            "properties": [
                "score": ["type": "number", "minimum": .double(scale.min), "maximum": .double(scale.max)],
                "reason": ["type": "string"],
            ],
            "required": ["score", "reason"],
            "additionalProperties": false,
        ]
    }

    /// The instruction appended to every judge system prompt.
    public var answerInstruction: String {
        """
        Answer with only a JSON object, no code fence and no other text: \
        {"score": <a number from \(scale.text)>, "reason": "<one or two sentences>"}. \
        \(JSONSchemaValidator.format(scale.min)) is worst, \(JSONSchemaValidator.format(scale.max)) is best.
        """
    }

    /// The `{score, reason}` answer on this judge's scale: what `score(system:user:label:)` asks for.
    public var scoreFormat: JudgeAnswerFormat {
        let scale = scale
        return JudgeAnswerFormat(
            schemaName: "verdict", schema: verdictSchema, instruction: answerInstruction,
            retryHint: "Reply again with only the JSON object {\"score\": <a number from \(scale.text)>, \"reason\": \"...\"}.",
            scale: scale
        ) { JudgeVerdictParser.parse($0, scale: scale) }
    }

    /// Scores with `votes` verdicts; the result is unmeasured when no vote produced a verdict.
    /// - Parameters:
    ///   - system: the judge's task and rubric (the answer instruction is appended).
    ///   - user: the material to judge.
    public func score(system: String, user: String, label: String) async throws -> MetricScore {
        try await score(system: system, user: user, label: label, format: scoreFormat)
    }

    /// Scores with `votes` verdicts answered in `format` (a `{score, reason}` verdict, or one verdict
    /// per item for the RAG metrics); votes, repair, retry, spread and unmeasured work the same for
    /// every format.
    public func score(system: String, user: String, label: String, format: JudgeAnswerFormat) async throws -> MetricScore {
        let votes = try await withThrowingTaskGroup(of: (Int, Vote).self) { group in
            for index in 0..<self.votes {
                group.addTask { (index, try await self.vote(system: system, user: user, label: label, index: index, format: format)) }
            }
            var all: [(Int, Vote)] = []
            for try await vote in group { all.append(vote) }
            return all.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return Self.combine(votes, scale: format.scale, backendName: backendName)
    }

    /// Why a judge call failed, worded as what it is: an outage when the judge backend could not
    /// be reached (`judge backend 'judge' unreachable: connection refused`), a failed call otherwise.
    static func callFailure(_ error: ChatbotTesterError, backendName: String?) -> String {
        let name = backendName.map { "judge backend '\($0)'" } ?? "judge backend"
        if error.code.isConnectionFailure || error.code == .targetDown || error.code == .timeout {
            return "\(name) unreachable: \(error.message)"
        }
        return "\(name) call failed: \(error.description)"
    }

    /// Folds votes into one score: the mean of the readable votes; usage and cost summed.
    static func combine(_ votes: [Vote], scale: JudgeScale, backendName: String? = nil) -> MetricScore {
        let usage = votes.reduce(Usage.zero) { $0 + $1.usage }
        let costs = votes.compactMap(\.costUSD)
        let cost = costs.isEmpty ? nil : costs.reduce(0, +)
        let readable = votes.compactMap(\.verdict)
        var details: [String: JSONValue] = [
            "judgeCalls": .int(votes.count + votes.filter(\.retried).count),
            "repaired": .int(readable.filter(\.repaired).count),
            "retried": .int(votes.filter(\.retried).count),
        ]
        guard !readable.isEmpty else {
            let last = votes.last
            if let error = votes.compactMap(\.callError).last, votes.allSatisfy({ $0.callError != nil }) {
                // No output at all: the judge is out, not unreadable.
                details["errorCode"] = .string(error.code.rawValue)
                var result = MetricScore.unmeasured(callFailure(error, backendName: backendName), details: details)
                result.usage = usage
                result.costUSD = cost
                return result
            }
            details["rawExcerpt"] = .string(last?.rawExcerpt ?? "")
            var result = MetricScore.unmeasured(
                "judge output unreadable after retry: \(last?.failure ?? "no verdict") — raw: '\(last?.rawExcerpt ?? "")'",
                details: details)
            result.usage = usage
            result.costUSD = cost
            return result
        }
        let normalised = readable.map { min(1, max(0, scale.normalise($0.raw))) }
        let mean = normalised.reduce(0, +) / Double(normalised.count)
        details["rawScores"] = .array(readable.map { .double($0.raw) })
        if readable.count < votes.count { details["unreadableVotes"] = .int(votes.count - readable.count) }
        // The reason of the vote closest to the mean speaks for the verdict.
        let spokesman = zip(readable, normalised).min { abs($0.1 - mean) < abs($1.1 - mean) }!.0
        details.merge(spokesman.details ?? [:]) { current, _ in current }
        return MetricScore(
            score: mean, reason: spokesman.reason, votes: votes.count > 1 ? normalised : nil, usage: usage, costUSD: cost,
            details: details)
    }

    /// One verdict: ask, parse (with repair), and on failure ask once more with the error as a hint.
    func vote(system: String, user: String, label: String, index: Int, format: JudgeAnswerFormat) async throws -> Vote {
        var messages: [Message] = [.system(system + "\n\n" + format.instruction), .user(user)]
        var usage = Usage.zero
        var cost: Double?
        var lastFailure = ""
        var lastRaw = ""
        for attempt in 0..<2 {
            let response: ChatResponse
            do {
                response = try await backend.send(request(messages, label: label, index: index, attempt: attempt, format: format))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let wrapped = ChatbotTesterError.wrap(error)
                return Vote(
                    verdict: nil, failure: Self.callFailure(wrapped, backendName: backendName), rawExcerpt: "", callError: wrapped,
                    retried: attempt > 0, usage: usage, costUSD: cost)
            }
            usage += response.usage ?? .zero
            if let c = response.costUSD { cost = (cost ?? 0) + c }
            lastRaw = excerpt(response.content, limit: 200)
            switch format.read(response.content) {
            case .success(var verdict):
                verdict.repaired = verdict.repaired || attempt > 0
                return Vote(verdict: verdict, failure: nil, rawExcerpt: lastRaw, retried: attempt > 0, usage: usage, costUSD: cost)
            case .failure(let failure):
                lastFailure = failure.message
                messages.append(.assistant(response.content))
                messages.append(.user("Your previous answer could not be used: \(failure.message). \(format.retryHint)"))
            }
        }
        return Vote(verdict: nil, failure: lastFailure, rawExcerpt: lastRaw, retried: true, usage: usage, costUSD: cost)
    }

    func request(_ messages: [Message], label: String, index: Int, attempt: Int, format: JudgeAnswerFormat) -> ChatRequest {
        ChatRequest(
            messages: messages, model: model, temperature: temperature, maxTokens: maxTokens,
            seed: votes > 1 ? index : nil,
            responseFormat: structuredOutput ? .jsonSchema(name: format.schemaName, schema: format.schema) : .text,
            tags: ["purpose": "judge", "judge": label, "vote": String(index), "attempt": String(attempt)])
    }
}

extension LLMJudge {
    /// Option specs shared by every judge metric.
    static let optionSpecs: [OptionSpec] = [
        OptionSpec("backend", .string, required: true, "the chat backend instance that judges"),
        OptionSpec("votes", .integer, default: "1", "independent verdicts per sample (mean is the score)"),
        OptionSpec("scale", .array, default: "[1, 5]", "the judge's score range [min, max]; normalised to [0, 1]"),
        OptionSpec("temperature", .number, "judge sampling temperature"),
        OptionSpec("model", .string, "override the backend's model"),
        OptionSpec("maxTokens", .integer, "judge reply token limit"),
        OptionSpec("structuredOutput", .bool, default: "true", "request a JSON-schema response format"),
    ]

    /// Builds a judge from a metric's options, taking the backend from the context's `BackendSet`.
    static func make(_ options: ComponentOptions, _ context: ComponentContext) async throws -> LLMJudge {
        let backend = try await resolveBackend(options, context) { try await $0.chat($1) }
        var scale = JudgeScale()
        if let value = options["scale"], !value.isNull {
            guard let pair = value.arrayValue, pair.count == 2, let lo = pair[0].doubleValue, let hi = pair[1].doubleValue, lo < hi else {
                throw options.invalid("scale", "expected [min, max] with min < max, e.g. [1, 5]")
            }
            scale = JudgeScale(min: lo, max: hi)
        }
        let votes = try options.int("votes") ?? 1
        guard (1...25).contains(votes) else { throw options.invalid("votes", "'votes' must be between 1 and 25") }
        return LLMJudge(
            backend: backend, scale: scale, votes: votes, temperature: try options.double("temperature"),
            model: try options.string("model"), maxTokens: try options.int("maxTokens"),
            structuredOutput: try options.bool("structuredOutput") ?? true, backendName: try options.string("backend"))
    }
}
