import ChatbotTesterCore
import Foundation

extension ClusterMessage {
    /// One run of records a worker writes (protocol 11; for the dataset's complete prefix while the
    /// run plays, for the rest at its end): the records at
    /// dataset indexes `first ..< first + count`, every one of them journaled by that worker, whose
    /// `results.jsonl` lines go from `resultsOffset` on and whose `evals.jsonl` lines from
    /// `evalsOffset` on, one after the other in dataset order.
    public struct LineRun: Sendable, Hashable {
        public var first: Int
        public var count: Int
        public var resultsOffset: Int
        public var evalsOffset: Int

        public init(first: Int, count: Int, resultsOffset: Int, evalsOffset: Int) {
            self.first = first
            self.count = count
            self.resultsOffset = resultsOffset
            self.evalsOffset = evalsOffset
        }
    }

    /// The coordinator asks a worker to write its records' lines into the run's outputs (protocol
    /// 11): each record's `run` value and its evaluations, copied from the line the worker
    /// appended to the journal, to the places the coordinator computed from every worker's frames
    /// (a prefix sum in dataset order). The files exist, at their final size; the worker writes
    /// with `pwrite`, so workers write their runs at once. It answers `linesWritten`.
    public struct WriteLines: Sendable, Hashable, Codable {
        /// The `results.jsonl` being made (the coordinator's private directory in the output).
        public var results: String
        /// The `evals.jsonl` being made; nil when the run is not scored.
        public var evals: String?
        /// The runs, in dataset order.
        public var runs: [LineRun]
        /// A file (made empty by the coordinator) to write these records' share of the reports
        /// into, with the run's `ClusterReportPieceMaker` (protocol 12); the answer then carries the
        /// maker's summary. `nil`: lines only.
        public var pieces: String?

        public init(results: String, evals: String?, runs: [LineRun], pieces: String? = nil) {
            self.results = results
            self.evals = evals
            self.runs = runs
            self.pieces = pieces
        }

        private enum CodingKeys: String, CodingKey, CaseIterable { case results, evals, runs, pieces }

        /// The runs travel as one flat array of four integers each (`[first, count, results
        /// offset, evals offset, …]`); a run with a negative number, no record, or one that does not
        /// come after the one before it is refused.
        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            results = try c.decode(String.self, forKey: .results)
            evals = try c.decodeIfPresent(String.self, forKey: .evals)
            pieces = try c.decodeIfPresent(String.self, forKey: .pieces)
            let flat = try c.decode([Int].self, forKey: .runs)
            guard flat.count % 4 == 0 else {
                throw DecodingError.dataCorruptedError(forKey: .runs, in: c, debugDescription: "\(flat.count) numbers are not runs of four")
            }
            var runs: [LineRun] = []
            runs.reserveCapacity(flat.count / 4)
            var next = 0
            for at in stride(from: 0, to: flat.count, by: 4) {
                let run = LineRun(first: flat[at], count: flat[at + 1], resultsOffset: flat[at + 2], evalsOffset: flat[at + 3])
                guard run.first >= next, run.count > 0, run.count <= Int(Int32.max), run.resultsOffset >= 0, run.evalsOffset >= 0,
                    run.first <= Int.max - run.count
                else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .runs, in: c, debugDescription: "run \(at / 4) (\(flat[at..<(at + 4)].map(String.init).joined(separator: ", "))) is not a run after index \(next)")
                }
                next = run.first + run.count
                runs.append(run)
            }
            self.runs = runs
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(results, forKey: .results)
            try c.encodeIfPresent(evals, forKey: .evals)
            try c.encodeIfPresent(pieces, forKey: .pieces)
            var flat: [Int] = []
            flat.reserveCapacity(runs.count * 4)
            for run in runs { flat += [run.first, run.count, run.resultsOffset, run.evalsOffset] }
            try c.encode(flat, forKey: .runs)
        }
    }

    /// A worker's answer to `writeLines`: how many records and bytes it wrote, or why it could not
    /// (the coordinator then gives its streamed output up and the merge writes the files from the
    /// journal).
    public struct LinesWritten: Sendable, Hashable, Codable {
        public var records: Int
        public var resultsBytes: Int
        public var evalsBytes: Int
        /// Why not every line was written; nil when every one was.
        public var failure: String?
        /// The report pieces' summary, when the order named a `pieces` file (opaque to the
        /// protocol: the `ClusterReportPieceBatch`'s bytes).
        public var pieces: Data?

        public init(records: Int, resultsBytes: Int, evalsBytes: Int, failure: String? = nil, pieces: Data? = nil) {
            self.records = records
            self.resultsBytes = resultsBytes
            self.evalsBytes = evalsBytes
            self.failure = failure
            self.pieces = pieces
        }
    }

    /// The coordinator asks one worker, once every line is written, to put the reports' pieces
    /// together into the reports (protocol 13) with the run's `ClusterReportPieceMaker`
    /// (`makeReports(_:journal:)`), instead of doing it itself. It answers `reportsMade`; until
    /// then the coordinator keeps it, and when it fails, leaves or takes too long, the coordinator
    /// makes the reports itself.
    public struct MakeReports: Sendable, Hashable, Codable {
        /// What to make, opaque to the protocol: made by the coordinator's journal sink
        /// (`ClusterWorkerWrittenLines.reportsOrder()`) for the run's piece maker.
        public var order: Data

        public init(order: Data) {
            self.order = order
        }
    }

    /// A worker's answer to `makeReports`.
    public struct ReportsMade: Sendable, Hashable, Codable {
        /// Why the reports were not made; nil when they were.
        public var failure: String?

        public init(failure: String? = nil) {
            self.failure = failure
        }
    }
}
