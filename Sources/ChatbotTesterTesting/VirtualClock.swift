import ChatbotTesterCore

/// A `TesterClock` for tests: time moves only when a sleep or the test moves it, and every requested
/// sleep is recorded, so tests count and compare instead of waiting.
///
/// In `autoAdvance` mode (the default) a sleep returns at once and moves the clock forward by its
/// duration — right for sequential code such as retry backoff and rate limits. In manual mode a
/// sleep suspends until `advance(by:)` moves the clock past its deadline — right for timeouts and
/// races; `waitForSleepers(_:)` lets the test wait until the code under test is asleep.
public final class VirtualClock: TesterClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: Double
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Double
        var sleeps: [Double] = []
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
        var sleeperWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    public let autoAdvance: Bool
    private let state: Locked<State>

    public init(start: Double = 0, autoAdvance: Bool = true) {
        self.autoAdvance = autoAdvance
        self.state = Locked(State(now: start))
    }

    public func now() -> Double { state.withLock { $0.now } }

    /// Every sleep requested so far, in seconds, in order.
    public var sleeps: [Double] { state.withLock { $0.sleeps } }

    /// Sleeps currently suspended (manual mode).
    public var pendingSleepers: Int { state.withLock { $0.sleepers.count } }

    public func sleep(seconds: Double) async throws {
        try Task.checkCancellation()
        if autoAdvance {
            state.withLock { s in
                s.sleeps.append(seconds)
                s.now += max(0, seconds)
            }
            return
        }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, waiters) = state.withLock { s -> (Bool?, [CheckedContinuation<Void, Never>]) in
                    s.sleeps.append(seconds)
                    if Task.isCancelled { return (nil, []) }
                    if seconds <= 0 { return (true, []) }
                    s.sleepers.append(Sleeper(id: id, deadline: s.now + seconds, continuation: continuation))
                    return (false, Self.takeSatisfiedWaiters(&s))
                }
                for waiter in waiters { waiter.resume() }
                switch resumeNow {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: continuation.resume()
                case false?: break
                }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has passed.
    public func advance(by seconds: Double) {
        let due = state.withLock { s -> [Sleeper] in
            s.now += seconds
            let due = s.sleepers.filter { $0.deadline <= s.now }
            s.sleepers.removeAll { $0.deadline <= s.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once at least `count` sleeps are suspended (manual mode).
    public func waitForSleepers(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.sleepers.count >= count { return true }
                s.sleeperWaiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private static func takeSatisfiedWaiters(_ s: inout State) -> [CheckedContinuation<Void, Never>] {
        let count = s.sleepers.count
        let ready = s.sleeperWaiters.filter { $0.count <= count }.map(\.continuation)
        s.sleeperWaiters.removeAll { $0.count <= count }
        return ready
    }
}
