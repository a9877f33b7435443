import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterPipeline
import ChatbotTesterRunner
import Foundation

/// Where each index of an indexed run stands (`chatbot-tester status --store URL`), from the
/// attempts' state objects.
public struct IndexedRunStatus: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        /// No attempt yet.
        case pending
        /// An attempt is playing (it updated its state within the last `staleSeconds`).
        case running
        /// Every case journaled.
        case done
        /// The last attempt stopped (a stop rule), failed, was interrupted or went silent.
        case failed
    }

    public struct Shard: Sendable, Hashable, Codable {
        public var index: Int
        public var state: State
        public var cases: Int
        /// Cases journaled, as the most advanced attempt reported them.
        public var recorded: Int
        /// Of those, errors.
        public var errors: Int
        public var attempts: Int
        /// Why it failed, for `failed`.
        public var detail: String?
    }

    /// Seconds an attempt may go without updating its state before `status` counts it lost (a
    /// killed pod, a lost node): 4 heartbeats of 15 s. `status --lost-after` sets it.
    public static let defaultLostAfterSeconds = 60.0

    public var runId: String
    public var shards: [Shard]
    public var sampleCount: Int

    /// Indexes in each state.
    public func count(_ state: State) -> Int { shards.filter { $0.state == state }.count }

    /// Reads the plan and every attempt's state. An attempt that claims to run but has not updated
    /// its state for `staleSeconds` (killed, its node lost) counts as failed.
    ///
    /// How long an attempt has been silent is the age of its state object by the store's own
    /// clock (`ArtifactStore.age(of:)`), so workers' and the reader's clocks need not agree; only a
    /// store that cannot say falls back to `now` against the `updatedAt` the worker wrote.
    public static func read(
        store: any ArtifactStore, name: String, now: Date = Date(), staleSeconds: Double = IndexedRunStatus.defaultLostAfterSeconds
    ) async throws -> IndexedRunStatus {
        let plan = try await IndexedRun.readPlan(from: store, name: name)
        var attempts: [Int: [IndexedAttemptStatus]] = [:]
        var silence: [String: Double] = [:]
        let objects = try await IndexedRun.attemptObjects(in: store, name: name)
        let ages = (try? await store.ages(of: objects.filter { $0.status.state == .running }.map(\.key))) ?? [:]
        for (key, status) in objects {
            attempts[status.shard, default: []].append(status)
            guard status.state == .running else { continue }
            silence["\(status.shard)/\(status.attempt)"] = ages[key] ?? now.timeIntervalSince(status.updatedAt)
        }
        var shards: [Shard] = []
        for index in 0..<plan.shards {
            let mine = (attempts[index] ?? []).sorted { $0.attempt < $1.attempt }
            let best = mine.max { $0.resumed + $0.played < $1.resumed + $1.played }
            var shard = Shard(
                index: index, state: .pending, cases: best?.cases ?? 0, recorded: best.map { $0.resumed + $0.played } ?? 0,
                errors: best?.errors ?? 0, attempts: mine.count)
            if mine.contains(where: { $0.state == .done }) {
                shard.state = .done
            } else if mine.contains(where: { $0.state == .running && (silence["\($0.shard)/\($0.attempt)"] ?? .infinity) < staleSeconds }) {
                shard.state = .running
            } else if let last = mine.last {
                shard.state = .failed
                switch last.state {
                case .running: shard.detail = "attempt \(last.attempt) on \(last.host) went silent at \(last.updatedAt.iso8601String)"
                case .stopped: shard.detail = "stopped: \(last.stopReason?.rawValue ?? "stopped")"
                case .interrupted: shard.detail = "interrupted"
                case .failed: shard.detail = last.message ?? "failed"
                case .done: break
                }
            }
            shards.append(shard)
        }
        return IndexedRunStatus(runId: plan.runId, shards: shards, sampleCount: plan.sampleCount)
    }
}

extension IndexedRun {
    /// Every attempt's state object, by shard index (unreadable ones are skipped).
    static func attempts(in store: any ArtifactStore, name: String) async throws -> [Int: [IndexedAttemptStatus]] {
        var out: [Int: [IndexedAttemptStatus]] = [:]
        for (_, status) in try await attemptObjects(in: store, name: name) { out[status.shard, default: []].append(status) }
        return out
    }

    /// Every attempt's state object with its key (unreadable ones are skipped).
    static func attemptObjects(in store: any ArtifactStore, name: String) async throws -> [(key: String, status: IndexedAttemptStatus)] {
        var out: [(key: String, status: IndexedAttemptStatus)] = []
        let decoder = JSONCoding.decoder()
        for key in try await store.list(prefix: "attempts/") where key.hasSuffix(".json") {
            guard let data = try? await store.read(key), let status = try? decoder.decode(IndexedAttemptStatus.self, from: data) else { continue }
            out.append((key, status))
        }
        return out
    }

