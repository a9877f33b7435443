import ChatbotTesterCore
import Foundation

/// What one conversation has accumulated so far; becomes the `RunRecord`.
struct ConversationLog {
    var transcript: [Message] = []
    var turns: [TurnRecord] = []
    var usage = Usage.zero
    var simulatorUsage: Usage?
    var cost: Double?
    var latencyMs: Double = 0
    var attempts = 0
    var targetSession: JSONValue?
    var simulatorSession: JSONValue?

    /// Adds the chatbot's reply as an assistant turn.
    mutating func recordTarget(_ response: ChatResponse, measuredMs: Double) {
        let latency = response.latencyMs ?? measuredMs
        let usage = response.usage ?? .zero
        turns.append(
            TurnRecord(
                index: turns.count, latencyMs: latency, usage: usage, costUSD: response.costUSD,
                attempts: response.attempts, finishReason: response.finishReason,
                toolCalls: response.toolCalls.isEmpty ? nil : response.toolCalls, retrievedContexts: response.retrievedContexts,
                timeToFirstTokenMs: response.streaming?.timeToFirstTokenMs, tokensPerSecond: response.streaming?.tokensPerSecond))
        transcript.append(.assistant(response.content, toolCalls: response.toolCalls))
        self.usage += usage
        addCost(response.costUSD)
        latencyMs += latency
        attempts += response.attempts
        if let session = response.session { targetSession = session }
    }

    /// Counts a target call that failed: its attempts and the time spent on them (no turn is added).
    mutating func recordFailedTarget(attempts: Int, measuredMs: Double) {
        latencyMs += measuredMs
        self.attempts += attempts
    }

    /// Adds the simulator's usage and cost (its messages go in through `transcript`).
    mutating func recordSimulator(_ response: ChatResponse) {
        simulatorUsage = (simulatorUsage ?? .zero) + (response.usage ?? .zero)
        addCost(response.costUSD)
        if let session = response.session { simulatorSession = session }
    }

    /// Adds a tool executor's cost (its result goes in through `transcript`).
    mutating func recordToolExecutor(_ response: ChatResponse) {
        addCost(response.costUSD)
    }

    private mutating func addCost(_ value: Double?) {
        guard let value else { return }
        cost = (cost ?? 0) + value
    }

    func record(
        sample: TestSample, target: String, stopReason: String?, error: (any Error)?, startedAt: Date
    ) -> RunRecord {
        RunRecord(
            sample: sample, target: target, status: error == nil ? .ok : .error, transcript: transcript, turns: turns,
            usage: usage, simulatorUsage: simulatorUsage, costUSD: cost, latencyMs: latencyMs, attempts: attempts,
            stopReason: stopReason, error: error.map(ErrorInfo.init), startedAt: startedAt, finishedAt: Date()
        ).masked()  // a server may echo a key in a reply: masked before the record goes anywhere
    }
}
