import ChatbotTesterCore
import Foundation

/// The version of the coordinator ⇄ worker protocol; both sides must speak the same one.
///
/// 3: `assign` carries `slots` (how many of its samples a worker plays at once; the rest wait in
/// its queue), `release` / `released` hand back samples a worker holds and has not started, and a
/// record's `run.sample` may be `null` (the coordinator puts back the bytes of the sample it
/// assigned).
/// 4: records and samples are schema 2 (tool calls, tool results, retrieved contexts, streaming
/// timings), which a version-3 peer would refuse as unknown keys.
/// 5: a `records` frame may carry each record's report part (`ClusterReportPart`: what the
/// reports read of it, made by the worker) after its JSON; a version-4 coordinator could not read
/// such a frame, and a version-4 worker sends none (its records would be decoded for the reports).
/// 6: workers send `records` frames with a binary head per record
/// (`ClusterMessageCodec.encodeRecordsFrame(_:)`: index, JSON length, part length, then the
/// record's JSON and its report part), which the coordinator reads without walking the JSON; a
/// version-5 coordinator could not read them.
/// 7: `welcome` may ask a worker to hand back its queue, unasked, once its first failed record has
/// left (`handBackQueueAtFirstFailure`: the run has a failure policy), which a version-6 worker
/// would not do; workers report connection failures (`breakerReport`) to the coordinator's one
/// circuit breaker per backend instance and hear from it when it opens (`breakerState`).
/// 8: `welcome` may offer the spool's journal (`recordJournal`): a worker that can open that very
/// file appends its records' lines to it itself and sends a `journaled` frame
/// (`ClusterMessageCodec.encodeJournaledFrame(base:units:)`: where the lines went, each record's
/// index, ranges and report part) instead of the records' bytes; a version-7 coordinator could
/// not read it.
/// 9: `welcome` says whether the spool's samples are as the dataset wrote them
/// (`samplesAsWritten`): a worker then writes each case back into its records encoded from what
/// it decoded, not the spool's bytes, which a version-8 worker would copy.
/// 10: `assignByReference` names samples by their shard and index instead of carrying them
/// (`AssignmentByReference`, sent to a worker that journals its records itself: it reads the
/// shard from the spool), and `released` may say the worker could not read them (`unreadable`),
/// which a version-9 peer could not read.
/// 11: in a run whose outputs stream, the coordinator may ask each worker to write its records'
/// `results.jsonl` and `evals.jsonl` lines itself (`writeLines`: where, in dataset order, from the
/// journal lines it appended) — for the dataset's complete prefix while the run plays, for the
/// rest at its end — and waits for every `linesWritten` before `shutdown`; a version-10 worker
/// would refuse the message.
/// 12: `welcome` may ask for the reports' pieces (`reportPieces`): a worker then keeps each
/// record's report part, and a `writeLines` order naming a `pieces` file has it write its records'
/// share of the reports there and answer with a summary of it (`LinesWritten.pieces`), so the
/// coordinator reads no record's part; a version-11 worker would refuse the keys.
/// 13: once every line is written, the coordinator may ask one of those workers to put the pieces
/// together into the reports (`makeReports`, answered `reportsMade`) before it leaves, reading from
/// the journal the samples the reports show; a version-12 worker would refuse the message.
public let clusterProtocolVersion = 13

/// A message of the cluster protocol. On the wire: one frame holding `{"type": …, "body": …}` JSON.
///
/// Order: worker `hello` → coordinator `welcome` → any number of `assign` (a few samples each, or
/// `assignByReference` naming them in the spool) and
/// worker `records` (one per finished sample, batched when several are ready), interleaved: the
/// coordinator keeps each worker supplied up to its share of `run.concurrency`, and every record
/// returns a slot. `heartbeat` both ways at any time after the handshake; `drain` (finish what you
/// hold, take no more, then leave) and `shutdown` (leave now) from the coordinator; `error` either
/// way before closing; `budgetRequest` / `budgetGrant` share rate limits across workers, and
/// `breakerReport` / `breakerState` one circuit breaker per backend instance; `release`
/// (from the coordinator, when the run stops) asks a worker to start nothing more of what it holds
/// and hand the samples it has not started back in `released` (which a worker also sends unasked
/// after its first failed record when `welcome` says the run has a failure policy).
public enum ClusterMessage: Sendable, Hashable {
    case hello(Hello)
    case welcome(Welcome)
    case assign(Assignment)
    case assignByReference(AssignmentByReference)
    case records([ClusterRecord])
    case heartbeat
    case drain
    case shutdown
    case error(ErrorInfo)
    case budgetRequest(BudgetRequest)
    case budgetGrant(BudgetGrant)
    case release
    case released(Released)
    case breakerReport(BreakerReport)
    case breakerState(BreakerState)
    /// The end of a run whose outputs stream (protocol 11): write these records' lines.
    case writeLines(WriteLines)
    /// A worker's answer to `writeLines`.
    case linesWritten(LinesWritten)
    /// The end of a run whose workers made the reports' pieces (protocol 13): put them together.
    case makeReports(MakeReports)
    /// A worker's answer to `makeReports`.
    case reportsMade(ReportsMade)

