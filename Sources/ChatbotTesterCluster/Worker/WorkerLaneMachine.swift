import DequeModule
import Foundation

/// A finished record, encoded for a `records` frame (`ClusterRecord.recordsFrameUnit(omittingSample:)`).
struct WorkerEncodedRecord: Sendable, Hashable {
    /// The sample it belongs to.
    var sampleId: String
    /// Its bytes in the frame.
    var bytes: Data
    /// Whether its case failed: it leaves at once (the coordinator counts failures for the run's
    /// failure policy, and closes its prefetch window once one is seen).
    var failed: Bool
    /// Its journal line, when the worker appends its records to the journal itself (then `bytes`
    /// is its unit of a `journaled` frame: `ClusterRecord.journaledUnit()`).
    var line: Data?

    init(sampleId: String, bytes: Data, failed: Bool = false, line: Data? = nil) {
        self.sampleId = sampleId
        self.bytes = bytes
        self.failed = failed
        self.line = line
    }
}

/// The worker's per-sample path as a pure state machine (no clock, no tasks): which held samples
/// play, and when finished records leave as a frame. `ClusterWorker`'s lanes carry it out.
///
/// A lane is a task playing one sample after another: an `assign` starts one lane per free slot
/// (at most `slots` samples play at once), and a lane that finishes its sample takes the next
/// queued one itself while a slot is free — no task per sample, no hop to the driver per record.
/// Records wait in a batch; the lane that finishes a sample sends the batch when it is full
/// (`batchSize`), or when the samples still queued are fewer than the records it holds (the
/// coordinator assigns more only once it has records, so holding them longer would leave this
/// worker idle; with nothing queued they go at once). Otherwise they wait for later finishes, at
/// most `flushDelay` after the first of them: one long-lived flusher sends what is due
/// (`flusherStep(now:)`), sleeping only while records wait.
///
/// With `handBackAtFirstFailure` (the run has a failure policy), the first failed record stops
/// the queue: nothing more starts from it, and whoever sends the frame carrying that record also
/// hands the queue back (`Finish.handBack`, `FlusherStep.send`'s), after the frame. The
/// coordinator has then counted the failure before any of those samples start.
struct WorkerLaneMachine: Sendable {
    /// What a lane does after finishing a sample.
    struct Finish: Sendable, Hashable {
        /// Send these records as one frame.
        var frame: [WorkerEncodedRecord]?
        /// The frame filled the batch: wait until the connection is writable before going on.
        var full: Bool
        /// Play this sample next (`nil`: the lane ends).
        var next: IndexedSample?
        /// After the frame, hand these queued samples back (`released`): the frame carries the
        /// worker's first failed record (see `handBackAtFirstFailure`).
        var handBack: [String]? = nil
    }

    /// What the flusher does next.
    enum FlusherStep: Sendable, Hashable {
        /// Send these records (they waited `flushDelay`), then hand back `handBack` as `Finish.handBack`.
        case send([WorkerEncodedRecord], handBack: [String]? = nil)
        /// Sleep until this time (nanoseconds on the caller's clock): the oldest waiting record is due then.
        case sleep(until: UInt64)
        /// Nothing waits: park until a record does (`collect` says so with `true`).
        case park
        /// The worker stopped.
        case stop
    }

    /// Records per frame at most.
    let batchSize: Int
    /// How long a record may wait for others (nanoseconds; 0: records go at once).
    let flushDelay: UInt64
    /// Samples held and not started.
    private(set) var queue: Deque<IndexedSample> = []
    /// How many samples may play at once (the latest `assign`'s `slots`; `nil`: all held).
    private(set) var slots: Int?
    /// Samples playing.
    private(set) var running = 0
    /// Whether nothing more starts (the worker is leaving).
    private(set) var stopped = false
    /// Whether the first failed record stops the queue and hands it back (set from `welcome`).
    var handBackAtFirstFailure = false
    /// A failed record was collected and the queue waits for its frame to leave (then it is handed back).
    private(set) var queueStopped = false
    /// Whether the queue was handed back at the first failure already (it happens once).
    private var handedBackAtFailure = false
    private var batch: [WorkerEncodedRecord] = []
    /// Whether `batch` holds a failed case's record (sent without waiting).
    private var batchHasFailure = false
    /// When the first record of `batch` was collected.
    private var batchStarted: UInt64 = 0

    init(batchSize: Int, flushDelay: Double) {
        self.batchSize = max(1, batchSize)
        self.flushDelay = UInt64(max(0, flushDelay) * 1e9)
    }

    /// Records waiting for a frame.
    var waitingRecords: Int { batch.count }

    /// An assignment: queues its samples and takes `slots` when given; returns the samples to start
    /// now, one lane each.
    mutating func assigned(_ samples: [IndexedSample], slots given: Int?) -> [IndexedSample] {
        guard !stopped else { return [] }
        if let given { slots = max(1, given) }
        queue.append(contentsOf: samples)
        var starts: [IndexedSample] = []
        while !queueStopped, running < (slots ?? Int.max), let item = queue.popFirst() {
            running += 1
            starts.append(item)
        }
        return starts
    }

    /// A playing sample produced a record at `now`; returns whether it is the first one waiting
    /// (wake the flusher).
    mutating func collect(_ record: WorkerEncodedRecord, now: UInt64) -> Bool {
        batch.append(record)
        if record.failed {
            batchHasFailure = true
            if handBackAtFirstFailure && !handedBackAtFailure { queueStopped = true }
        }
        guard batch.count == 1 else { return false }
        batchStarted = now
        return true
    }

    /// A lane's sample finished (its records collected): what it sends, and what it plays next.
    mutating func finished() -> Finish {
        running -= 1
        var finish = Finish(frame: nil, full: false, next: nil)
        if !batch.isEmpty {
            if batch.count >= batchSize {
                (finish.frame, finish.handBack) = takeBatch()
                finish.full = true
            } else if flushDelay == 0 || queue.count < batch.count || batchHasFailure {
                (finish.frame, finish.handBack) = takeBatch()
            }
        }
        if !stopped, !queueStopped, running < (slots ?? Int.max), let item = queue.popFirst() {
            running += 1
            finish.next = item
        }
        return finish
    }

    /// `release`: hands back the samples not started.
    mutating func release() -> [String] {
        let ids = queue.map(\.sample.id)
        queue.removeAll()
        return ids
    }

    /// The flusher's next step at `now`.
    mutating func flusherStep(now: UInt64) -> FlusherStep {
        if stopped { return .stop }
        if batch.isEmpty { return .park }
        let due = batchStarted &+ flushDelay
        guard now >= due else { return .sleep(until: due) }
        let (records, handBack) = takeBatch()
        return .send(records, handBack: handBack)
    }

    /// The worker is leaving: nothing more starts.
    mutating func stop() {
        stopped = true
    }

    /// The batch, and the queue to hand back after it when it carries the first failure.
    private mutating func takeBatch() -> ([WorkerEncodedRecord], [String]?) {
        var handBack: [String]?
        if batchHasFailure && queueStopped {
            queueStopped = false
            handedBackAtFailure = true
            let ids = release()
            if !ids.isEmpty { handBack = ids }
        }
        batchHasFailure = false
        defer { batch = [] }
        return (batch, handBack)
    }
}
