import ChatbotTesterCore
import Testing

/// `OneShot` and `OneShotSlot`: an outcome set once, awaited by any number of tasks before and
/// after it is set; later sets refused; waiting not cancellable.
@Suite struct OneShotTests {
    struct Refused: Error, Equatable {
        var code: Int
    }

    /// Waits (yielding) until `count` tasks wait on `shot`.
    static func untilWaiting(_ count: Int, on shot: OneShot<some Sendable, some Error>) async {
        while shot.waitingCount < count { await Task.yield() }
    }

    @Test func deliversToTasksThatWaitedBeforeAndCameAfter() async {
        let shot = OneShot<Int, Never>()
        let early = (0..<5).map { _ in Task { await shot.value() } }
        await Self.untilWaiting(5, on: shot)
        #expect(shot.outcome == nil)
        #expect(shot.set(.success(42)))
        #expect(shot.waitingCount == 0)
        for task in early { #expect(await task.value == 42) }
        // Late: at once.
        #expect(await shot.value() == 42)
        guard case .success(42)? = shot.outcome else {
            Issue.record("the outcome is not kept")
            return
        }
    }

    @Test func deliversAnError() async {
        let shot = OneShot<Int, any Error>()
        let early = Task { try await shot.value() }
        await Self.untilWaiting(1, on: shot)
        shot.set(.failure(Refused(code: 7)))
        await #expect(throws: Refused(code: 7)) { try await early.value }
        await #expect(throws: Refused(code: 7)) { try await shot.value() }
        guard case .failure(let error) = await shot.result() else {
            Issue.record("expected the failure")
            return
        }
        #expect(error as? Refused == Refused(code: 7))
    }

    @Test func aSecondSetIsRefusedAndChangesNothing() async throws {
        let shot = OneShot<String, any Error>()
        #expect(shot.set(.success("first")))
        #expect(!shot.set(.success("second")))
        #expect(!shot.set(.failure(Refused(code: 1))))
        #expect(try await shot.value() == "first")

        var slot = OneShotSlot<String, Never>()
        #expect(slot.set(.success("first")) != nil)
        #expect(slot.set(.success("second")) == nil)
        #expect(slot.value == "first")
    }

    /// Waiting is not cancellable: a cancelled waiter still gets the outcome, not a cancellation.
    @Test func aCancelledWaiterKeepsWaitingForTheOutcome() async throws {
        let shot = OneShot<Int, any Error>()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await shot.value()
        }
        await Self.untilWaiting(1, on: shot)
        #expect(waiter.isCancelled)
        shot.set(.success(3))
        #expect(try await waiter.value == 3)
    }

    @Test func theSlotKeepsWaitersUntilSetThenAnswersAtOnce() async {
        let slot = Locked(OneShotSlot<Int, Never>())
        @Sendable func wait() async -> Int {
            await withCheckedContinuation { (waiter: OneShotSlot<Int, Never>.Waiter) in
                if let now = slot.withLock({ $0.wait(waiter) }) { waiter.resume(returning: now) }
            }.get()
        }
        let early = (0..<4).map { _ in Task { await wait() } }
        while slot.withLock({ $0.waitingCount }) < 4 { await Task.yield() }
        #expect(!slot.current.isSet)
        guard let delivery = slot.withLock({ $0.set(.success(100)) }) else {
            Issue.record("the first set was refused")
            return
        }
        // Handed back to be resumed outside the lock, each once.
        #expect(delivery.waiters.count == 4)
        #expect(slot.withLock { $0.waitingCount } == 0)
        delivery.resume()
        for task in early { #expect(await task.value == 100) }
        #expect(await wait() == 100)
        #expect(slot.withLock { $0.waitingCount } == 0)
    }

    @Test func manyConcurrentWaitersAllGetTheOutcome() async {
        let shot = OneShot<Int, Never>()
        let waiters = 500
        let total = await withTaskGroup(of: Int.self) { group in
            for index in 0..<waiters {
                group.addTask { await shot.value() }
                if index == waiters / 2 { group.addTask { shot.set(.success(1)) ? 0 : -1_000_000 } }
            }
            var sum = 0
            for await value in group { sum += value }
            return sum
        }
        #expect(total == waiters)
    }
}
