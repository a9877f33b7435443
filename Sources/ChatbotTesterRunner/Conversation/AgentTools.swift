import ChatbotTesterCore
import Foundation

/// Finds a tool executor backend (an `http` / `exec` instance) by name.
public typealias ToolExecutorResolver = @Sendable (_ name: String) async throws -> any ChatBackend

/// The tools of one case: the run's defaults merged with the case's own, the tool choice and the
/// agent loop bound, and how each call is answered.
struct AgentTools {
    /// The tools offered, defaults first (minus those a case tool of the same name replaces).
    let specs: [ToolSpec]
    let byName: [String: ToolSpec]
    let choice: ToolChoice?
    /// Calls to the target per user turn while it keeps calling tools.
    let maxSteps: Int

    init(sample: TestSample, options: RunnerOptions) {
        let own = sample.tools ?? []
        let ownNames = Set(own.map(\.name))
        specs = (options.tools ?? []).filter { !ownNames.contains($0.name) } + own
        byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        choice = sample.toolChoice ?? options.toolChoice
        maxSteps = sample.maxSteps ?? options.maxSteps ?? RunnerOptions.defaultMaxSteps
    }

    /// Whether the runner offers tools (and so answers tool calls). Without tools, calls a bot
    /// reports (an agent running its own tools) are recorded and the turn ends.
    var offered: Bool { !specs.isEmpty }

    /// The definitions sent with each request.
    var definitions: [ToolDefinition] { specs.map(\.definition) }

    /// The tool choice for the `step`-th call (0-based) of a user turn: a forced choice
    /// (`required`, `{tool}`) applies to the first call only, then the model is free (`auto`),
    /// or it could never stop calling tools.
    func choice(forStep step: Int) -> ToolChoice? {
        guard step > 0, let choice else { return choice }
        switch choice {
        case .required, .tool: return .auto
        case .auto, .none: return choice
        }
    }

    /// The request sent to an executor for `call`: one user message holding
    /// `{"id", "name", "arguments"}` as compact JSON.
    static func executorRequest(_ call: ToolCall, sampleId: String) -> ChatRequest {
        let payload: JSONValue = ["id": .string(call.id), "name": .string(call.name), "arguments": call.arguments]
        return ChatRequest(
            messages: [.user(payload.compactText)], tags: ["sampleId": sampleId, "purpose": "tool", "tool": call.name])
    }
}
