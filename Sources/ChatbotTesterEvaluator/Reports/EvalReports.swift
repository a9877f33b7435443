import ChatbotTesterCore
import Foundation

/// Regenerates reports from files: `results.jsonl` + `evals.jsonl` → every report.
public enum EvalReports {
    /// Streams both files, joins evaluations to their runs by sample id, rebuilds the aggregate and
    /// writes all reports into `directory`.
    ///
    /// Evaluations are expected grouped by sample in results order (as `Evaluator` writes them) and
    /// then stream. Groups in another sample order are read ahead (up to `lookaheadLimit`); a file
    /// whose evaluations are not grouped by sample at all is indexed in memory first.
    /// - Parameter descriptors: the job's metrics (names, thresholds, gates) from
    ///   `Evaluator.descriptors(for:)`; without them each metric's gate defaults from its threshold.
    /// Whether each sample's evaluations are contiguous in the file (one streaming pass; holds the
    /// ids of finished groups only).
    static func isGroupedBySample(_ url: URL) async throws -> Bool {
        var finished = IDDigestSet()
        var current: String?
        for try await entry in JSONL.read(SampleIdProbe.self, from: url) {
            guard case .success(let probe) = entry.result else { continue }
            guard probe.sampleId != current else { continue }
            if finished.contains(probe.sampleId) { return false }
            if let current { finished.insert(current) }
            current = probe.sampleId
        }
        return true
    }

    /// Reads only `sampleId` from an evaluation line (a fraction of a full decode).
    struct SampleIdProbe: Decodable, Sendable {
        var sampleId: String
    }

    /// Evaluations read ahead at most while looking for a run's group (bounds memory when the
    /// files are in different orders or a run has no evaluation).
    public static let lookaheadLimit = 50_000

    @discardableResult
    public static func write(
        results: URL, evals: URL, to directory: URL, descriptors: [MetricCommon] = [], options: ReportOptions = ReportOptions(),
        maxErrorRate: Double? = nil, events: EventBus? = nil
    ) async throws -> EvalSummary {
        let writer = try EvalReportWriter(directory: directory, options: options)
        var aggregate = EvalAggregate(metrics: descriptors)
        aggregate.maxErrorRate = maxErrorRate
        var rejected = 0
        func reject(_ error: ChatbotTesterError) {
            rejected += 1
            events?.emit(EvalInputRejected(error))
        }
        // Evaluations not grouped by sample (e.g. sorted by metric) are indexed in memory up front.
        var pending: [String: [EvalRecord]] = [:]
        let grouped = try await isGroupedBySample(evals)
        var evalIterator = JSONL.read(EvalRecord.self, from: evals).makeAsyncIterator()
        var lookahead: EvalRecord?
        if !grouped {
            while let entry = try await evalIterator.next() {
                switch entry.result {
                case .success(let eval): pending[eval.sampleId, default: []].append(eval)
                case .failure(let error): reject(error)
                }
            }
        }

        /// Reads evaluations until the group for `sampleId` is complete. When the next evaluation
        /// belongs to another sample, up to `lookaheadLimit` are read ahead and held for later runs.
        func evalsFor(_ sampleId: String) async throws -> [EvalRecord] {
            var group = pending.removeValue(forKey: sampleId) ?? []
            var scanned = 0
            while grouped {
                if lookahead == nil {
                    guard let entry = try await evalIterator.next() else { break }
                    switch entry.result {
                    case .success(let eval): lookahead = eval
                    case .failure(let error):
                        reject(error)
                        continue
                    }
                }
                let eval = lookahead!
                if eval.sampleId == sampleId {
                    group.append(eval)
                } else if !group.isEmpty || scanned >= lookaheadLimit {
                    break
                } else {
                    pending[eval.sampleId, default: []].append(eval)
                    scanned += 1
                }
                lookahead = nil
            }
            return group
        }

        for try await entry in JSONL.read(RunRecord.self, from: results) {
            switch entry.result {
            case .failure(let error):
                reject(error)
            case .success(let run):
                let group = try await evalsFor(run.sampleId)
                let sample = SampleEvaluation(run: run, evals: group)
                aggregate.add(run, evals: group)
                try writer.add(sample)
            }
        }
        // Evaluations whose run line is missing still count and are reported.
        if let last = lookahead { pending[last.sampleId, default: []].append(last) }
        while let entry = try await evalIterator.next() {
            switch entry.result {
            case .success(let eval): pending[eval.sampleId, default: []].append(eval)
            case .failure(let error): reject(error)
            }
        }
        for sampleId in pending.keys.sorted() {
            let group = pending[sampleId]!
            for eval in group { aggregate.add(eval) }
            try writer.add(SampleEvaluation(run: nil, evals: group))
        }
        return try writer.finish(aggregate: aggregate, rejectedLines: rejected)
    }
}
