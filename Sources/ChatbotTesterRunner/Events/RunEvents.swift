import ChatbotTesterCore

/// The progress stage name Runner events report under.
public enum RunnerStage {
    public static let name = "run"
}

/// `run.started`: a run began. `total` is the number of input samples when the caller knows it.
public struct RunStartedEvent: ProgressEvent {
    public static let kind = "run.started"
    public var target: String
    public var total: Int?
    public var concurrency: Int
    /// Records already journaled by an earlier session (resume).
    public var resumed: Int

    public init(target: String, total: Int?, concurrency: Int, resumed: Int) {
        self.target = target
        self.total = total
        self.concurrency = concurrency
        self.resumed = resumed
    }

    public var progress: ProgressUpdate { .started(stage: RunnerStage.name, total: total) }
}

/// `run.samples.skipped`: input samples skipped because they were already journaled (resume) or
/// repeated an earlier id. Emitted in batches; advances progress by `count`.
public struct RunSamplesSkippedEvent: ProgressEvent {
    public static let kind = "run.samples.skipped"
    public var count: Int
    public var duplicates: Int

    public init(count: Int, duplicates: Int) {
        self.count = count
        self.duplicates = duplicates
    }

    public var progress: ProgressUpdate { .advanced(stage: RunnerStage.name, succeeded: true, count: count + duplicates) }
}

/// `run.sample.started`: a sample was handed to the target.
public struct RunSampleStartedEvent: TesterEvent {
    public static let kind = "run.sample.started"
    public var sampleId: String
    /// 0-based position in the input.
    public var index: Int

    public init(sampleId: String, index: Int) {
        self.sampleId = sampleId
        self.index = index
    }
}

/// `run.sample.completed`: a sample finished with `status: ok`.
public struct RunSampleCompletedEvent: ProgressEvent {
    public static let kind = "run.sample.completed"
    public var sampleId: String
    public var latencyMs: Double
    public var turns: Int
    public var costUSD: Double?
    public var stopReason: String?

    public init(record: RunRecord) {
        sampleId = record.sampleId
        latencyMs = record.latencyMs
        turns = record.turns.count
        costUSD = record.costUSD
        stopReason = record.stopReason
    }

    public var progress: ProgressUpdate { .advanced(stage: RunnerStage.name, succeeded: true, count: 1) }
}

/// `run.sample.failed`: a sample finished with `status: error` (recorded, counted as unmeasured).
public struct RunSampleFailedEvent: ProgressEvent {
    public static let kind = "run.sample.failed"
    public var sampleId: String
    public var error: ErrorInfo
    /// Assistant turns completed before the failure.
    public var turns: Int

    public init(record: RunRecord) {
        sampleId = record.sampleId
        error = record.error ?? ErrorInfo(code: "unknown", message: "unknown error")
        turns = record.turns.count
    }

    public var progress: ProgressUpdate { .advanced(stage: RunnerStage.name, succeeded: false, count: 1) }
}

/// `run.stopping`: the run stops starting samples (budget spent, failure policy, stop or cancel);
/// samples in flight finish (or, on cancel, are abandoned).
public struct RunStoppingEvent: TesterEvent {
    public static let kind = "run.stopping"
    public var reason: RunStopReason
    public var inFlight: Int

    public init(reason: RunStopReason, inFlight: Int) {
        self.reason = reason
        self.inFlight = inFlight
    }
}

/// `run.resume_errors`: a resumed run found ids whose journaled records are all errors; it keeps
/// them (`kept`, plain `--resume`) or plays them again (`retried`, `--resume --retry-errors`).
public struct RunResumeErrorsEvent: TesterEvent, Hashable {
    public static let kind = "run.resume_errors"
    public var kept: Int
    public var retried: Int

    public init(kept: Int, retried: Int) {
        self.kept = kept
        self.retried = retried
    }
}

/// `run.completed`: the run ended; carries the summary.
public struct RunCompletedEvent: ProgressEvent {
    public static let kind = "run.completed"
    public var summary: RunSummary

    public init(summary: RunSummary) {
        self.summary = summary
    }

    public var progress: ProgressUpdate { .finished(stage: RunnerStage.name) }
}

/// `run.journal.malformed`: lines of the journal that could not be read on resume were skipped.
public struct RunJournalMalformedEvent: TesterEvent {
    public static let kind = "run.journal.malformed"
    public var key: String
    public var lines: [Int]
    public var count: Int

    public init(key: String, lines: [Int], count: Int) {
        self.key = key
        self.lines = lines
        self.count = count
    }
}
