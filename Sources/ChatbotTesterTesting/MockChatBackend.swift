import ChatbotTesterCore

/// A scriptable `ChatBackend` for tests: replies from a script or a closure, records every request,
/// throws the errors you give it, and counts calls in flight (current and maximum).
///
/// ```swift
/// let bot = MockChatBackend(script: [.error(.rateLimited(retryAfter: 2)), .text("Hello!")])
/// let reply = try await bot.send(ChatRequest(messages: [.user("Hi")]))
/// #expect(bot.callCount == 2)
/// ```
///
/// With `gated: true`, calls wait inside the backend until `open()` (or `release(_:)`), so a test can
/// hold N calls in flight and check a concurrency bound without timing anything.
public final class MockChatBackend: ChatBackend {
    /// One scripted step.
    public enum Step: Sendable {
        /// Reply with this text (usage: words in the prompt and in the reply).
        case text(String)
        /// Reply with this exact response.
        case response(ChatResponse)
        /// Throw this error.
        case fail(ChatbotTesterError)
        /// Wait until the calling task is cancelled, then throw `CancellationError` (a hung server).
        case hang

        /// A rate-limit error (HTTP 429) with an optional Retry-After.
        public static func rateLimited(retryAfter: Double? = nil) -> Step {
            .fail(ChatbotTesterError(.httpStatus, "rate limited", status: 429, retry: .rateLimited(retryAfter: retryAfter)))
        }

        /// A transient server error (HTTP 500).
        public static var serverError: Step {
            .fail(ChatbotTesterError(.httpStatus, "internal server error", status: 500, retry: .transient))
        }

        /// A non-retryable client error (HTTP 400).
        public static var badRequest: Step {
            .fail(ChatbotTesterError(.httpStatus, "bad request", status: 400, retry: .no))
        }
    }

    private struct State {
        var script: [Step]
        var requests: [ChatRequest] = []
        var inFlight = 0
        var maxInFlight = 0
        var gateOpen: Bool
        var permits = 0
        var gated: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Locked<State>
    private let handler: (@Sendable (ChatRequest, Int) async throws -> ChatResponse)?
    private let inFlightWaiters = CountWaiters()
    private let callWaiters = CountWaiters()
    /// The model name put on replies.
    public let model: String

    /// Replies with the script's steps in order; once it runs out, echoes the last user message.
    public init(script: [Step] = [], model: String = "mock-model", gated: Bool = false) {
        self.state = Locked(State(script: script, gateOpen: !gated))
        self.handler = nil
        self.model = model
    }

    /// Replies with `handler(request, callIndex)` (0-based), after any scripted steps.
    public init(
        script: [Step] = [], model: String = "mock-model", gated: Bool = false,
        handler: @escaping @Sendable (ChatRequest, Int) async throws -> ChatResponse
    ) {
        self.state = Locked(State(script: script, gateOpen: !gated))
        self.handler = handler
        self.model = model
    }

    /// Every request received, in order.
    public var requests: [ChatRequest] { state.withLock { $0.requests } }
    /// How many calls were made.
    public var callCount: Int { state.withLock { $0.requests.count } }
    /// Calls inside `send` now.
    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// The most calls that were inside `send` at once.
    public var maxInFlight: Int { state.withLock { $0.maxInFlight } }

    /// Adds steps to the end of the script.
    public func enqueue(_ steps: Step...) {
        state.withLock { $0.script.append(contentsOf: steps) }
    }

    /// Lets every gated call (now and later) through.
    public func open() {
        let waiting = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.gateOpen = true
            defer { s.gated.removeAll() }
            return s.gated
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Lets `count` gated calls through (waiting ones first, then future ones).
    public func release(_ count: Int) {
        let waiting = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            let now = Array(s.gated.prefix(count))
            s.gated.removeFirst(now.count)
            s.permits += count - now.count
            return now
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once `count` calls are inside `send` at the same time.
    public func waitForInFlight(_ count: Int) async {
        await inFlightWaiters.wait(until: count) { [state] in state.withLock { $0.inFlight } }
    }

    /// Returns once `count` calls have been made in total.
    public func waitForCalls(_ count: Int) async {
        await callWaiters.wait(until: count) { [state] in state.withLock { $0.requests.count } }
    }

    public func send(_ request: ChatRequest) async throws -> ChatResponse {
        let (index, step, inFlight) = state.withLock { s -> (Int, Step?, Int) in
            s.requests.append(request)
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            let step = s.script.isEmpty ? nil : s.script.removeFirst()
            return (s.requests.count - 1, step, s.inFlight)
        }
        inFlightWaiters.notify(inFlight)
        callWaiters.notify(index + 1)
        defer { state.withLock { $0.inFlight -= 1 } }
        await passGate()
        switch step {
        case .text(let text)?: return reply(text, to: request)
        case .response(let response)?: return response
        case .fail(let error)?: throw error
        case .hang?:
            await Self.suspendUntilCancelled()
            throw CancellationError()
        case nil:
            if let handler { return try await handler(request, index) }
            let last = request.messages.last(where: { $0.role == .user })?.content ?? ""
            return reply("mock reply to: \(last)", to: request)
        }
    }

    /// A reply with deterministic usage: one token per word of the prompt and of the reply.
    public func reply(_ text: String, to request: ChatRequest) -> ChatResponse {
        let prompt = request.messages.reduce(0) { $0 + $1.content.split(separator: " ").count }
        return ChatResponse(
            content: text, finishReason: "stop",
            usage: Usage(promptTokens: prompt, completionTokens: text.split(separator: " ").count),
            latencyMs: 1, model: request.model ?? model)
    }

    private static func suspendUntilCancelled() async {
        // A cancel before the park is a pending wake: the park then returns at once.
        let parked = Locked(ParkingSlot())
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: ParkingSlot.Waiter) in
                parked.withLock { $0.park(waiter) }?.resume()
            }
        } onCancel: {
            parked.withLock { $0.wake() }?.resume()
        }
    }

    private func passGate() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let pass = state.withLock { s -> Bool in
                if s.gateOpen { return true }
                if s.permits > 0 {
                    s.permits -= 1
                    return true
                }
                s.gated.append(continuation)
                return false
            }
            if pass { continuation.resume() }
        }
    }
}
