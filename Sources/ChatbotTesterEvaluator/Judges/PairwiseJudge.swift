import ChatbotTesterCore
import Foundation

/// Compares two runs of the same sample (baseline A, candidate B) with a chat model, asking in both
/// orders — A first, then B first — so the judge's position bias cancels out.
///
/// Each order gives a winner; B's score is the mean over orders of 1 (B better), 0.5 (tie) or
/// 0 (A better). When the two orders disagree the verdict is a tie and `positionConsistent` is false.
public struct PairwiseJudge: Sendable {
    public let backend: any ChatBackend
    /// What "better" means; default: more helpful, correct and appropriate.
    public var criteria: String
    public var temperature: Double?
    public var model: String?
    public var structuredOutput: Bool
    /// The judge backend's instance name, for messages (`judge backend 'judge' unreachable: …`).
    public var backendName: String?

    public init(
        backend: any ChatBackend, criteria: String? = nil, temperature: Double? = nil, model: String? = nil, structuredOutput: Bool = true,
        backendName: String? = nil
    ) {
        self.backend = backend
        self.backendName = backendName
        self.criteria = criteria ?? "Which reply better serves the user: more helpful, correct, complete and appropriate?"
        self.temperature = temperature
        self.model = model
        self.structuredOutput = structuredOutput
    }

    /// Builds a judge from a spec such as `{type: pairwise, backend: judge, criteria: "..."}`,
    /// taking the backend by name from the `BackendSet`.
    public init(spec: ComponentSpec, backends: BackendSet) async throws {
        let context = ComponentContext(instanceName: "pairwise", section: "compare", backends: backends)
        let options = ComponentOptions(spec.options, context: context)
        self.init(
            backend: try await resolveBackend(options, context) { try await $0.chat($1) }, criteria: try options.string("criteria"),
            temperature: try options.double("temperature"), model: try options.string("model"),
            structuredOutput: try options.bool("structuredOutput") ?? true, backendName: try options.string("backend"))
    }

    public enum Winner: String, Sendable, Hashable, Codable { case a, b, tie }

    /// The verdict on one pair.
    public struct Verdict: Sendable, Hashable, Codable {
        public var sampleId: String
        /// The overall winner (a tie when the orders disagree).
        public var winner: Winner?
        /// B's preference in [0, 1] (1: B better in both orders); `nil` when unmeasured.
        public var scoreB: Double?
        /// The winner of each order: `[A-first, B-first]`, mapped back to a/b.
        public var orderWinners: [Winner?]
        /// Both orders picked the same winner.
        public var positionConsistent: Bool
        public var reasons: [String]
        public var usage: Usage
        public var costUSD: Double?
        /// Why it could not be judged.
        public var error: String?

        /// As an `EvalRecord` (metric `pairwise`; score = candidate preference, passes at ≥ 0.5).
        public func evalRecord(metric: String = "pairwise", tags: [String] = []) -> EvalRecord {
            EvalRecord(
                sampleId: sampleId, metric: metric, type: "pairwise", status: scoreB == nil ? .unmeasured : .scored, score: scoreB,
                passed: scoreB.map { $0 >= 0.5 }, threshold: 0.5, reason: error ?? reasons.joined(separator: " | "),
                usage: usage, costUSD: costUSD, tags: tags,
                details: ["winner": winner.map { .string($0.rawValue) } ?? .null, "positionConsistent": .bool(positionConsistent)])
        }
    }

    static let schema: JSONValue = [
        "type": "object",
        "properties": ["winner": ["type": "string", "enum": ["1", "2", "tie"]], "reason": ["type": "string"]],
        "required": ["winner", "reason"], "additionalProperties": false,
    ]

