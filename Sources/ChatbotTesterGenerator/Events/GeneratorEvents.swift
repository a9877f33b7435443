import ChatbotTesterCore

/// `generate.started`: generation began. `planned` is an upper bound before dedup and drops.
public struct GenerateStartedEvent: ProgressEvent {
    public static let kind = "generate.started"
    public var planned: Int?
    public var sources: [String]

    public init(planned: Int?, sources: [String]) {
        self.planned = planned
        self.sources = sources
    }

    public var progress: ProgressUpdate { .started(stage: "generate", total: planned) }
}

/// `generate.sample`: one sample was yielded.
public struct GenerateSampleEvent: ProgressEvent {
    public static let kind = "generate.sample"
    public var id: String
    public var source: String

    public init(id: String, source: String) {
        self.id = id
        self.source = source
    }

    public var progress: ProgressUpdate { .advanced(stage: "generate", succeeded: true, count: 1) }
}

/// `generate.dropped`: an item was dropped, with the reason.
public struct GenerateDroppedEvent: ProgressEvent {
    public static let kind = "generate.dropped"
    public var reason: DropReason
    public var detail: String
    public var origin: String
    /// How many items this drop stands for (e.g. missing items of a short reply).
    public var count: Int

    public init(_ item: DroppedItem, count: Int = 1) {
        reason = item.reason
        detail = item.detail
        origin = item.origin
        self.count = count
    }

    public var progress: ProgressUpdate { .advanced(stage: "generate", succeeded: false, count: count) }
}

/// `generate.completed`: generation finished; carries the report.
public struct GenerateCompletedEvent: ProgressEvent {
    public static let kind = "generate.completed"
    public var report: GenerationReport

    public init(report: GenerationReport) {
        self.report = report
    }

    public var progress: ProgressUpdate { .finished(stage: "generate") }
}
