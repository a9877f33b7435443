import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import ChatbotTesterRunner
import Foundation

/// One index of an indexed run: plays and scores one shard with no coordinator, journaling to its
/// own objects in the store as it goes (`chatbot-tester worker --store URL`).
///
/// - Resumes: the cases any earlier attempt on this index journaled (all of its attempts'
///   journals are read) are not played again, and the dollars they cost count against this
///   shard's budget.
/// - Refuses (`.invalidConfig`) an environment that expands the config differently from the plan.
/// - Limits: this index's share of the run's (``IndexedRunPlan/Share``), applied from the plan.
/// - Journals a record once it is finished; syncs every `syncRecords` records or `syncSeconds`
///   seconds (each sync is one part object on S3), so a killed attempt loses at most that much
///   work — replayed by the next attempt, never recorded twice by the merge.
/// - With `retryErrors` (`worker --retry-errors`, as `test --resume --retry-errors`), the cases
///   earlier attempts recorded only as errors are played again; the merge keeps a success over
///   an error.
/// - Emits the Runner's and the Evaluator's events (`run.started`, `run.sample.started`,
///   `run.sample.completed`/`failed`, `evaluate.sample.completed`, `run.completed`, …) on the bus
///   it is given, and logs every event of the attempt to the store
///   (`events/shard-NNNNN/<attempt>.jsonl`, masked), as `events.jsonl` of a single-process run.
public struct IndexedWorker: Sendable {
    public var store: any ArtifactStore
    /// The store's URL, for messages.
    public var name: String
    public var shard: Int
    /// A private local directory for the fetched spool and the backends' state.
    public var scratch: URL
    public var syncRecords = 256
    public var syncSeconds = 1.0
    /// Seconds between the attempt's state updates (`status` calls an attempt lost after
    /// `--lost-after`, 60 s by default: keep it well above this).
    public var heartbeatSeconds = 15.0
    /// Play again the cases earlier attempts recorded only as errors.
    public var retryErrors = false
    /// Seconds between syncs of the attempt's event log in the store.
    public var eventSyncSeconds = 5.0

    public init(store: any ArtifactStore, name: String, shard: Int, scratch: URL) {
        self.store = store
        self.name = name
        self.shard = shard
        self.scratch = scratch
    }

    /// Plays the shard; returns this attempt's final state (`done`, `stopped`, `interrupted`,
    /// `failed`), which is also in the store.
    ///
    /// - Throws: `.invalidConfig` / `.invalidInput` for what a retry cannot fix (no plan, an index
    ///   outside it, a damaged spool, an environment that expands differently, a bad config);
    ///   other errors (the store unreachable) may pass on a retry.
    public func run(registry: BackendRegistry, factory: ShardProcessorFactory, events: EventBus = EventBus()) async throws -> IndexedAttemptStatus {
        let attempt = IndexedRun.newAttemptId()
        // The attempt's own bus: its events reach the caller's bus and the store's event log.
        let bus = EventBus()
        bus.subscribe(ForwardingEventSink(target: events))
        do {
            let log = try await store.openJournal(IndexedRun.eventsPrefix(shard: shard) + attempt + ".jsonl")
            bus.subscribe(StoreEventLog(journal: log, syncSeconds: eventSyncSeconds))
        } catch {
            events.emit(LogEvent(.warning, "cannot log this attempt's events to the store: \(error)", source: name))
        }
        do {
            let status = try await play(attempt: attempt, registry: registry, factory: factory, events: bus)
            await bus.shutdown()
            return status
        } catch {
            await bus.shutdown()
            throw error
        }
    }