    /// Judges `a` (baseline) against `b` (candidate) for the same sample, in both orders.
    public func compare(_ a: RunRecord, _ b: RunRecord) async throws -> Verdict {
        guard let replyA = a.reply, let replyB = b.reply else {
            return Verdict(
                sampleId: a.sampleId, winner: nil, scoreB: nil, orderWinners: [], positionConsistent: false, reasons: [], usage: .zero,
                costUSD: nil, error: "a run has no reply to compare")
        }
        async let first = ask(a, first: replyA, second: replyB)
        async let second = ask(a, first: replyB, second: replyA)
        let one: Answer, two: Answer
        do {
            (one, two) = try await (first, second)
        } catch let error as ChatbotTesterError {
            // A judge outage is reported as one, on the pair: unmeasured, not a failed comparison.
            return Verdict(
                sampleId: a.sampleId, winner: nil, scoreB: nil, orderWinners: [], positionConsistent: false, reasons: [], usage: .zero,
                costUSD: nil, error: LLMJudge.callFailure(error, backendName: backendName))
        }
        // Order 1 shows A as "1"; order 2 shows B as "1".
        let w1: Winner? = one.choice.map { $0 == "1" ? .a : ($0 == "2" ? .b : .tie) }
        let w2: Winner? = two.choice.map { $0 == "1" ? .b : ($0 == "2" ? .a : .tie) }
        let usage = one.usage + two.usage
        let costs = [one.cost, two.cost].compactMap { $0 }
        let cost = costs.isEmpty ? nil : costs.reduce(0, +)
        guard let w1, let w2 else {
            return Verdict(
                sampleId: a.sampleId, winner: nil, scoreB: nil, orderWinners: [w1, w2], positionConsistent: false,
                reasons: [one.reason, two.reason].compactMap { $0 }, usage: usage, costUSD: cost,
                error: "judge output unreadable: \(one.error ?? two.error ?? "")")
        }
        func points(_ w: Winner) -> Double { w == .b ? 1 : (w == .tie ? 0.5 : 0) }
        let consistent = w1 == w2
        return Verdict(
            sampleId: a.sampleId, winner: consistent ? w1 : .tie, scoreB: (points(w1) + points(w2)) / 2, orderWinners: [w1, w2],
            positionConsistent: consistent, reasons: [one.reason, two.reason].compactMap { $0 }, usage: usage, costUSD: cost, error: nil)
    }

    struct Answer {
        var choice: String?
        var reason: String?
        var usage: Usage
        var cost: Double?
        var error: String?
    }

    /// One order: parse `{winner: "1"|"2"|"tie", reason}` with repair, retrying once with a hint.
    func ask(_ run: RunRecord, first: String, second: String) async throws -> Answer {
        let system = """
            You are an impartial judge comparing two replies to the same conversation. \(criteria)
            Ignore the order in which the replies are shown and their length. Answer with only a JSON object: \
            {"winner": "1" | "2" | "tie", "reason": "<one sentence>"}.
            """
        var context = run.transcript.filter { $0.role != .system }
        if let last = context.last, last.role == .assistant { context.removeLast() }
        let user = """
            <conversation>
            \(context.map { "\($0.role.rawValue): \($0.content)" }.joined(separator: "\n"))
            </conversation>

            <reply_1>
            \(first)
            </reply_1>

            <reply_2>
            \(second)
            </reply_2>
            """
        var messages: [Message] = [.system(system), .user(user)]
        var answer = Answer(usage: .zero)
        for attempt in 0..<2 {
            let response = try await backend.send(
                ChatRequest(
                    messages: messages, model: model, temperature: temperature,
                    responseFormat: structuredOutput ? .jsonSchema(name: "pairwise_verdict", schema: Self.schema) : .text,
                    tags: ["purpose": "judge", "judge": "pairwise", "attempt": String(attempt)]))
            answer.usage += response.usage ?? .zero
            if let c = response.costUSD { answer.cost = (answer.cost ?? 0) + c }
            if let object = try? JSONRepair.parse(response.content).get().value.objectValue {
                let raw = (object["winner"] ?? object["choice"]).map { $0.stringValue ?? $0.canonicalText }?.lowercased()
                    .trimmingCharacters(in: CharacterSet(charactersIn: " \"'"))
                let normalised = raw.map { $0.replacingOccurrences(of: "reply_", with: "").replacingOccurrences(of: "reply ", with: "") }
                if let choice = normalised, ["1", "2", "tie"].contains(choice) {
                    answer.choice = choice
                    answer.reason = object["reason"]?.stringValue
                    answer.error = nil
                    return answer
                }
            }
            answer.error = "expected {\"winner\": \"1\" | \"2\" | \"tie\"}, got '\(excerpt(response.content, limit: 120))'"
            messages.append(.assistant(response.content))
            messages.append(.user("That answer could not be used: \(answer.error!). Reply with only the JSON object."))
        }
        return answer
    }
}
