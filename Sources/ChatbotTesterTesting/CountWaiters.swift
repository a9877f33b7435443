import ChatbotTesterCore

/// Waiters for "a counter reached N", shared by the recording helpers of this module.
final class CountWaiters: Sendable {
    private let waiters = Locked<[(target: Int, continuation: CheckedContinuation<Void, Never>)]>([])

    /// Suspends until `current()` is at least `target`; `current` is read under the same lock as `notify`.
    func wait(until target: Int, current: @Sendable () -> Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = waiters.withLock { list -> Bool in
                if current() >= target { return true }
                list.append((target, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Wakes the waiters whose target `value` meets.
    func notify(_ value: Int) {
        let ready = waiters.withLock { list -> [CheckedContinuation<Void, Never>] in
            let ready = list.filter { $0.target <= value }.map(\.continuation)
            list.removeAll { $0.target <= value }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}
