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
    /// Finds the backends that answer tool calls for `executor:` tools.
    public let toolExecutors: ToolExecutorResolver?

    /// The stop reason of an agent loop cut at `maxSteps`.
    public static let maxSteps = "max_steps"

    public init(
        target: any ChatBackend, targetName: String, options: RunnerOptions, simulators: SimulatorResolver?,
        toolExecutors: ToolExecutorResolver? = nil
    ) {
        self.target = target
        self.targetName = targetName
        self.options = options
        self.simulators = simulators
        self.toolExecutors = toolExecutors
    }

    /// Plays `sample`: a single prompt, a scripted conversation or a simulated-user scenario.
    public func play(_ sample: TestSample) async -> RunRecord {
        let startedAt = Date()
        var log = ConversationLog()
        if let system = sample.system ?? options.systemPrompt { log.transcript.append(.system(system)) }
        let tools = AgentTools(sample: sample, options: options)
        do {
            var stopReason = SimulatedUserProtocol.completed
            if let scenario = sample.scenario {
                stopReason = try await playSimulated(sample, scenario: scenario, tools: tools, log: &log)
            } else {
                for turn in sample.userTurns {
                    log.transcript.append(.user(turn))
                    guard try await respond(sample, tools: tools, log: &log) else {
                        stopReason = Self.maxSteps
                        break
                    }
                }
            }
            return log.record(sample: sample, target: targetName, stopReason: stopReason, error: nil, startedAt: startedAt)
        } catch {
            return log.record(sample: sample, target: targetName, stopReason: nil, error: error, startedAt: startedAt)
        }
    }

    /// The target's answer to the last user turn: the target is called; while it calls the tools
    /// the runner offers, each call is answered (one `.tool` message per call, in call order) and
    /// the target is called again, up to `maxSteps` calls. Returns false when the loop was cut
    /// there (the last reply's calls stay unanswered).
    private func respond(_ sample: TestSample, tools: AgentTools, log: inout ConversationLog) async throws -> Bool {
        var step = 0
        while true {
            let calls = try await sendToTarget(sample, tools: tools, step: step, log: &log)
            step += 1
            guard tools.offered, !calls.isEmpty else { return true }
            guard step < tools.maxSteps else { return false }
            for call in calls {
                let outcome = try await answer(call, sample: sample, tools: tools, log: &log)
                log.transcript.append(.tool(callId: call.id, name: call.name, content: outcome.content, isError: outcome.isError))
            }
        }
    }

    /// The result of one tool call: fixed, matched on the arguments, from the executor backend,
    /// or an error result for a tool the runner did not offer.
    private func answer(_ call: ToolCall, sample: TestSample, tools: AgentTools, log: inout ConversationLog) async throws -> ToolOutcome {
        guard let spec = tools.byName[call.name] else {
            return .error("unknown tool '\(call.name)' (offered: \(tools.specs.map(\.name).joined(separator: ", ")))")
        }
        if let outcome = spec.fixedOutcome(for: call.arguments) { return outcome }
        guard case .executor(let name) = spec.answer else { return .error("tool '\(call.name)' has no answer") }
        guard let toolExecutors else {
            throw ChatbotTesterError(
                .invalidConfig, "tool '\(call.name)' names executor '\(name)' but the run has no tool executors",
                location: SourceLocation(field: "tools.executor"))
        }
        try Task.checkCancellation()
        let executor = try await toolExecutors(name)
        let response = try await executor.send(AgentTools.executorRequest(call, sampleId: sample.id))
        log.recordToolExecutor(response)
        return .result(.string(response.content))
    }

    /// Sends the whole transcript to the target, appends its reply and returns the tools it calls.
    private func sendToTarget(_ sample: TestSample, tools: AgentTools, step: Int, log: inout ConversationLog) async throws -> [ToolCall] {
        try Task.checkCancellation()
        let request = ChatRequest(
            messages: log.transcript, temperature: options.temperature, maxTokens: options.maxTokens,
            session: log.targetSession, tags: ["sampleId": sample.id, "purpose": "target"], tools: tools.definitions,
            toolChoice: tools.offered ? tools.choice(forStep: step) : nil)
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
        return response.toolCalls
    }

    private func playSimulated(
        _ sample: TestSample, scenario: Scenario, tools: AgentTools, log: inout ConversationLog
    ) async throws -> String {
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
            guard try await respond(sample, tools: tools, log: &log) else { return Self.maxSteps }
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
