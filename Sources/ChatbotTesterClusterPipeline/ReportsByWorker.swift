import ChatbotTesterCluster
import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation

/// What a sharded `test`'s coordinator asks the worker that makes the reports in its stead to do
/// (protocol 13, `makeReports`; opaque to the cluster): put every worker's pieces together into
/// the reports in `directory`, reading from the journal only the samples they show.
///
/// Its bytes (`encoded()`): a version byte, the directory, the record count, the pieces (each
/// summary's bytes and file), then the samples (each its index, its line's start and length) —
/// little-endian integers and length-prefixed strings and bytes (`ByteCoding`), so the summaries
/// are copied, not re-encoded.
package struct ReportsOrder: Sendable, Equatable {
    /// One `writeLines` order's pieces: the summary its worker answered with, and its file.
    package struct Piece: Sendable, Equatable {
        package var summary: Data
        package var path: String
    }

    /// Where the reports go: a directory the coordinator made in its private one (the worker makes
    /// none, so one that is gone stays gone).
    package var directory: String
    /// The run's records: each one is in exactly one piece.
    package var records: Int
    package var pieces: [Piece]
    /// The samples the reports show (`EvaluationOutput.samplesShown(by:)`).
    package var samples: [Sample]

    /// A sample the reports show: its dataset index, and where its line lies in the journal
    /// (newline included; never empty).
    package struct Sample: Sendable, Equatable {
        package var index: Int
        package var line: Range<Int>
    }

    static let version: UInt8 = 1

    package func encoded() -> Data {
        var out: [UInt8] = [Self.version]
        out.reserveCapacity(64 + pieces.reduce(0) { $0 + $1.summary.count + $1.path.utf8.count + 8 } + samples.count * 24)
        ByteCoding.append(directory, to: &out)
        ByteCoding.append(UInt64(records), to: &out)
        ByteCoding.append(UInt32(pieces.count), to: &out)
        for piece in pieces {
            ByteCoding.append(UInt32(piece.summary.count), to: &out)
            out.append(contentsOf: piece.summary)
            ByteCoding.append(piece.path, to: &out)
        }
        ByteCoding.append(UInt32(samples.count), to: &out)
        for sample in samples {
            for number in [sample.index, sample.line.lowerBound, sample.line.count] { ByteCoding.append(UInt64(number), to: &out) }
        }
        return Data(out)
    }

    /// The order in `bytes` (`encoded()`); anything else — cut short, followed by more, another
    /// version, a count past what is there, a sample whose line is empty or ends past `Int.max` —
    /// is refused.
    package static func decode(_ bytes: Data) throws -> ReportsOrder {
        let order: ReportsOrder? = ByteCoding.read(bytes) { reader in
            guard reader.byte() == version, let directory = reader.string(), let records = reader.u64(), records <= UInt64(Int.max),
                let pieceCount = reader.u32(), Int(pieceCount) <= reader.remaining / 8
            else { return nil }
            var pieces: [Piece] = []
            for _ in 0..<pieceCount {
                guard let length = reader.u32(), let summary = reader.bytes(Int(length)), let path = reader.string() else { return nil }
                pieces.append(Piece(summary: Data(summary), path: path))
            }
            guard let sampleCount = reader.u32(), Int(sampleCount) == reader.remaining / 24, reader.remaining % 24 == 0 else { return nil }
            var samples: [Sample] = []
            samples.reserveCapacity(Int(sampleCount))
            for _ in 0..<sampleCount {
                guard let index = reader.u64(), let start = reader.u64(), let length = reader.u64(), index <= UInt64(Int.max), length > 0,
                    length <= UInt64(Int.max), start <= UInt64(Int.max) - length
                else { return nil }
                samples.append(Sample(index: Int(index), line: Int(start)..<Int(start + length)))
            }
            return ReportsOrder(directory: directory, records: Int(records), pieces: pieces, samples: samples)
        }
        guard let order else { throw ChatbotTesterError(.proto, "the reports' order is not one this version writes") }
        return order
    }

    /// The summaries and files of `pieces`, checked to cover the `records` records exactly once.
    static func assembly(of pieces: [Piece], records: Int) throws -> ReportPieceAssembly {
        try ReportPieceAssembly(
            pieces.map { (summary: try ReportPieceSummary.decode($0.summary), file: URL(fileURLWithPath: $0.path)) }, records: records)
    }
}

/// The samples the reports show, read back from the journal: each line at its place, through
/// `ReadWindows` (they lie close together: early indexes, journaled early), decoded as journal
/// lines are (`ClusterRecord.decode(journalLine:)`), its index checked. The coordinator's streamed
/// output and the worker that makes the reports in its stead read them the same way.
final class JournalSamples {
    private let fd: Int32
    private let path: String
    private let windows: ReadWindows
    private let decoder = JSONCoding.decoder()

    init(journal path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ChatbotTesterError(.io, "cannot open the journal: \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
        }
        self.path = path
        windows = ReadWindows(fd: fd)
    }

    deinit {
        close(fd)
    }

    /// The sample at dataset index `index`, from the journal line at `place` (newline included).
    func sample(at index: Int, place: Range<Int>?) throws -> SampleEvaluation {
        guard let place, let line = windows.read(place), line.last == 0x0A else {
            throw ChatbotTesterError(.internal, "the journal line of index \(index) cannot be read", location: SourceLocation(source: path))
        }
        let record = try ClusterRecord.decode(journalLine: line.dropLast(), decoder: decoder)
        guard record.index == index else {
            throw ChatbotTesterError(
                .internal, "the journal line at \(place.lowerBound) holds index \(record.index), not \(index)", location: SourceLocation(source: path))
        }
        return SampleEvaluation(run: record.run, evals: record.evals)
    }
}

extension PipelineReportPieceMaker {
    /// Carries out a `ReportsOrder`: the same reports the coordinator's streamed output would make
    /// from the same pieces (`EvaluationOutput.add(_:sample:)`, then `finish()`), in the order's
    /// directory, reading the samples shown from `journal` at the places the order gives.
    func makeReports(_ order: Data, journal: String) throws {
        let order = try ReportsOrder.decode(order)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: order.directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ChatbotTesterError(.io, "the reports' directory is gone", location: SourceLocation(source: order.directory))
        }
        let places = Dictionary(order.samples.map { ($0.index, $0.line) }, uniquingKeysWith: { first, _ in first })
        let assembly = try ReportsOrder.assembly(of: order.pieces, records: order.records)
        let output = try EvaluationOutput(
            assemblingPiecesIn: URL(fileURLWithPath: order.directory), descriptors: descriptors, maxErrorRate: maxErrorRate,
            options: options)
        let samples = try JournalSamples(journal: journal)
        try output.add(assembly) { try samples.sample(at: $0, place: places[$0]) }
        _ = try output.finish()
    }
}