    private func play(attempt: String, registry: BackendRegistry, factory: ShardProcessorFactory, events: EventBus) async throws -> IndexedAttemptStatus {
        let plan = try await IndexedRun.readPlan(from: store, name: name)
        guard shard < plan.shards else {
            throw ChatbotTesterError(
                .invalidConfig,
                "shard index \(shard) is outside the plan's \(plan.shards) shards (0…\(plan.shards - 1)): the Job's completions (the array's size) must equal plan --shards",
                location: SourceLocation(source: name + IndexedRun.planKey, field: "shards"))
        }
        let spool = try await ClusterSpool.download(
            from: store, prefix: IndexedRun.spoolPrefix, name: name, into: scratch.appendingPathComponent("spool"), shards: [shard])
        let source = spool.setup.job["source"]?.stringValue ?? name
        try plan.checkExpansions(of: ConfigDocument.recorded(spool.setup.job, source: source))
        guard let entry = spool.manifest.shards.first(where: { $0.id == shard }) else {
            // Fewer cases than shards: this index has nothing to play.
            var status = IndexedAttemptStatus(shard: shard, attempt: attempt, cases: 0, resumed: 0)
            status.state = .done
            try await write(status)
            return status
        }
        let samples = try await spool.samplesOffPool(ofShard: shard)
        let earlier = try await journaled(ids: Set(entry.sampleIds), events: events)
        let done = earlier.done, spent = earlier.spentUSD
        if earlier.errorOnly > 0 {
            events.emit(RunResumeErrorsEvent(kept: retryErrors ? 0 : earlier.errorOnly, retried: retryErrors ? earlier.errorOnly : 0))
            if !retryErrors {
                let plural = earlier.errorOnly == 1 ? "" : "s"
                events.emit(
                    LogEvent(
                        .warning, "resuming: keeping \(earlier.errorOnly) recorded error\(plural); add --retry-errors to play those cases again",
                        source: "worker"))
            }
        }

        let share = IndexedRunPlan.Share(parallelism: plan.parallelism, fraction: Double(entry.count) / Double(max(1, plan.sampleCount)))
        let state = try PrivateDirectory.verifyOrCreate(scratch.appendingPathComponent("state"))
        let context = ClusterWorkerContext(
            events: events,
            makeRateBudget: { instance, limits, clock in
                let mine = share.rate(limits)
                events.emit(LogEvent(.info, Self.describe(share: mine, of: instance, parallelism: share.parallelism), source: "worker"))
                return LocalRateBudget(limits: mine, clock: clock)
            }, stateDirectory: state)
        let processor = try await factory(spool.setup, registry, context)
        let options = (processor as? PipelineShardProcessor)?.job.runOptions
        let targetName = (processor as? PipelineShardProcessor)?.job.targetName ?? ""
        var limits = RunLimits(
            budgetUSD: share.budget(options?.budgetUSD), failurePolicy: share.failurePolicy(options?.failurePolicy ?? .never), spentUSD: spent)
        let concurrency = share.concurrency(options?.concurrency ?? 8)

        var initial = IndexedAttemptStatus(shard: shard, attempt: attempt, cases: entry.count, resumed: done.count)
        initial.keptErrors = retryErrors ? 0 : earlier.errorOnly
        let status = Locked(initial)
        try await write(status.current)
        let started = ContinuousClock.now
        events.emit(RunStartedEvent(target: targetName, total: entry.count, concurrency: concurrency, resumed: done.count))
        if !done.isEmpty { events.emit(RunSamplesSkippedEvent(count: done.count, duplicates: 0)) }
        let scoring = (processor as? PipelineShardProcessor)?.scoring ?? plan.scoring
        if scoring { events.emit(EvalStageChanged(started: true, total: entry.count - done.count)) }
        var statistics = RunStatistics()
        var errorExamples: [String: String] = [:]
        let heartbeat = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(heartbeatSeconds * 1e9))
                guard !Task.isCancelled else { return }
                let snapshot = status.withLock { value -> IndexedAttemptStatus in
                    value.updatedAt = Date()
                    return value
                }
                try? await write(snapshot)
            }
        }
        defer { heartbeat.cancel() }

        let todo = samples.filter { !done.contains($0.sample.id) }
        let journal = try await store.openJournal(IndexedRun.journalPrefix(shard: shard) + attempt + ".jsonl")
        let encoder = JSONCoding.encoder()
        var stopReason = limits.exhaustedBeforeStart
        var failure: (any Error)?
        var unsynced = 0
        var lastSync = ContinuousClock.now
        let play: @Sendable (IndexedSample) async -> Result<ClusterRecord?, any Error> = { item in
            events.emit(RunSampleStartedEvent(sampleId: item.sample.id, index: item.index))
            let box = Locked<ClusterRecord?>(nil)
            do {
                try await processor.process([item]) { record in box.withLock { $0 = record } }
            } catch {
                return .failure(error)
            }
            return .success(box.current)
        }
        await withTaskGroup(of: Result<ClusterRecord?, any Error>.self) { group in
            var next = 0
            while next < min(concurrency, todo.count), stopReason == nil {
                let item = todo[next]
                group.addTask { await play(item) }
                next += 1
            }
            while let result = await group.next() {
                do {
                    if let record = try result.get() {
                        if Task.isCancelled, record.run.status == .error {
                            // Failed because the attempt is being torn down: not data; the next attempt plays it.
                        } else if let reason = RunStopReason.stopping(for: record.run.error) {
                            // A backend is down: not data about the bot. Stop; a later attempt plays it.
                            stopReason = stopReason ?? reason
                        } else {
                            try await journal.append(encoder.encode(record))
                            unsynced += 1
                            statistics.add(record.run)
                            if let error = record.run.error, errorExamples[error.code] == nil { errorExamples[error.code] = error.message }
                            PipelineShardProcessor.emitFinished(run: record.run, evals: record.evals, scoring: scoring, on: events)
                            status.withLock { value in
                                value.played += 1
                                if record.run.status == .error { value.errors += 1 }
                            }
                            if let reason = limits.recordFinished(failed: record.run.status == .error, costUSD: record.run.costUSD) {
                                stopReason = stopReason ?? reason
                            }
                            if unsynced >= syncRecords || ContinuousClock.now - lastSync >= .seconds(syncSeconds) {
                                try await journal.sync()
                                unsynced = 0
                                lastSync = ContinuousClock.now
                            }
                        }
                    }
                } catch {
                    failure = failure ?? error
                    stopReason = stopReason ?? .error
                }
                if stopReason == nil, !Task.isCancelled, next < todo.count {
                    let item = todo[next]
                    group.addTask { await play(item) }
                    next += 1
                }
            }
        }
        do {
            try await journal.close()
        } catch {
            failure = failure ?? error
        }
        heartbeat.cancel()
        let final = status.withLock { value -> IndexedAttemptStatus in
            value.updatedAt = Date()
            if let failure {
                value.state = .failed
                value.message = SecretMasker.shared.mask("\(failure)")
            } else if Task.isCancelled {
                value.state = .interrupted
                value.stopReason = .cancelled
            } else if let stopReason {
                value.state = .stopped
                value.stopReason = stopReason
            } else {
                value.state = .done
                value.stopReason = .completed
            }
            return value
        }
        if scoring { events.emit(EvalStageChanged(started: false)) }
        events.emit(
            RunCompletedEvent(
                summary: RunSummary(
                    target: targetName, stopReason: final.stopReason ?? .error, error: failure.map(ErrorInfo.init),
                    statistics: statistics, resumed: done.count, skipped: done.count, duplicates: 0, abandoned: 0, played: final.played,
                    durationSeconds: Self.seconds(ContinuousClock.now - started), budgetUSD: limits.budgetUSD,
                    errorExamples: errorExamples, keptErrors: final.keptErrors ?? 0)))
        // A fresh task: the final state is written even when this one was cancelled.
        let store = store, key = statusKey(attempt)
        try await Task { try await store.write(JSONCoding.encoder(pretty: true).encode(final), to: key) }.value
        return final
    }

    /// `rate limit of bot for this worker: 15 requests/min, 100000 tokens/min (1/4 of the run's)`:
    /// what the backend's rate limiter was built with (an info event, in the attempt's event log).
    static func describe(share limits: RateLimits, of instance: String, parallelism: Int) -> String {
        func figure(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(format: "%.3f", value) }
        let parts = [limits.requestsPerMinute.map { "\(figure($0)) requests/min" }, limits.tokensPerMinute.map { "\(figure($0)) tokens/min" }]
        return "rate limit of \(instance) for this worker: \(parts.compactMap { $0 }.joined(separator: ", ")) (1/\(parallelism) of the run's)"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func statusKey(_ attempt: String) -> String { IndexedRun.attemptPrefix(shard: shard) + attempt + ".json" }

    func write(_ status: IndexedAttemptStatus) async throws {
        try await store.write(JSONCoding.encoder(pretty: true).encode(status), to: statusKey(status.attempt))
    }

    /// What earlier attempts on this index journaled.
    struct Journaled {
        /// Cases not to play again: every journaled case, or with `retryErrors` those with a success.
        var done = Set<String>()
        /// Dollars every journaled record cost (they count against this shard's budget).
        var spentUSD = 0.0
        /// Cases whose only records are errors (kept, or played again with `retryErrors`).
        var errorOnly = 0
    }

    /// The cases of this shard that earlier attempts journaled, and what they cost. Damaged lines
    /// (a torn write cannot happen: parts and synced lines are whole) are skipped with a warning.
    func journaled(ids: Set<String>, events: EventBus) async throws -> Journaled {
        var succeeded = Set<String>()
        var failed = Set<String>()
        var out = Journaled()
        for key in try await store.list(prefix: IndexedRun.journalPrefix(shard: shard)) {
            for try await (line, text) in store.lines(of: key) {
                guard let envelope = try? ClusterRecordEnvelope(scanning: Data(text.utf8)), envelope.runSampleId == envelope.sampleId,
                    ids.contains(envelope.sampleId)
                else {
                    events.emit(LogEvent(.warning, "journal line \(line) is damaged and was skipped; its case runs again", source: "\(name)\(key):\(line)"))
                    continue
                }
                if envelope.failed { failed.insert(envelope.sampleId) } else { succeeded.insert(envelope.sampleId) }
                out.spentUSD += envelope.costUSD ?? 0
            }
        }
        failed.subtract(succeeded)
        out.errorOnly = failed.count
        out.done = retryErrors ? succeeded : succeeded.union(failed)
        return out
    }
}
