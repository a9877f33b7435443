/// Runs an operation against a deadline on an injected clock.
///
/// The operation and a timer race in unstructured tasks; whichever ends first decides, and the other
/// is cancelled. The caller gets its answer at the deadline even when the operation ignores
/// cancellation.
public enum TimeoutRunner {
    /// The error thrown when the deadline passes: code `timeout`, retryable as transient.
    public static func timeoutError(seconds: Double, field: String? = nil) -> ChatbotTesterError {
        ChatbotTesterError(
            .timeout, "no reply within \(formatSeconds(seconds)) s",
            location: field.map { SourceLocation(field: $0) }, retry: .transient)
    }

    /// Runs `body`, throwing `timeoutError` when it takes longer than `seconds` on `clock`.
    public static func run<T: Sendable>(
        seconds: Double, clock: any TesterClock, error: ChatbotTesterError? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        let failure = error ?? timeoutError(seconds: seconds)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation)
                let work = Task {
                    do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                }
                let timer = Task {
                    do {
                        try await clock.sleep(seconds: seconds)
                        race.finish(.failure(failure))
                    } catch {}
                }
                race.attach(work: work, timer: timer)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    private static func formatSeconds(_ seconds: Double) -> String {
        seconds.rounded() == seconds ? String(Int(seconds)) : String(seconds)
    }

    /// Resumes the caller once and cancels the losers.
    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var result: Result<T, any Error>?
            var tasks: [Task<Void, Never>] = []
        }

        private let state = Locked(State())

        func start(_ continuation: CheckedContinuation<T, any Error>) {
            let early = state.withLock { s -> Result<T, any Error>? in
                if let result = s.result { return result }
                s.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func attach(work: Task<Void, Never>, timer: Task<Void, Never>) {
            let finished = state.withLock { s -> Bool in
                s.tasks = [work, timer]
                return s.result != nil
            }
            if finished {
                work.cancel()
                timer.cancel()
            }
        }

        func finish(_ result: Result<T, any Error>) {
            let (continuation, tasks) = state.withLock { s -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
                guard s.result == nil else { return (nil, []) }
                s.result = result
                defer { s.continuation = nil }
                return (s.continuation, s.tasks)
            }
            for task in tasks { task.cancel() }
            continuation?.resume(with: result)
        }
    }
}
