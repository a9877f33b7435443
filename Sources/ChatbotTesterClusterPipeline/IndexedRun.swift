import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterPipeline
import Foundation

/// A job run as an indexed batch on a scheduler that is not ours (a Kubernetes Indexed Job, a
/// Slurm array): `plan` writes the spool to an `ArtifactStore`, one `worker` per shard index plays
/// and scores its shard with no coordinator, and `merge` writes the results and every report —
/// the same files as a single-process run of the job.
///
/// What lives in the store, under its URL:
/// ```
/// plan.json                         IndexedRunPlan: shards, parallelism, digests (written last by plan)
/// job.json                          the job record, as a single-process run writes it
/// spool/manifest.json, manifest.sha256, setup.json, shards/shard-NNNNN.jsonl
/// journals/shard-NNNNN/<attempt>.jsonl   each worker attempt's own journal (on S3: part objects)
/// attempts/shard-NNNNN/<attempt>.json    each attempt's state and counts (status reads these)
/// results.jsonl, evals.jsonl, summary.json, report.*, junit.xml, results.csv, run-summary.json   (merge)
/// ```
/// Every attempt journals to its own key, so two pods running one index at once never write the
/// same object; the merge keeps each record once by the record key (success over error).
public enum IndexedRun {
    /// Store key of the plan record.
    public static let planKey = "plan.json"
    /// Store key prefix of the spool.
    public static let spoolPrefix = "spool/"
    public static let jobRecordKey = "job.json"

    /// `journals/shard-00003/`: where the attempts on one index journal.
    public static func journalPrefix(shard: Int) -> String { "journals/" + shardName(shard) + "/" }
    /// `attempts/shard-00003/`: the attempts' state objects.
    public static func attemptPrefix(shard: Int) -> String { "attempts/" + shardName(shard) + "/" }

    static func shardName(_ shard: Int) -> String { String(format: "shard-%05d", shard) }

    /// A new attempt id: milliseconds since 1970 (13 digits) and a random suffix, so attempts sort
    /// by start and two never share a name.
    static func newAttemptId() -> String {
        let millis = String(Int(Date().timeIntervalSince1970 * 1000))
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return String(repeating: "0", count: max(0, 13 - millis.count)) + millis + "-" + String(repeating: "0", count: 8 - random.count) + random
    }

    /// The shard index a worker runs: `--shard`, else `JOB_COMPLETION_INDEX` (Kubernetes Indexed
    /// Jobs), else `SLURM_ARRAY_TASK_ID` (Slurm arrays).
    ///
    /// - Throws: `.invalidConfig` naming the variable when neither is set or one is not a
    ///   non-negative integer.
    public static func shardIndex(explicit: Int?, environment: [String: String]) throws -> Int {
        if let explicit {
            guard explicit >= 0 else { throw ChatbotTesterError(.invalidConfig, "--shard must not be negative", location: SourceLocation(field: "--shard")) }
            return explicit
        }
        for variable in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
            guard let text = environment[variable], !text.isEmpty else { continue }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw ChatbotTesterError(
                    .invalidConfig, "\(variable)='\(text)' is not a shard index (a non-negative integer)", location: SourceLocation(field: variable))
            }
            return value
        }
        throw ChatbotTesterError(
            .invalidConfig,
            "no shard index: pass --shard INDEX, or run under a scheduler that sets JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array)",
            location: SourceLocation(field: "--shard"))
    }

    /// Reads the plan record; `name` is the store's URL for messages.
    ///
    /// - Throws: `.invalidConfig` when the store holds no plan (wrong URL, or `plan` has not run).
    public static func readPlan(from store: any ArtifactStore, name: String) async throws -> IndexedRunPlan {
        guard await store.exists(planKey) else {
            throw ChatbotTesterError(
                .invalidConfig, "no indexed run is planned at \(name) (no \(planKey)): run `chatbot-tester plan CONFIG --store \(name) --shards N` first",
                location: SourceLocation(source: name + planKey))
        }
        let data = try await store.read(planKey)
        do {
            return try JSONCoding.decoder().decode(IndexedRunPlan.self, from: data)
        } catch {
            throw ChatbotTesterError.decoding(error, source: name + planKey, line: nil)
        }
    }
}

