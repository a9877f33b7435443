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

    /// Whether the run ended before its input did (the CLI exits 3 for these).
    public var isAborted: Bool { self != .completed }
}
