/// A stage-neutral view of progress, so one progress sink can follow any stage.
public enum ProgressUpdate: Sendable, Hashable {
    /// A stage began; `total` when known.
    case started(stage: String, total: Int?)
    /// `count` items of a stage finished, successfully or not.
    case advanced(stage: String, succeeded: Bool, count: Int)
    /// A stage ended.
    case finished(stage: String)
}

/// An event that moves a progress display. Stage events (`run.sample.completed`, …) conform.
public protocol ProgressEvent: TesterEvent {
    var progress: ProgressUpdate { get }
}