/// What `plan` recorded (`plan.json`): the shape of the run and the digests every worker and the
/// merge check before they do anything.
public struct IndexedRunPlan: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1

    /// One `${VAR}` string of the config: where it is, the variables it uses, and a salted SHA-256
    /// of what it expanded to when the run was planned — a digest, never the value.
    public struct Expansion: Sendable, Hashable, Codable {
        public var field: String
        public var variables: [String]
        public var sha256: String
    }

    public var schemaVersion: Int
    public var runId: String
    /// Shard indexes (the Job's `completions`, the Slurm array's size).
    public var shards: Int
    /// Workers that run at once (the Job's `parallelism`): the divisor of the split rule.
    public var parallelism: Int
    public var sampleCount: Int
    /// SHA-256 of the config as written (`${VAR}` unexpanded), as `job.json` records it.
    public var configDigest: String
    public var datasetDigest: String?
    public var expansions: [Expansion]
    /// Whether workers score what they play (`test`); the merge writes evals and reports.
    public var scoring: Bool
    public var plannedAt: Date

    public init(
        runId: String, shards: Int, parallelism: Int, sampleCount: Int, configDigest: String, datasetDigest: String?,
        expansions: [Expansion], scoring: Bool = true, plannedAt: Date = Date()
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.runId = runId
        self.shards = shards
        self.parallelism = parallelism
        self.sampleCount = sampleCount
        self.configDigest = configDigest
        self.datasetDigest = datasetDigest
        self.expansions = expansions
        self.scoring = scoring
        self.plannedAt = plannedAt
    }

    /// The digests of `document`'s expansions as this environment expanded them, salted with the
    /// run id (so equal values in two runs do not give equal digests).
    public static func expansionDigests(of document: ConfigDocument, runId: String) -> [Expansion] {
        document.expansions.map { expansion in
            var value: JSONValue = document.value
            for component in expansion.path {
                if let key = component.stringValue, let child = value[key] {
                    value = child
                } else if let index = component.intValue, let items = value.arrayValue, items.indices.contains(index) {
                    value = items[index]
                } else {
                    value = .null
                    break
                }
            }
            var hasher = SHA256Hasher()
            hasher.update(Data("chatbot-tester expansion\n\(runId)\n\(expansion.field)\n\(value.canonicalText)".utf8))
            return Expansion(field: expansion.field, variables: expansion.variables, sha256: hasher.finalizeHex())
        }
    }

    /// Refuses an environment that expands the config differently from the plan's.
    ///
    /// - Throws: `.invalidConfig` naming the field and its variables.
    public func checkExpansions(of document: ConfigDocument) throws {
        let here = Dictionary(Self.expansionDigests(of: document, runId: runId).map { ($0.field, $0) }, uniquingKeysWith: { first, _ in first })
        for planned in expansions where here[planned.field]?.sha256 != planned.sha256 {
            let names = planned.variables.map { "$\($0)" }.joined(separator: ", ")
            throw ChatbotTesterError(
                .invalidConfig,
                "this environment expands field '\(planned.field)' differently from the plan (variables: \(names)): set \(names) as the plan's environment did",
                location: SourceLocation(source: document.source, field: planned.field))
        }
    }

    /// The split rule: what one index may use of the run's limits, applied from the plan.
    ///
    /// - Rates (`run.concurrency`, each backend's `rateLimit` requests/tokens per minute) are what
    ///   is in flight at once, shared by the `parallelism` workers that run at once: each gets
    ///   1/P (concurrency rounded up, at least 1).
    /// - Totals (`run.budgetUSD`, `run.failurePolicy.maxFailures` and its `minSamples`) are shared
    ///   by the shards in proportion to their cases: shard i gets `count_i / sampleCount` of each
    ///   (counts rounded up, at least 1), so the shares add up to the run's figure whatever the
    ///   parallelism. `maxFailureRate` is a rate and applies to each shard as it is.
    public struct Share: Sendable, Hashable {
        public var parallelism: Int
        /// This shard's fraction of the run's cases.
        public var fraction: Double

        public init(parallelism: Int, fraction: Double) {
            self.parallelism = max(1, parallelism)
            self.fraction = min(1, max(0, fraction))
        }

        public func concurrency(_ whole: Int) -> Int { max(1, (whole + parallelism - 1) / parallelism) }

        public func rate(_ limits: RateLimits) -> RateLimits {
            var limits = limits
            limits.requestsPerMinute = limits.requestsPerMinute.map { $0 / Double(parallelism) }
            limits.tokensPerMinute = limits.tokensPerMinute.map { $0 / Double(parallelism) }
            return limits
        }

        public func budget(_ whole: Double?) -> Double? { whole.map { $0 * fraction } }

        public func failurePolicy(_ whole: FailurePolicy) -> FailurePolicy {
            func count(_ n: Int) -> Int { max(1, Int((Double(n) * fraction).rounded(.up))) }
            return FailurePolicy(maxFailures: whole.maxFailures.map(count), maxFailureRate: whole.maxFailureRate, minSamples: count(whole.minSamples))
        }
    }
}

