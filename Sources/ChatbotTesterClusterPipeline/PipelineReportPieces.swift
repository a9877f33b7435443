import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import Foundation

/// The reports' pieces a pipeline worker makes of the records it writes (protocol 12): each
/// record's report part (`EvaluationOutput.reportPart(for:)`, kept by the worker since it scored
/// the record) counted into a partial aggregate, its `results.csv` rows and `junit.xml` test cases
/// written into the order's pieces file (`ReportPieceWriter`); the answer carries the summary
/// (`ReportPieceSummary`) the coordinator's streamed output puts together.
///
/// Asked to (protocol 13), it also puts every worker's pieces together into the reports for the
/// coordinator (`makeReports(_:journal:)`, in ReportsByWorker.swift).
struct PipelineReportPieceMaker: ClusterReportPieceMaker {
    /// The aggregate before any record: the job's metrics listed, its run gate (as the
    /// coordinator's output starts it).
    let aggregate: EvalAggregate
    /// The job's metrics and run gate, and its reports' options (as the coordinator's output has them).
    let descriptors: [MetricCommon]
    let maxErrorRate: Double?
    let options: ReportOptions

    init(job: TestJob) {
        descriptors = job.evaluator.descriptors
        maxErrorRate = job.evaluator.maxErrorRate
        options = job.reportOptions
        var aggregate = EvalAggregate(metrics: descriptors)
        aggregate.maxErrorRate = maxErrorRate
        self.aggregate = aggregate
    }

    func begin(path: String) throws -> any ClusterReportPieceBatch {
        Batch(writer: try ReportPieceWriter(path: path, aggregate: aggregate, csv: true, junit: true))
    }

    /// One order's pieces.
    final class Batch: ClusterReportPieceBatch {
        let writer: ReportPieceWriter

        init(writer: ReportPieceWriter) {
            self.writer = writer
        }

        func add(index: Int, evalCount: Int, part: UnsafeRawBufferPointer) throws {
            try writer.add(index: index, evalCount: evalCount, part: part)
        }

        func finish() throws -> Data {
            try writer.finish().encoded()
        }
    }
}

extension PipelineShardProcessor {
    /// A scoring worker makes the reports' pieces of the records it writes; one that only plays
    /// its cases (`run`) makes none.
    public var reportPieceMaker: (any ClusterReportPieceMaker)? {
        scoring ? PipelineReportPieceMaker(job: job) : nil
    }
}
