import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct TestingProductTests {
    @Test func mockBackendScriptsRecordsAndEchoes() async throws {
        let mock = MockChatBackend(script: [.text("first"), .badRequest])
        #expect(try await mock.send(.user("a")).content == "first")
        await #expect(throws: ChatbotTesterError.self) { try await mock.send(.user("b")) }
        let echo = try await mock.send(ChatRequest(messages: [.system("s"), .user("hello world")], model: "m9"))
        #expect(echo.content == "mock reply to: hello world")
        #expect(echo.model == "m9")
        #expect(echo.usage == Usage(promptTokens: 3, completionTokens: 5))
        #expect(mock.requests.map { $0.messages.last!.content } == ["a", "b", "hello world"])
        mock.enqueue(.text("later"))
        #expect(try await mock.send(.user("c")).content == "later")
    }

    @Test func mockBackendHandlerGetsTheCallIndex() async throws {
        let mock = MockChatBackend(script: [.text("scripted")]) { request, index in
            ChatResponse(content: "call \(index)")
        }
        #expect(try await mock.send(.user("x")).content == "scripted")
        #expect(try await mock.send(.user("x")).content == "call 1")
    }

    @Test func gateReleasesOneByOne() async throws {
        let mock = MockChatBackend(gated: true)
        let calls = (0..<3).map { i in Task { try await mock.send(.user("\(i)")) } }
        await mock.waitForInFlight(3)
        mock.release(1)
        await mock.waitForCalls(3)
        while mock.inFlight > 2 { await Task.yield() }
        #expect(mock.inFlight == 2)
        mock.open()
        for call in calls { _ = try await call.value }
        #expect(mock.maxInFlight == 3)
        #expect(mock.inFlight == 0)
    }

    @Test func mockEmbeddingsAreDeterministicUnitVectors() async throws {
        let embedder = MockEmbeddingBackend(dimensions: 40)
        let a = try await embedder.embed(["alpha", "beta", "alpha"])
        #expect(a.vectors[0] == a.vectors[2])
        #expect(a.vectors[0] != a.vectors[1])
        #expect(a.vectors.allSatisfy { $0.count == 40 })
        #expect(abs(a.vectors[1].reduce(0) { $0 + $1 * $1 } - 1) < 1e-9)
        #expect(try await MockEmbeddingBackend(dimensions: 40).embed(["alpha"]).vectors[0] == a.vectors[0])
    }

    @Test func recordingSinkWaitsAndFilters() async throws {
        let bus = EventBus()
        let recorder = RecordingEventSink()
        bus.subscribe(recorder)
        let emitter = Task {
            for i in 0..<5 { bus.emit(LogEvent(.info, "m\(i)")) }
            bus.emit(BackendConcurrencyEvent(backend: "b", limit: 2, reason: "rate_limited"))
        }
        try await recorder.waitFor(count: 1, of: BackendConcurrencyEvent.self)
        try await recorder.waitFor(count: 6)
        await emitter.value
        #expect(recorder.events(of: LogEvent.self).map(\.message) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(recorder.count(kind: "log") == 5)
        #expect(recorder.kinds.last == "backend.concurrency")
        await bus.shutdown()
        #expect(recorder.isFinished)
    }

    @Test func virtualClockManualMode() async throws {
        let clock = VirtualClock(autoAdvance: false)
        let sleeper = Task { try await clock.sleep(seconds: 10) }
        await clock.waitForSleepers(1)
        clock.advance(by: 9.5)
        #expect(clock.pendingSleepers == 1)
        clock.advance(by: 0.5)
        try await sleeper.value
        #expect(clock.now() == 10)
        #expect(clock.sleeps == [10])
    }
}

@Suite struct CodeWrappingTests {
    @Test func wrapABackendMadeInCode() async throws {
        let mock = MockChatBackend(script: [.serverError, .text("ok")])
        let clock = VirtualClock()
        let bot = try BackendMiddleware.wrap(
            mock, name: "inline", options: MiddlewareOptions(retry: RetryPolicy(attempts: 2), concurrency: 2),
            environment: MiddlewareEnvironment(clock: clock, random: { 0 }))
        let reply = try await bot.send(.user("hi"))
        #expect(reply.attempts == 2)
        #expect(clock.sleeps == [0])
        #expect(throws: ChatbotTesterError.self) {
            try BackendMiddleware.wrap(mock, name: "inline", options: MiddlewareOptions(cache: .init()))
        }
    }
}

/// `.cpuBound` runs a test on a thread of its own, never on Swift's cooperative pool.
@Suite struct CPUBoundTraitTests {
    @Test(.cpuBound) func aCPUBoundTestRunsOnATestCPUThread() async {
        // The task's priorities go with a failure: session 30 saw this test run on a pool thread once,
        // after waiting ~100 s behind the other `.cpuBound` tests, and could not reproduce it.
        func context() -> String { "priority \(Task.currentPriority), base \(Task.basePriority.map { "\($0)" } ?? "none")" }
        #expect(DedicatedThreadExecutor.currentThreadName.hasPrefix("test-cpu-"), "\(context())")
        await Task.yield()
        #expect(DedicatedThreadExecutor.currentThreadName.hasPrefix("test-cpu-"), "a yield brought the test back to its own thread; \(context())")
    }

    @Test func anyOtherTestRunsOnThePool() async {
        #expect(!DedicatedThreadExecutor.currentThreadName.hasPrefix("test-cpu-"))
    }
}