/// One worker attempt on one index, as it records itself in `attempts/shard-NNNNN/<attempt>.json`
/// (at its start, every `heartbeat` seconds, and at its end).
public struct IndexedAttemptStatus: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        /// Playing (or the process died without saying otherwise: see `updatedAt`).
        case running
        /// Every case of the shard is journaled.
        case done
        /// A stop rule (budget, failure policy, target down) ended it: not retried.
        case stopped
        /// Interrupted (SIGTERM, Ctrl-C): retried by the scheduler, resumes.
        case interrupted
        /// An error a retry may fix (the store, the network).
        case failed
    }

    public var shard: Int
    public var attempt: String
    public var host: String
    public var pid: Int32
    public var state: State
    public var startedAt: Date
    public var updatedAt: Date
    /// Cases in the shard.
    public var cases: Int
    /// Cases journaled by earlier attempts when this one started.
    public var resumed: Int
    /// Cases this attempt journaled.
    public var played: Int
    /// Of those, errors.
    public var errors: Int
    /// Cases earlier attempts recorded only as errors that this one kept (did not play again:
    /// started without `--retry-errors`), as `keptErrors` of `test --resume`; `nil` in states
    /// written before it was recorded.
    public var keptErrors: Int?
    public var stopReason: RunStopReason?
    /// Why it failed (masked: no secret value).
    public var message: String?

    public init(shard: Int, attempt: String, cases: Int, resumed: Int) {
        self.shard = shard
        self.attempt = attempt
        self.host = ProcessInfo.processInfo.hostName
        self.pid = getpid()
        self.state = .running
        self.startedAt = Date()
        self.updatedAt = startedAt
        self.cases = cases
        self.resumed = resumed
        self.played = 0
        self.errors = 0
    }
}

extension IndexedRun {
    /// Plans `job` into `store`: checks and spools its dataset (or generates it) in `scratch` in one
    /// pass, in `shards` shards balanced by size (fewer when there are fewer cases), and writes the spool,
    /// `job.json` and last `plan.json` to the store. A store that already holds the same job's
    /// plan (same config and dataset digests, shards and parallelism) is left as it is (a retried
    /// plan pod is harmless); another plan is refused unless `overwrite`, which first deletes
    /// everything under the store's URL.
    ///
    /// - Returns: the plan, and whether it was already there.
    public static func plan(
        job: TestJob, store: any ArtifactStore, name: String, shards: Int, parallelism: Int, overwrite: Bool = false, scratch: URL
    ) async throws -> (plan: IndexedRunPlan, existing: Bool) {
        guard shards >= 1, parallelism >= 1 else {
            throw ChatbotTesterError(.invalidConfig, "--shards and --parallelism must be at least 1", location: SourceLocation(field: "--shards"))
        }
        let digests = try job.digests()
        if await store.exists(planKey) {
            let existing = try await readPlan(from: store, name: name)
            if existing.configDigest == digests.config, existing.datasetDigest == digests.dataset, existing.shards == shards,
                existing.parallelism == parallelism
            {
                return (existing, true)
            }
            guard overwrite else {
                throw ChatbotTesterError(
                    .invalidConfig,
                    "\(name) already holds the plan of another run (run \(existing.runId): another config, dataset, --shards or --parallelism): use another --store, or --overwrite to delete it",
                    location: SourceLocation(source: name + planKey))
            }
            for key in try await store.list(prefix: "") { try await store.delete(key) }
        }
        let (dataset, _) = try await job.datasetToRun()
        var setup = try ClusterJobSetup.pipeline(config: job.config, concurrency: job.settings.concurrency)
        if case .object(var spec) = setup.job {
            spec["score"] = .bool(true)
            setup.job = .object(spec)
        }
        // One pass: the dataset checked as `test` checks it and each case spooled as written
        // (`ClusterManifest.samplesAsWritten`). `shards` shards (fewer when there are fewer cases),
        // cut where the running size crosses each one's equal share: the count depends on the
        // sample count alone, as the split rule needs (no byte bound per shard).
        let spool = try await ClusterRun.spool(
            job: job, dataset: dataset, at: scratch.appendingPathComponent("spool"), setup: setup, samplesPerShard: Int(Int32.max),
            maxShardBytes: nil, minShards: shards, cutsAsItGoes: false, checked: nil, started: nil)
        try job.writeJobRecord()
        try await store.write(contentsOf: job.output(jobRecordKey), to: jobRecordKey)
        try await spool.upload(to: store, prefix: spoolPrefix)
        let plan = IndexedRunPlan(
            runId: spool.manifest.runId, shards: shards, parallelism: parallelism, sampleCount: spool.manifest.sampleCount,
            configDigest: digests.config, datasetDigest: digests.dataset,
            expansions: IndexedRunPlan.expansionDigests(of: job.config.document, runId: spool.manifest.runId))
        try await store.write(JSONCoding.encoder(pretty: true).encode(plan), to: planKey)
        return (plan, false)
    }

    /// The job of a planned run, rebuilt from the spool's setup as a worker rebuilds it (the
    /// config as written, expanded in this environment, which must expand it as the plan's did),
    /// writing into `outputDirectory`.
    public static func job(
        plan: IndexedRunPlan, spool: ClusterSpool, components: PipelineComponents, outputDirectory: URL, events: EventBus
    ) async throws -> TestJob {
        let setup = spool.setup
        let document = try ConfigDocument.recorded(setup.job, source: setup.job["source"]?.stringValue ?? "<plan>")
        try plan.checkExpansions(of: document)
        let base = setup.job["baseDirectory"]?.stringValue.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let config = try JobConfig(document: document, baseDirectory: base)
        let settings = JobSettings(outputDirectory: outputDirectory.path, concurrency: setup.job["concurrency"]?.intValue)
        return try await TestJob.prepare(config: config, components: components, settings: settings, events: events)
    }
}