    /// A worker introduces itself.
    public struct Hello: Sendable, Hashable, Codable {
        public var workerId: String
        public var pid: Int
        public var protocolVersion: Int
        public var toolVersion: String

        public init(workerId: String, pid: Int, protocolVersion: Int = clusterProtocolVersion, toolVersion: String = ChatbotTesterCoreInfo.version) {
            self.workerId = workerId
            self.pid = pid
            self.protocolVersion = protocolVersion
            self.toolVersion = toolVersion
        }
    }

    /// The coordinator's answer to `hello`: everything a worker needs to rebuild the job.
    public struct Welcome: Sendable, Hashable, Codable {
        public var protocolVersion: Int
        public var runId: String
        public var setup: ClusterJobSetup
        /// How often the worker should send a heartbeat.
        public var heartbeatSeconds: Double
        /// Whether the run has a failure policy: the worker then starts nothing more from its queue
        /// once a sample of it has failed, and hands the queue back (`released`, unasked) right
        /// after the frame carrying that first failure. The coordinator counts the failure before
        /// it hands those samples out again (its prefetch window closes once a failure is seen and
        /// the policy is in reach), as one process counts each failure before it starts its next
        /// sample; without it, a worker's queued samples kept starting until a `release` reached
        /// it. `nil`: no.
        public var handBackQueueAtFirstFailure: Bool?
        /// The spool's journal, offered to a worker that can open that very file (protocol 8): it
        /// then appends its records' lines itself and tells the coordinator where they went
        /// (`journaled` frames). `nil`: records travel in `records` frames.
        public var recordJournal: RecordJournal?
        /// Whether the samples of `assign` frames are the cases as the dataset wrote them
        /// (`ClusterManifest.samplesAsWritten`, protocol 9): a worker writing a record's line then
        /// encodes the case it decoded, as one process does, instead of copying those bytes.
        /// `nil`: no, they are encoded already.
        public var samplesAsWritten: Bool?
        /// Whether `writeLines` orders may ask for the reports' pieces (protocol 12): a worker that
        /// journals its records then keeps each one's report part until the run ends. `nil`: no.
        public var reportPieces: Bool?

        public init(
            protocolVersion: Int = clusterProtocolVersion, runId: String, setup: ClusterJobSetup, heartbeatSeconds: Double,
            handBackQueueAtFirstFailure: Bool? = nil, recordJournal: RecordJournal? = nil, samplesAsWritten: Bool? = nil, reportPieces: Bool? = nil
        ) {
            self.protocolVersion = protocolVersion
            self.runId = runId
            self.setup = setup
            self.heartbeatSeconds = heartbeatSeconds
            self.handBackQueueAtFirstFailure = handBackQueueAtFirstFailure
            self.recordJournal = recordJournal
            self.samplesAsWritten = samplesAsWritten
            self.reportPieces = reportPieces
        }
    }

    /// The journal a coordinator offers its workers (`Welcome.recordJournal`): its path and the
    /// identity of the file (device and inode, as `fstat` gives them). A worker uses it only when
    /// the path opens, without following a symbolic link, to that same regular file, owned by the
    /// worker's own user and writable by nobody else; otherwise its records travel in frames.
    public struct RecordJournal: Sendable, Hashable, Codable {
        public var path: String
        public var device: UInt64
        public var inode: UInt64

        public init(path: String, device: UInt64, inode: UInt64) {
            self.path = path
            self.device = device
            self.inode = inode
        }
    }

    /// Samples for a worker, in addition to what it already holds. The worker plays at most
    /// `slots` of everything it holds at once (its share of `run.concurrency`; `nil`: all of them)
    /// and queues the rest, in order, starting each as a slot frees.
    public struct Assignment: Sendable, Hashable, Codable {
        public var samples: [IndexedSample]
        public var slots: Int?

        public init(samples: [IndexedSample], slots: Int? = nil) {
            self.samples = samples
            self.slots = slots
        }
    }

