import ChatbotTesterCore

/// The Runner's scheduling logic as a pure state machine: when to read input, which samples to
/// start or skip, what to journal and emit, when to stop. No I/O, no clocks — the driver (`RunDriver`)
/// feeds it events and carries out what it returns.
///
/// Invariants: at most `concurrency` samples in flight; at most one input read outstanding (the
/// input is never read ahead); in ordered mode, no sample starts more than `window` positions after
/// the oldest unemitted one, so the reorder buffer holds fewer than `window` records.
struct RunScheduler {
    struct Configuration {
        var concurrency: Int
        var ordered: Bool
        var window: Int
        var budgetUSD: Double?
        var failurePolicy: FailurePolicy

        init(options: RunnerOptions) {
            concurrency = options.concurrency
            ordered = options.ordered
            window = options.effectiveReorderWindow
            budgetUSD = options.budgetUSD
            failurePolicy = options.failurePolicy
        }
    }

    /// What to do with a sample just read.
    enum Admission: Equatable {
        /// Play it; `seq` is its start order, `index` its input position.
        case start(seq: Int, index: Int)
        /// Its id is already journaled (resume).
        case skipCompleted
        /// Its id appeared earlier in this input.
        case skipDuplicate
        /// The run is stopping: not started (a resume will play it).
        case notStarted
    }

    /// What to do with a finished sample.
    struct Completion: Equatable {
        /// Journal the record (false when abandoned by a cancel).
        var journal: Bool
        /// Records to hand to the consumer now, in order.
        var emit: [RunRecord]
        /// The input position of each record in `emit`.
        var emitIndices: [Int] = []
        /// Set when this completion stopped the run.
        var stopped: RunStopReason?
    }

    let configuration: Configuration
    private let completedBefore: IDDigestSet
    /// Ids started in this session (compact digests: a million ids take about 20 MB).
    private var seen: IDDigestSet
    private(set) var inFlight = 0
    private(set) var reading = false
    private(set) var inputEnded = false
    private(set) var stopReason: RunStopReason?
    private(set) var hardCancelled = false
    private var nextIndex = 0
    private var nextSeq = 0
    /// Ordered mode: finished records waiting for earlier ones by start order (`nil` marks an
    /// abandoned sample); its `next` is the oldest unemitted sample's.
    private var reorder: ReorderBuffer<(index: Int, record: RunRecord)?>
    private var limits: RunLimits
    var spentUSD: Double { limits.spentUSD }
    var failures: Int { limits.failures }
    var finished: Int { limits.finished }
    private(set) var abandoned = 0
    private(set) var skipped = 0
    private(set) var duplicates = 0

    /// - Parameters:
    ///   - completed: ids journaled by an earlier session.
    ///   - spentUSD: what earlier sessions spent (counts against the budget).
    ///   - expectedCount: the input size when known: the id set is sized once instead of regrown
    ///     (regrowing briefly holds the old and the new table).
    init(configuration: Configuration, completed: IDDigestSet = IDDigestSet(), spentUSD: Double = 0, expectedCount: Int? = nil) {
        self.configuration = configuration
        reorder = ReorderBuffer(limit: configuration.window, maxSpan: configuration.window)
        self.completedBefore = completed
        self.limits = RunLimits(budgetUSD: configuration.budgetUSD, failurePolicy: configuration.failurePolicy, spentUSD: spentUSD)
        seen = IDDigestSet(expectedCount: max(0, (expectedCount ?? 0) - completed.count))
        stopReason = limits.exhaustedBeforeStart
    }

    /// Samples started (and not abandoned) in this session.
    var played: Int { finished + inFlight }

    /// Records held for reordering.
    var buffered: Int { reorder.count }

    /// Whether the driver should read another sample now.
    var wantsInput: Bool {
        guard !reading, !inputEnded, stopReason == nil, inFlight < configuration.concurrency else { return false }
        return !configuration.ordered || nextSeq - reorder.next < configuration.window
    }

    /// Whether the run is over: nothing in flight and no more samples will start.
    var isFinished: Bool { inFlight == 0 && (inputEnded || stopReason != nil) }

    /// The driver asked the input for a sample.
    mutating func beginRead() {
        precondition(!reading, "one input read at a time")
        reading = true
    }

    /// A sample arrived from the input.
    mutating func received(_ sample: TestSample) -> Admission {
        reading = false
        let index = nextIndex
        nextIndex += 1
        if completedBefore.contains(sample.id) {
            skipped += 1
            return .skipCompleted
        }
        guard stopReason == nil else { return .notStarted }
        guard seen.insert(sample.id) else {
            duplicates += 1
            return .skipDuplicate
        }
        inFlight += 1
        defer { nextSeq += 1 }
        return .start(seq: nextSeq, index: index)
    }

    /// The input ended.
    mutating func endOfInput() {
        reading = false
        inputEnded = true
    }

    /// A started sample finished.
    /// - Parameter index: the sample's input position (handed on with the record).
    mutating func completed(seq: Int, index: Int = 0, record: RunRecord) -> Completion {
        inFlight -= 1
        if hardCancelled, record.status == .error {
            // Failed because the run was torn down: not data. Leave it for a resume.
            abandoned += 1
            return completion(journal: false, release(seq: seq, entry: nil), stopped: nil)
        }
        if let reason = RunStopReason.stopping(for: record.error) {
            // A backend is down (its breaker refused the call): not data about the bot. Stop and
            // leave the sample for a resume.
            abandoned += 1
            return completion(journal: false, release(seq: seq, entry: nil), stopped: stop(reason) ? reason : nil)
        }
        var stopped: RunStopReason?
        if let reason = limits.recordFinished(failed: record.status == .error, costUSD: record.costUSD), stop(reason) {
            stopped = reason
        }
        return completion(journal: true, release(seq: seq, entry: (index, record)), stopped: stopped)
    }

    private func completion(journal: Bool, _ released: [(index: Int, record: RunRecord)], stopped: RunStopReason?) -> Completion {
        Completion(journal: journal, emit: released.map(\.record), emitIndices: released.map(\.index), stopped: stopped)
    }

    /// Stops starting samples; returns whether this call stopped the run (the first reason wins).
    @discardableResult
    mutating func stop(_ reason: RunStopReason) -> Bool {
        guard stopReason == nil else { return false }
        stopReason = reason
        return true
    }

    /// Stops and abandons samples in flight; returns whether this call stopped the run.
    @discardableResult
    mutating func cancel() -> Bool {
        hardCancelled = true
        return stop(.cancelled)
    }

    private mutating func release(seq: Int, entry: (index: Int, record: RunRecord)?) -> [(index: Int, record: RunRecord)] {
        guard configuration.ordered else { return entry.map { [$0] } ?? [] }
        // Never refused: no sample starts `window` or more after the oldest unemitted one.
        _ = reorder.insert(entry, at: seq)
        var out: [(index: Int, record: RunRecord)] = []
        while let next = reorder.popNext() {
            if let next { out.append(next) }
        }
        return out
    }
}
