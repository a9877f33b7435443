import ChatbotTesterCore
import Foundation

extension EvaluationOutput {
    /// What a `PreparedBatch` makes, taken from the output (`batchPreparing`) when the batch starts.
    public struct BatchPreparing: Sendable {
        /// Which outputs get bytes.
        public var preparing: Preparing
        /// The aggregate before any sample: the batch counts into a copy of it.
        var aggregate: EvalAggregate
        /// How many samples not passing (`report.md`, `report.html`) and passing (`report.html`)
        /// the reports still keep.
        var keepFailing: Int
        var keepPassing: Int
        /// Every sample is kept (a baseline comparison reads every evaluation).
        var keepsEvery: Bool
    }

    /// The outputs of many samples, made off the writing task into one buffer per output: the
    /// `evals.jsonl` lines, the `results.csv` rows, the `junit.xml` test cases by metric, a partial
    /// aggregate, and the few samples the reports keep. `EvaluationOutput.add(_:)` then only
    /// appends bytes and merges counts, so scoring tasks do nearly all of the work.
    ///
    /// ```swift
    /// var batch = EvaluationOutput.PreparedBatch(output.batchPreparing)   // on the writing task
    /// for sample in samples { batch.append(sample) }                       // on any task
    /// try output.add(batch)                                                // on the writing task, in order
    /// ```
    public struct PreparedBatch: Sendable {
        /// What this batch makes.
        public let preparing: BatchPreparing
        /// Samples appended.
        public private(set) var count = 0
        var evalLines: [UInt8] = []
        var csvRows: [UInt8] = []
        var junit = JUnitReportWriter.PreparedCases()
        var aggregate: EvalAggregate
        /// In order: the samples the reports may keep (every sample with `keepsEvery`).
        var kept: [SampleEvaluation] = []
        private var keptFailing = 0
        private var keptPassing = 0
        /// An evaluation `JSONEncoder` refused (`add` throws it, as writing the record would).
        var failure: (any Error)?

        /// An empty batch for an output's `batchPreparing`, taken on the writing task.
        public init(_ preparing: BatchPreparing) {
            self.preparing = preparing
            aggregate = preparing.aggregate
        }

        /// Counts `sample` and appends its bytes; safe on any task.
        public mutating func append(_ sample: SampleEvaluation) {
            count += 1
            if let run = sample.run { aggregate.add(run, evals: sample.evals) } else { sample.evals.forEach { aggregate.add($0) } }
            if preparing.preparing.evalLines {
                let evals = sample.evals
                for index in evals.indices {
                    let mark = evalLines.count
                    if FastRecordEncoding.append(evals[index], to: &evalLines) {
                        evalLines.append(0x0A)
                        continue
                    }
                    // What `JSONLWriter.write` writes for a record the byte writer does not vouch for.
                    evalLines.removeSubrange(mark...)
                    do {
                        evalLines.append(contentsOf: try JSONL.encodeLine(evals[index], encoder: JSONCoding.encoder()))
                    } catch {
                        if failure == nil { failure = error }
                    }
                }
            }
            if preparing.preparing.csv { CSVReportWriter.appendRows(for: sample, to: &csvRows) }
            if preparing.preparing.junit { JUnitReportWriter.prepare(sample, into: &junit) }
            if preparing.keepsEvery {
                kept.append(sample)
            } else if sample.outcome == .passed {
                if keptPassing < preparing.keepPassing {
                    keptPassing += 1
                    kept.append(sample)
                }
            } else if keptFailing < preparing.keepFailing {
                keptFailing += 1
                kept.append(sample)
            }
        }
    }
}
