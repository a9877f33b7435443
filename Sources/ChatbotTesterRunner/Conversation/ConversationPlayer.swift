import ChatbotTesterCore
import Foundation

/// Finds the backend that plays simulated users: given the scenario's `simulator` name, or the
/// run's default when the scenario names none (`nil` when neither is set).
public typealias SimulatorResolver = @Sendable (_ name: String?) async throws -> any ChatBackend

/// Plays one test case against the target and returns its record. Never throws: a failure becomes
/// a record with `status: error`, the transcript so far and the error.
public struct ConversationPlayer: Sendable {
    public let target: any ChatBackend
    public let targetName: String
    public let options: RunnerOptions
    public let simulators: SimulatorResolver?

    public init(target: any ChatBackend, targetName: String, options: RunnerOptions, simulators: SimulatorResolver?) {
        self.target = target
        self.targetName = targetName
        self.options = options
        self.simulators = simulators
    }

    /// Plays `sample`: a single prompt, a scripted conversation or a simulated-user scenario.
    public func play(_ sample: TestSample) async -> RunRecord {
        let startedAt = Date()
        var log = ConversationLog()
        if let system = sample.system ?? options.systemPrompt { log.transcript.append(.system(system)) }
        do {
            let stopReason: String
            if let scenario = sample.scenario {
                stopReason = try await playSimulated(sample, scenario: scenario, log: &log)
            } else {
                for turn in sample.userTurns {
                    log.transcript.append(.user(turn))
                    try await sendToTarget(sample, log: &log)
                }
                stopReason = SimulatedUserProtocol.completed
            }
            return log.record(sample: sample, target: targetName, stopReason: stopReason, error: nil, startedAt: startedAt)
        } catch {
            return log.record(sample: sample, target: targetName, stopReason: nil, error: error, startedAt: startedAt)
        }
    }

    /// Sends the whole transcript to the target and appends its reply.
    private func sendToTarget(_ sample: TestSample, log: inout ConversationLog) async throws {
        try Task.checkCancellation()
        let request = ChatRequest(
            messages: log.transcript, temperature: options.temperature, maxTokens: options.maxTokens,
            session: log.targetSession, tags: ["sampleId": sample.id, "purpose": "target"])
        let clock = ContinuousClock()
        let start = clock.now
        let tally = AttemptTally()
        let response: ChatResponse
        do {
            response = try await AttemptTally.$current.withValue(tally) { try await target.send(request) }
        } catch {
            // The failed turn still took time and attempts: the record says so.
            if !(error is CancellationError) {
                log.recordFailedTarget(attempts: max(1, tally.count), measuredMs: (clock.now - start).milliseconds)
            }
            throw error
        }
        log.recordTarget(response, measuredMs: (clock.now - start).milliseconds)
    }

    private func playSimulated(_ sample: TestSample, scenario: Scenario, log: inout ConversationLog) async throws -> String {
        let limit = min(scenario.maxTurns, options.maxTurns ?? scenario.maxTurns)
        guard let simulators else {
            throw ChatbotTesterError(
                .invalidConfig, "sample '\(sample.id)' has a scenario but the run has no simulator backend",
                location: SourceLocation(field: "run.simulator"))
        }
        let simulator = try await simulators(scenario.simulator ?? options.simulator)
        var userTurns = 0
        var next: String
        if let opening = scenario.openingMessage {
            next = opening
        } else {
            // Nothing can be reached before the first message: `done` only counts when there is none.
            let turn = try await askSimulator(simulator, sample: sample, scenario: scenario, log: &log)
            if turn.done, turn.message.isEmpty { return turn.reason ?? SimulatedUserProtocol.gaveUp }
            next = turn.message
        }
        while true {
            log.transcript.append(.user(next))
            userTurns += 1
            try await sendToTarget(sample, log: &log)
            if userTurns >= limit { return SimulatedUserProtocol.maxTurns }
            let turn = try await askSimulator(simulator, sample: sample, scenario: scenario, log: &log)
            if turn.done { return turn.reason ?? SimulatedUserProtocol.goalReached }
            next = turn.message
        }
    }

    private func askSimulator(
        _ simulator: any ChatBackend, sample: TestSample, scenario: Scenario, log: inout ConversationLog
    ) async throws -> SimulatorTurn {
        try Task.checkCancellation()
        let request = ChatRequest(
            messages: SimulatedUserProtocol.simulatorMessages(for: scenario, transcript: log.transcript),
            responseFormat: SimulatedUserProtocol.responseFormat, session: log.simulatorSession,
            tags: ["sampleId": sample.id, "purpose": "simulator"])
        let response = try await simulator.send(request)
        log.recordSimulator(response)
        let turn = SimulatedUserProtocol.parse(response.content)
        if !turn.done, turn.message.isEmpty {
            throw ChatbotTesterError(
                .badResponse, "the simulated user returned an empty message",
                bodyExcerpt: String(response.content.prefix(200)))
        }
        return turn
    }
}

extension Duration {
    /// The duration in milliseconds.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
