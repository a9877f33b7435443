/// Why a run ended.
public enum RunStopReason: String, Sendable, Hashable, Codable {
    /// Every input sample was played (or skipped as already done).
    case completed
    /// The cost budget was spent; samples not started were left for a resume.
    case budgetExceeded
    /// The failure policy stopped the run.
    case failurePolicy
    /// `RunExecution.stop()` asked for a graceful stop (in-flight samples finished).
    case stopped
    /// The run was cancelled (task cancelled, Ctrl-C); in-flight samples were abandoned.
    case cancelled
    /// The input could not be read or the journal could not be written.
    case error
    /// A backend the run needs is down: its circuit breaker opened (`target_down`). Samples that
    /// failed because of it were not recorded; a resume plays them.
    case targetDown

    /// Whether the run ended before its input did (the CLI exits 3 for these).
    public var isAborted: Bool { self != .completed }

    /// The pure decision every driver of samples (the Runner, a cluster coordinator) applies to
    /// a finished sample's error: `.targetDown` when a backend's circuit breaker refused the call
    /// (the record is not data about the bot and is not kept), else `nil`.
    public static func stopping(for error: ErrorInfo?) -> RunStopReason? {
        error?.code == ChatbotTesterError.Code.targetDown.rawValue ? .targetDown : nil
    }
}