    /// Merges an indexed run: every attempt's journal into `results.jsonl` and `evals.jsonl` (by
    /// byte ranges, each record once by the record key, success over error — the cluster spool's
    /// merge), `run-summary.json` (with one example message per error code), `summary.json` and
    /// every report, built in the same pass as a sharded `test` builds them (``MergePass``:
    /// `results.jsonl` is not read back) by the job's own code into `job`'s output directory, with
    /// `job.json` as `plan` recorded it. The workers' event logs stay where they wrote them
    /// (`events/shard-NNNNN/<attempt>.jsonl`); `events.jsonl` is the merge's own. Upload them with
    /// ``uploadOutputs(from:to:)``.
    ///
    /// The run counts as completed when every case is journaled; otherwise its stop reason is the
    /// one an attempt stopped on (budget, failure policy, target down), else `stopped` (indexes
    /// not run or not finished), and the exit status is 3 as for `test`.
    public static func merge(job: TestJob, plan: IndexedRunPlan, spool: ClusterSpool, store: any ArtifactStore, name: String) async throws -> JobOutcome {
        try await job.withOutputLock {
            try FileArtifactStore.atomicWrite(try await store.read(jobRecordKey), to: job.output(jobRecordKey))
            try await collectJournals(from: store, shards: plan.shards, into: spool.journalURL)
            // One pass: the merged files, the statistics, the error examples and (scored) every report.
            let pass = try await MergePass.run(spool, job: job, scoring: plan.scoring, reports: plan.scoring, tallies: true)
            let (merged, statistics, errorExamples) = (pass.merged, pass.tallied.statistics, pass.tallied.errorExamples)
            let attempts = try await attempts(in: store, name: name).values.flatMap { $0 }
            // Where the workers' events are: this merge's events.jsonl says so.
            let logs = try await store.list(prefix: "events/").count
            job.events.emit(LogEvent(.info, "the workers' events: \(logs) attempt logs under \(name)events/shard-NNNNN/<attempt>.jsonl", source: "merge"))
            var stopReason = RunStopReason.completed
            if merged < plan.sampleCount {
                stopReason = attempts.sorted { $0.attempt < $1.attempt }.compactMap { $0.state == .stopped ? $0.stopReason : nil }.first ?? .stopped
            }
            let started = attempts.map(\.startedAt).min() ?? plan.plannedAt
            let finished = attempts.map(\.updatedAt).max() ?? started
            let summary = RunSummary(
                target: job.targetName, stopReason: stopReason, statistics: statistics, resumed: 0, skipped: 0, duplicates: 0, abandoned: 0,
                played: merged, durationSeconds: max(0, finished.timeIntervalSince(started)), budgetUSD: job.runOptions.budgetUSD,
                errorExamples: errorExamples, keptErrors: keptErrors(of: attempts))
            try FileArtifactStore.atomicWrite(JSONCoding.encoder(pretty: true).encode(summary), to: job.output("run-summary.json"))
            var outcome = JobOutcome(outputDirectory: job.outputDirectory, run: summary)
            if let evaluation = pass.evaluation {
                outcome.evaluation = evaluation
            } else if plan.scoring {
                outcome.evaluation = try await job.writeReports(results: job.output("results.jsonl"), evals: job.output("evals.jsonl"))
            } else {
                outcome.evaluation = try await job.evaluate(results: job.output("results.jsonl"))
            }
            return outcome
        }
    }

    /// The errors kept from earlier sessions, as `test --resume` counts them: per index, what its
    /// latest attempt kept (the cases earlier attempts recorded only as errors, when it was started
    /// without `--retry-errors`; none when it was started with it), summed over the indexes.
    static func keptErrors(of attempts: [IndexedAttemptStatus]) -> Int {
        Dictionary(grouping: attempts, by: \.shard).values.reduce(0) { sum, mine in
            sum + (mine.max { ($0.startedAt, $0.attempt) < ($1.startedAt, $1.attempt) }?.keptErrors ?? 0)
        }
    }

    /// Streams every journal of every index, shard by shard, into one local journal file (a torn
    /// last line of a file-store journal is left out, as the store's `lines` does).
    static func collectJournals(from store: any ArtifactStore, shards: Int, into url: URL) async throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let handle = try FileHandle.opening(url, for: .truncating)
        defer { try? handle.close() }
        var buffer = Data()
        for shard in 0..<shards {
            for key in try await store.list(prefix: journalPrefix(shard: shard)) {
                for try await (_, text) in store.lines(of: key) {
                    buffer.append(contentsOf: text.utf8)
                    buffer.append(0x0A)
                    if buffer.count >= 1 << 20 {
                        try handle.write(contentsOf: buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
        try handle.write(contentsOf: buffer)
    }

    /// Copies the run's files in `directory` (every regular file at its top level but hidden ones:
    /// results, evals, summaries, reports, `events.jsonl`) to the store's root, streamed.
    public static func uploadOutputs(from directory: URL, to store: any ArtifactStore) async throws -> [String] {
        var uploaded: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where !name.hasPrefix(".") {
            var isDirectory: ObjCBool = false
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            if let files = store as? FileArtifactStore {
                // Copied, not mapped (the default maps the file: a 700 MB results file is 700 MB of RSS).
                let target = try files.url(for: name)
                guard target.standardizedFileURL.path != url.standardizedFileURL.path else { continue }
                let temp = target.deletingLastPathComponent().appendingPathComponent(".\(name).tmp-\(UUID().uuidString)")
                do {
                    try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try FileManager.default.copyItem(at: url, to: temp)
                    guard rename(temp.path, target.path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                } catch {
                    try? FileManager.default.removeItem(at: temp)
                    throw ChatbotTesterError(.io, "cannot write \(target.path)", location: SourceLocation(source: target.path), cause: error)
                }
            } else {
                try await store.write(contentsOf: url, to: name)
            }
            uploaded.append(name)
        }
        return uploaded
    }
}
