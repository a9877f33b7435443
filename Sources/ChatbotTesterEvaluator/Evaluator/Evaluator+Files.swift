import ChatbotTesterCore
import Foundation

extension Evaluator {
    /// What `evaluateFile` produced.
    public struct FileOutcome: Sendable {
        /// The verdict, gates and aggregate (also in `summary.json`).
        public var summary: EvalSummary
        /// The `evals.jsonl` written.
        public var evals: URL
        /// Result lines that could not be read (skipped; each also emitted as `EvalInputRejected`).
        public var rejected: [ChatbotTesterError]
        /// The comparison with `baselineEvals`, when one was given (also in the reports).
        public var comparison: RunComparison?
    }

    /// `chatbot-tester evaluate` in one call: streams `results` (a `results.jsonl`), writes
    /// `evals.jsonl` (grouped by sample, in results order) and every report into `outputDirectory`.
    ///
    /// A result line that cannot be decoded is skipped and reported, never fatal. The exit code is
    /// `outcome.summary.passed ? 0 : 1`.
    /// - Parameter baselineEvals: a baseline run's `evals.jsonl`; the comparison is built in the same
    ///   pass and added to `report.md`/`report.html` (and returned), so no second pass is needed.
    public func evaluateFile(
        results: URL, outputDirectory: URL, options: ReportOptions = ReportOptions(), baselineEvals: URL? = nil
    ) async throws -> FileOutcome {
        try await evaluateFile(
            results: results, outputDirectory: outputDirectory, options: options, baselineEvals: baselineEvals,
            chunkBytes: Self.chunkBytes)
    }

    /// The bytes read for each batch of `evaluateFile` with deterministic metrics (its lines are
    /// decoded and scored by one task): 512 KiB, about 500 records of a single-turn run.
    static let chunkBytes = 1 << 19

    /// `evaluateFile` with the size of its read chunks (tests use small ones: many batches).
    func evaluateFile(
        results: URL, outputDirectory: URL, options: ReportOptions, baselineEvals: URL?, chunkBytes: Int
    ) async throws -> FileOutcome {
        let output = try await EvaluationOutput(
            directory: outputDirectory, descriptors: descriptors, maxErrorRate: maxErrorRate, options: options, baselineEvals: baselineEvals,
            events: events)
        let rejected = Locked<[ChatbotTesterError]>([])
        let events = self.events
        let reject: @Sendable (ChatbotTesterError) -> Void = { error in
            rejected.withLock { $0.append(error) }
            events.emit(EvalInputRejected(error))
        }
        do {
            if isSynchronous {
                try await evaluateInBatches(results: results, output: output, chunkBytes: chunkBytes, reject: reject)
            } else {
                let runs = JSONL.read(RunRecord.self, from: results).compactMap { entry -> RunRecord? in
                    switch entry.result {
                    case .success(let run): return run
                    case .failure(let error):
                        reject(error)
                        return nil
                    }
                }
                _ = try await evaluate(runs) { sample in try output.add(sample) }
            }
        } catch {
            output.abandon()
            throw error
        }
        let bad = rejected.current
        output.rejectedLines = bad.count
        let (summary, compared) = try output.finish()
        return FileOutcome(summary: summary, evals: output.evalsURL, rejected: bad, comparison: compared)
    }

    /// One batch of lines decoded and scored: its outputs, and its events in line order.
    private struct ScoredBatch: Sendable {
        var prepared: EvaluationOutput.PreparedBatch
        var notices: [Notice] = []
    }

    /// An event of a batch: a sample's progress, or a line that could not be read.
    private enum Notice: Sendable {
        case completed(EvalSampleCompleted)
        case rejected(ChatbotTesterError)
    }

    /// Deterministic metrics over a results file: lines are read in batches (the lines of each
    /// `chunkBytes` read), each batch decoded, scored and turned into output bytes by one task —
    /// a few in flight, so decoding and scoring use every core — and the batches go to `output`
    /// strictly in file order (so every file is what one pass in order writes, and rejected lines
    /// are reported in line order), with the same events as `evaluate(_:onSample:)`.
    private func evaluateInBatches(
        results: URL, output: EvaluationOutput, chunkBytes: Int, reject: (ChatbotTesterError) -> Void
    ) async throws {
        events.emit(EvalStageChanged(started: true))
        let source = results.path
        let window = 2 * max(2, AvailableCores.count)
        try await withThrowingTaskGroup(of: (Int, ScoredBatch).self) { group in
            var batches = JSONL.lineBatches(of: results, chunkSize: chunkBytes, maxLineBytes: JSONL.maxRecordLineBytes).makeAsyncIterator()
            var submitted = 0
            var exhausted = false
            // Scored batches by submission order, until every earlier one is emitted.
            var ready = ReorderBuffer<ScoredBatch>(limit: window, maxSpan: window)
            while true {
                while !exhausted, submitted - ready.next < window {
                    guard let batch = try await batches.next() else {
                        exhausted = true
                        break
                    }
                    let index = submitted
                    // Taken now: what the reports still keep only shrinks while this batch is scored.
                    let preparing = output.batchPreparing
                    // Progress events are made only when a sink listens.
                    let progress = events.hasSubscribers
                    group.addTask { (index, self.scoreBatch(batch, source: source, preparing: preparing, progress: progress)) }
                    submitted += 1
                }
                guard let (index, scored) = try await group.next() else { break }
                let inserted = ready.insert(scored, at: index)
                assert(inserted == .accepted, "fewer than `window` are submitted and not emitted")
                try Task.checkCancellation()
                while let scored = ready.popNext() {
                    for notice in scored.notices {
                        switch notice {
                        case .rejected(let error): reject(error)
                        case .completed(let completed): events.emit(completed)
                        }
                    }
                    try output.add(scored.prepared)
                }
            }
        }
        events.emit(EvalStageChanged(started: false))
    }

    /// Decodes and scores one batch of result lines (synchronous metrics only) into one
    /// `PreparedBatch`, with its progress events (`progress`) and rejected lines in line order.
    private func scoreBatch(
        _ batch: [(line: Int, bytes: Data)], source: String, preparing: EvaluationOutput.BatchPreparing, progress: Bool
    ) -> ScoredBatch {
        let decoder = JSONCoding.decoder()
        var scored = ScoredBatch(prepared: EvaluationOutput.PreparedBatch(preparing))
        for (line, bytes) in batch {
            switch JSONL.decode(RunRecord.self, from: bytes, source: source, line: line, decoder: decoder) {
            case .success(let run):
                let sample = SampleEvaluation(run: run, evals: evaluateNow(run) ?? [])
                if progress { scored.notices.append(.completed(Self.completed(sample))) }
                scored.prepared.append(sample)
            case .failure(let error): scored.notices.append(.rejected(error))
            }
        }
        return scored
    }

    /// The shared options (names, thresholds, gates) of metric specs, without building the metrics
    /// or touching backends: what `EvalReports.write` needs to regenerate reports with the job's gates.
    public static func descriptors(for specs: [ComponentSpec], registry: MetricRegistry = .builtinMetrics) throws -> [MetricCommon] {
        try zip(specs, instanceNames(specs)).map { spec, name in
            let context = ComponentContext(instanceName: name, section: "evaluate.metrics")
            try registry.validate(spec, context: context)
            let defaultThreshold = BuiltinMetrics.defaultThreshold(for: spec.type)
            return try MetricCommon(type: spec.type, options: ComponentOptions(spec.options, context: context), context: context, defaultThreshold: defaultThreshold)
        }
    }
}
