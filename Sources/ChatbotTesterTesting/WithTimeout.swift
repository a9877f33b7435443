import ChatbotTesterCore

/// Fails the test instead of hanging when `body` takes longer than `seconds`.
public func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw ChatbotTesterError(.timeout, "test step did not finish within \(seconds) s")
        }
        group.cancelAll()
        return value
    }
}