    /// The samples a worker held without starting them, handed back after a `release`; or the
    /// samples of an `assignByReference` it could not read (`unreadable` says why: the coordinator
    /// then sends this worker the samples' bytes).
    public struct Released: Sendable, Hashable, Codable {
        public var sampleIds: [String]
        /// Why the samples of an `assignByReference` could not be read (nil: handed back unread).
        public var unreadable: String?

        public init(sampleIds: [String], unreadable: String? = nil) {
            self.sampleIds = sampleIds
            self.unreadable = unreadable
        }
    }

    /// A worker asks to send one request of about `tokens` tokens to the backend instance
    /// `backend` (its middleware's rate budget is the coordinator's, shared by every worker).
    public struct BudgetRequest: Sendable, Hashable, Codable {
        /// Matches the grant to the request (unique per connection).
        public var requestId: Int
        public var backend: String
        public var tokens: Int
        public init(requestId: Int, backend: String, tokens: Int) {
            self.requestId = requestId
            self.backend = backend
            self.tokens = tokens
        }
    }

    /// The coordinator lets request `requestId` go (sent when the shared budget allows it).
    public struct BudgetGrant: Sendable, Hashable, Codable {
        public var requestId: Int
        public var backend: String
        public init(requestId: Int, backend: String) {
            self.requestId = requestId
            self.backend = backend
        }
    }

    /// A worker's attempt at backend instance `backend` failed at the connection level (`failure`
    /// set: the coordinator answers with a `breakerState` carrying `requestId`), or was answered
    /// after the worker had reported failures (`failure` nil, no answer: the count starts over).
    /// The coordinator keeps one `CircuitBreaker` per instance for the whole run, so its threshold
    /// counts every worker's attempts as one process's breaker counts its own.
    public struct BreakerReport: Sendable, Hashable, Codable {
        /// A connection-level failure: its error code, its message without the peer, and the peer.
        public struct Failure: Sendable, Hashable, Codable {
            public var code: String
            public var message: String
            public var peer: String?

            public init(code: String, message: String, peer: String? = nil) {
                self.code = code
                self.message = message
                self.peer = peer
            }
        }

        /// Matches the answer to the report (nil for an answered attempt, which gets none).
        public var requestId: Int?
        public var backend: String
        /// The instance's threshold (`circuitBreaker.consecutiveFailures`).
        public var consecutiveFailures: Int
        public var failure: Failure?

        public init(requestId: Int?, backend: String, consecutiveFailures: Int, failure: Failure?) {
            self.requestId = requestId
            self.backend = backend
            self.consecutiveFailures = consecutiveFailures
            self.failure = failure
        }
    }

    /// The coordinator's breaker of instance `backend`: the answer to report `requestId`, or — with
    /// no `requestId` — word to every other worker that it opened.
    public struct BreakerState: Sendable, Hashable, Codable {
        /// Why the breaker is open: the consecutive failures that opened it and the last of them
        /// (the `target_down` error is made of them).
        public struct Down: Sendable, Hashable, Codable {
            public var failures: Int
            public var last: BreakerReport.Failure

            public init(failures: Int, last: BreakerReport.Failure) {
                self.failures = failures
                self.last = last
            }
        }

        public var requestId: Int?
        public var backend: String
        /// Set once the breaker is open.
        public var down: Down?
        /// Whether the report answered is the one that opened it.
        public var opened: Bool?

        public init(requestId: Int?, backend: String, down: Down?, opened: Bool? = nil) {
            self.requestId = requestId
            self.backend = backend
            self.down = down
            self.opened = opened
        }
    }

    /// The message's type name on the wire.
    public var typeName: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .assign: "assign"
        case .assignByReference: "assignByReference"
        case .records: "records"
        case .heartbeat: "heartbeat"
        case .drain: "drain"
        case .shutdown: "shutdown"
        case .error: "error"
        case .budgetRequest: "budgetRequest"
        case .budgetGrant: "budgetGrant"
        case .release: "release"
        case .released: "released"
        case .breakerReport: "breakerReport"
        case .breakerState: "breakerState"
        case .writeLines: "writeLines"
        case .linesWritten: "linesWritten"
        case .makeReports: "makeReports"
        case .reportsMade: "reportsMade"
        }
    }
}

/// What a worker receives in `welcome` to rebuild the job: the backends as specs (secrets stay
/// references) and the job spec the `ShardProcessorFactory` understands.
public struct ClusterJobSetup: Sendable, Hashable, Codable {
    public var registry: RegistryConfig
    public var job: JSONValue

    public init(registry: RegistryConfig, job: JSONValue) {
        self.registry = registry
        self.job = job
    }
}
