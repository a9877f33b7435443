import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct ConcurrencyTests {
    @Test func limiterStateIsFIFOAndRespectsTheLimit() {
        var state = ConcurrencyLimiterState(limit: 2)
        let granted = (1...5).map { state.acquire(UInt64($0)) }
        #expect(granted == [true, true, false, false, false])
        let cancelled = [state.cancel(4), state.cancel(4)]
        #expect(cancelled == [true, false])
        let released = [state.release(), state.release()]
        #expect(released == [[3], [5]])
        #expect(state.inFlight == 2)
        // Lowering the limit grants nothing until holders leave.
        let queued = state.acquire(6)
        #expect(!queued)
        let afterLowering = state.setLimit(1)
        let firstRelease = state.release()
        let secondRelease = state.release()
        #expect(afterLowering.isEmpty && firstRelease.isEmpty)
        #expect(secondRelease == [6])
        let afterRaising = state.setLimit(3)
        #expect(afterRaising.isEmpty)
        #expect(state.inFlight == 1)
    }

    @Test func poolNeverExceedsItsBound() async throws {
        let mock = MockChatBackend(gated: true)
        let bot = try await makeBot(["concurrency": 4], mock: mock, environment: MiddlewareEnvironment(clock: VirtualClock()))
        try await withThrowingTaskGroup(of: ChatResponse.self) { group in
            for i in 0..<40 { group.addTask { try await bot.send(.user("q\(i)")) } }
            await mock.waitForInFlight(4)
            // Four are inside and held there; nobody else gets in while they are.
            for _ in 0..<20 { await Task.yield() }
            #expect(mock.inFlight == 4)
            mock.open()
            for try await _ in group {}
        }
        #expect(mock.callCount == 40)
        #expect(mock.maxInFlight == 4)
    }

    @Test func limiterServesWaitersInArrivalOrder() async throws {
        let limiter = ConcurrencyLimiter(limit: 1)
        try await limiter.acquire()
        let order = Locked<[Int]>([])
        var tasks: [Task<Void, any Error>] = []
        for i in 0..<5 {
            tasks.append(Task {
                try await limiter.acquire()
                order.withLock { $0.append(i) }
                limiter.release()
            })
            // Each waiter queues before the next starts.
            while limiter.waiting < i + 1 { await Task.yield() }
        }
        limiter.release()
        for task in tasks { try await task.value }
        #expect(order.current == [0, 1, 2, 3, 4])
        #expect(limiter.inFlight == 0)
    }

    @Test func cancelledWaiterNeverHoldsASlot() async throws {
        let limiter = ConcurrencyLimiter(limit: 1)
        try await limiter.acquire()
        let waiter = Task { try await limiter.acquire() }
        while limiter.waiting < 1 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limiter.waiting == 0)
        limiter.release()
        #expect(limiter.inFlight == 0)
        // The slot is free for the next caller.
        try await limiter.acquire()
        #expect(limiter.inFlight == 1)
    }

    @Test func alreadyCancelledTaskDoesNotAcquire() async throws {
        let limiter = ConcurrencyLimiter(limit: 3)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await limiter.acquire()
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(limiter.inFlight == 0)
    }

    @Test func aimdCutsOncePerGenerationAndGrowsBack() {
        var aimd = AdaptiveConcurrency(minimum: 1, maximum: 16)
        #expect(aimd.limit == 16)
        let early = (0..<8).map { _ in aimd.start() }
        let firstCut = aimd.rateLimited(ticket: early[0])
        #expect(firstCut == 8)
        // Other calls of the same generation do not cut again.
        let sameGeneration = aimd.rateLimited(ticket: early[5])
        #expect(sameGeneration == nil)
        #expect(aimd.limit == 8)
        // A call started after the cut may cut again.
        let late = aimd.start()
        let secondCut = aimd.rateLimited(ticket: late)
        #expect(secondCut == 4)
        // Additive increase: about one per window of successes.
        var successes = 0
        while aimd.limit < 5 {
            _ = aimd.succeeded()
            successes += 1
        }
        #expect((4...5).contains(successes))
        for _ in 0..<1000 { _ = aimd.succeeded() }
        #expect(aimd.limit == 16)
        // Never below the minimum.
        for _ in 0..<10 { _ = aimd.rateLimited(ticket: aimd.start()) }
        #expect(aimd.limit == 1)
    }

    @Test func adaptivePoolCutsOn429AndNeverExceedsItsBound() async throws {
        // Every call sees a 429 first, then succeeds on retry.
        let counter = Locked(0)
        let mock = MockChatBackend { request, index in
            let n = counter.withLock { value -> Int in
                value += 1
                return value
            }
            if n <= 8 { throw ChatbotTesterError(.httpStatus, "slow down", status: 429, retry: .rateLimited(retryAfter: 0)) }
            return ChatResponse(content: "ok")
        }
        let events = EventBus()
        let recorder = RecordingEventSink()
        events.subscribe(recorder)
        let bot = try await makeBot(
            ["concurrency": 8, "adaptiveConcurrency": true, "retry": 10], mock: mock,
            environment: MiddlewareEnvironment(clock: VirtualClock()), events: events)
        try await withThrowingTaskGroup(of: ChatResponse.self) { group in
            for i in 0..<64 { group.addTask { try await bot.send(.user("q\(i)")) } }
            for try await reply in group { #expect(reply.content == "ok") }
        }
        await events.shutdown()
        #expect(mock.maxInFlight <= 8)
        let changes = recorder.events(of: BackendConcurrencyEvent.self)
        #expect(changes.contains { $0.reason == "rate_limited" && $0.limit < 8 })
        let stack = try #require((bot as? any MiddlewareBackend)?.middleware)
        #expect(stack.limiter!.inFlight == 0)
        #expect(stack.limiter!.limit <= 8)
    }
}
