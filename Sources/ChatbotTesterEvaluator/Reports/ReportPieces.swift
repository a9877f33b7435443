import ChatbotTesterCore
import Foundation

// MARK: - The reports' pieces a sharded run's workers make

/// What a cluster worker made of the report parts of the records it was asked to write
/// (`ReportPieceWriter`): its records' `results.csv` rows and `junit.xml` test cases, written into a
/// pieces file of its own, where they are in that file, each record's outcome, and the partial
/// aggregate of those records. The coordinator puts every worker's summaries together
/// (`ReportPieceAssembly`) instead of reading each record's part itself.
///
/// Travels as bytes (`encoded()`, `decode(_:)`) inside the worker's answer; the coordinator checks
/// it against the run before it uses a byte of it.
public struct ReportPieceSummary: Sendable, Hashable {
    /// One run of consecutive dataset indexes.
    public struct Block: Sendable, Hashable {
        /// The first dataset index and how many records follow it.
        public var first: Int
        public var count: Int
        /// One byte a record, in order: its outcome (`ReportPieceSummary.outcomeCode`).
        public var outcomes: Data
        /// Where the block's `results.csv` rows are in the pieces file, as flat `[start, end, …]`
        /// ranges in order.
        public var csv: [Int]
        /// The block's test cases per suite (metric), in the order the block first names them.
        public var suites: [Suite]
    }

    /// One suite's test cases in a block.
    public struct Suite: Sendable, Hashable {
        public var metric: String
        /// Flat `[start, end, …]` ranges of the pieces file, in order.
        public var ranges: [Int]
        public var counts: JUnitReportWriter.SuiteCounts
    }

    /// The aggregate of every record of `blocks`.
    public var aggregate: EvalAggregate
    /// In dataset order.
    public var blocks: [Block]

    /// The outcomes in the order of their byte codes.
    static let outcomes: [SampleEvaluation.Outcome] = [.error, .failed, .unmeasured, .passed]

    /// The byte an outcome travels as.
    static func outcomeCode(_ outcome: SampleEvaluation.Outcome) -> UInt8 {
        UInt8(outcomes.firstIndex(of: outcome)!)
    }

    /// The version byte of `encoded()`.
    static let version: UInt8 = 1

    /// The summary's bytes: `[1][u32 length][the aggregate's JSON][u32 blocks]`, then per block
    /// `[u64 first][u32 count][outcomes][ranges: csv][u32 suites]` and per suite `[metric][ranges]
    /// [u64 tests][u64 failures][u64 errors][u64 skipped][i64 time units][i64 units per one]`
    /// (integers little-endian, strings and ranges as `[u32 count]` and their bytes or `u64`s): the
    /// outcomes travel as bytes, not as base64 in JSON.
    public func encoded() throws -> Data {
        var out: [UInt8] = [Self.version]
        let aggregate = try JSONEncoder().encode(self.aggregate)
        ByteCoding.append(UInt32(aggregate.count), to: &out)
        out.append(contentsOf: aggregate)
        ByteCoding.append(UInt32(blocks.count), to: &out)
        func ranges(_ ranges: [Int]) {
            ByteCoding.append(UInt32(ranges.count), to: &out)
            for value in ranges { ByteCoding.append(UInt64(value), to: &out) }
        }
        for block in blocks {
            ByteCoding.append(UInt64(block.first), to: &out)
            ByteCoding.append(UInt32(block.count), to: &out)
            out.append(contentsOf: block.outcomes)
            ranges(block.csv)
            ByteCoding.append(UInt32(block.suites.count), to: &out)
            for suite in block.suites {
                ByteCoding.append(suite.metric, to: &out)
                ranges(suite.ranges)
                for count in [suite.counts.tests, suite.counts.failures, suite.counts.errors, suite.counts.skipped] {
                    ByteCoding.append(UInt64(count), to: &out)
                }
                ByteCoding.append(suite.counts.time.units, to: &out)
                ByteCoding.append(suite.counts.time.unitsPerOne, to: &out)
            }
        }
        return Data(out)
    }

    /// A summary from its bytes (`encoded()`).
    /// - Throws: when they are cut short, hold bytes after the summary, or a count, index or range
    ///   is out of bounds.
    public static func decode(_ bytes: Data) throws -> ReportPieceSummary {
        struct Malformed: Error, CustomStringConvertible {
            var description: String
        }
        func malformed(_ what: String) -> Malformed { Malformed(description: "malformed report pieces summary: \(what)") }
        return try ByteCoding.read(bytes) { reader in
            guard reader.byte() == version, let length = reader.u32(), let json = reader.bytes(Int(length)) else { throw malformed("its head") }
            let aggregate = try JSONCoding.decoder().decode(EvalAggregate.self, from: Data(json))
            guard let count = reader.u32(), Int(count) <= reader.remaining / 16 else { throw malformed("its block count") }
            func number(_ limit: UInt64 = UInt64(Int32.max) << 16) throws -> Int {
                guard let value = reader.u64(), value <= limit else { throw malformed("a number out of range") }
                return Int(value)
            }
            func ranges() throws -> [Int] {
                guard let count = reader.u32(), Int(count) <= reader.remaining / 8 else { throw malformed("a range count") }
                return try (0..<Int(count)).map { _ in try number() }
            }
            var blocks: [Block] = []
            for _ in 0..<count {
                let first = try number()
                guard let records = reader.u32(), let outcomes = reader.bytes(Int(records)) else { throw malformed("a block's head") }
                var block = Block(first: first, count: Int(records), outcomes: Data(outcomes), csv: [], suites: [])
                block.csv = try ranges()
                guard let suites = reader.u32(), Int(suites) <= reader.remaining / 40 else { throw malformed("a suite count") }
                for _ in 0..<suites {
                    guard let metric = reader.string() else { throw malformed("a suite's metric") }
                    let pieces = try ranges()
                    var counts = JUnitReportWriter.SuiteCounts()
                    counts.tests = try number()
                    counts.failures = try number()
                    counts.errors = try number()
                    counts.skipped = try number()
                    guard let units = reader.u64(), let perOne = reader.u64(), Int64(bitPattern: perOne) > 0 else { throw malformed("a suite's time") }
                    counts.time = ExactSum(units: Int64(bitPattern: units), unitsPerOne: Int64(bitPattern: perOne))
                    block.suites.append(Suite(metric: metric, ranges: pieces, counts: counts))
                }
                blocks.append(block)
            }
            guard reader.remaining == 0 else { throw malformed("\(reader.remaining) bytes after it") }
            return ReportPieceSummary(aggregate: aggregate, blocks: blocks)
        }
    }
}

/// Makes a worker's report pieces (see `ReportPieceSummary`): fed each record's report part
/// (`EvaluationOutput.reportPart(for:)`) in dataset order, it counts the record into its aggregate,
/// appends its CSV rows and test cases to the pieces file, and notes its outcome. Not thread-safe:
/// one writer per order, on one thread.
public final class ReportPieceWriter {
    private let fd: Int32
    private let path: String
    private let writesCSV: Bool
    private let writesJUnit: Bool
    private var aggregate: EvalAggregate
    private var blocks: [ReportPieceSummary.Block] = []
    /// The file's size so far.
    private var fileEnd = 0
    /// The open block's pieces: the ranges of the file written so far, and the bytes not written
    /// yet (each piece's bytes are gathered apart, so a block's rows are one range, not one a record).
    private var csv: [Int] = []
    private var csvBuffer: [UInt8] = []
    private var suites: [ReportPieceSummary.Suite] = []
    private var suiteBuffers: [[UInt8]] = []
    private var suiteOf: [String: Int] = [:]
    private var names = ReportPartNames()
    private var evals: [EvalRecord] = []
    private var closed = false

    /// Opens the pieces file at `path` (made empty by the coordinator) to write from its start.
    /// - Parameters:
    ///   - aggregate: the aggregate before any record (the job's metrics listed, its run gate).
    ///   - csv, junit: whether `results.csv` and `junit.xml` are written (their pieces are made).
    public init(path: String, aggregate: EvalAggregate, csv: Bool, junit: Bool) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            throw ChatbotTesterError(.io, "cannot open \(path): \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
        }
        self.fd = fd
        self.path = path
        self.aggregate = aggregate
        writesCSV = csv
        writesJUnit = junit
        csvBuffer.reserveCapacity(1 << 16)
    }

    deinit {
        if !closed { close(fd) }
    }

    /// Adds the record at dataset index `index` (after every index added before it), whose line
    /// holds `evalCount` evaluations, from its report part's body.
    /// - Throws: when the part cannot be read or does not fit the record, or the file cannot be written.
    public func add(index: Int, evalCount: Int, part: UnsafeRawBufferPointer) throws {
        var reader = ByteCoding.Reader(part)
        guard let read = EvaluationOutput.ReportPart.read(&reader, names: &names, evals: &evals), evals.count == evalCount else {
            throw ChatbotTesterError(.internal, "the report part of index \(index) is not one of its record")
        }
        if let last = blocks.last, last.first + last.count == index {
            blocks[blocks.count - 1].count += 1
        } else {
            guard index >= (blocks.last.map { $0.first + $0.count } ?? 0) else {
                throw ChatbotTesterError(.internal, "index \(index) comes after a later one")
            }
            try closeBlock()
            blocks.append(ReportPieceSummary.Block(first: index, count: 1, outcomes: Data(), csv: [], suites: []))
        }
        aggregate.runs.add(status: read.status, errorCode: read.errorCode, latencyMs: read.latencyMs, usage: read.usage, costUSD: read.costUSD)
        for position in evals.indices { aggregate.add(evals[position]) }
        let outcome = SampleEvaluation.outcome(failedRun: read.status == .error, evals: evals)
        blocks[blocks.count - 1].outcomes.append(ReportPieceSummary.outcomeCode(outcome))
        if writesCSV {
            csvBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: part[read.csvRows]))
            if csvBuffer.count >= Self.pieceLimit { try write(&csvBuffer, ranges: &csv) }
        }
        if writesJUnit {
            let xml = UnsafeRawBufferPointer(rebasing: part[read.testCases])
            var start = 0
            for position in evals.indices {
                let at = read.caseEnds.lowerBound + position * 5
                let end = Int(UInt32(littleEndian: part.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                let suite = self.suite(evals[position].metric, position: position)
                suites[suite].counts.add(JUnitReportWriter.Outcome(rawValue: part[at + 4]) ?? .passed, seconds: read.latencyMs / 1000)
                suiteBuffers[suite].append(contentsOf: UnsafeRawBufferPointer(rebasing: xml[start..<end]))
                if suiteBuffers[suite].count >= Self.pieceLimit { try write(&suiteBuffers[suite], ranges: &suites[suite].ranges) }
                start = end
            }
        }
    }

    /// The bytes a piece gathers before they are written (a range of their own).
    static let pieceLimit = 1 << 20

    /// The open block's suite of `metric` (made when first named).
    private func suite(_ metric: String, position: Int) -> Int {
        if position < suites.count, suites[position].metric == metric { return position }
        if let known = suiteOf[metric] { return known }
        suites.append(ReportPieceSummary.Suite(metric: metric, ranges: [], counts: JUnitReportWriter.SuiteCounts()))
        suiteBuffers.append([])
        suiteOf[metric] = suites.count - 1
        return suites.count - 1
    }

    private func closeBlock() throws {
        guard !blocks.isEmpty else { return }
        try write(&csvBuffer, ranges: &csv)
        for suite in suites.indices { try write(&suiteBuffers[suite], ranges: &suites[suite].ranges) }
        blocks[blocks.count - 1].csv = csv
        blocks[blocks.count - 1].suites = suites
        csv = []
        suites = []
        suiteBuffers = []
        suiteOf = [:]
    }

    /// Writes `bytes` at the file's end and notes their range in `ranges` (joined to the last one
    /// when they follow it); empties `bytes`.
    private func write(_ bytes: inout [UInt8], ranges: inout [Int]) throws {
        guard !bytes.isEmpty else { return }
        if let code = PositionalWrite.write(bytes, to: fd, at: fileEnd) {
            throw ChatbotTesterError(.io, "cannot write \(path): \(String(cString: strerror(code)))", location: SourceLocation(source: path))
        }
        if let last = ranges.last, last == fileEnd {
            ranges[ranges.count - 1] = fileEnd + bytes.count
        } else {
            ranges.append(fileEnd)
            ranges.append(fileEnd + bytes.count)
        }
        fileEnd += bytes.count
        bytes.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, closes the file and returns the summary of every record added.
    public func finish() throws -> ReportPieceSummary {
        try closeBlock()
        closed = true
        close(fd)
        return ReportPieceSummary(aggregate: aggregate, blocks: blocks)
    }
}

/// Every worker's report pieces of a run, checked and put in dataset order: what the coordinator
/// writes `results.csv` and `junit.xml` from, and counts the reports' aggregate and kept samples
/// from, without reading a record's part.
public struct ReportPieceAssembly {
    private struct Placed {
        var block: ReportPieceSummary.Block
        var file: Int
    }

    private let files: [URL]
    private let sizes: [Int]
    private var placed: [Placed] = []
    /// The records' aggregate, merged from every summary.
    public private(set) var aggregate: EvalAggregate
    /// Records covered (every index from 0 up to it, once).
    public let records: Int

    /// Puts the summaries together, each with its pieces file.
    /// - Throws: a message naming the fault when the blocks do not cover `0..<records` exactly once,
    ///   a block's outcomes or ranges do not fit it or its file, or a suite's ranges overlap.
    public init(_ pieces: [(summary: ReportPieceSummary, file: URL)], records: Int) throws {
        self.records = records
        files = pieces.map(\.file)
        var sizes: [Int] = []
        for file in files {
            var info = stat()
            guard stat(file.path, &info) == 0 else { throw Fault("cannot read \(file.lastPathComponent)") }
            sizes.append(Int(info.st_size))
        }
        self.sizes = sizes
        var aggregate = EvalAggregate()
        for (position, piece) in pieces.enumerated() {
            aggregate.merge(piece.summary.aggregate)
            for block in piece.summary.blocks { placed.append(Placed(block: block, file: position)) }
        }
        self.aggregate = aggregate
        placed.sort { $0.block.first < $1.block.first }
        var next = 0
        for entry in placed {
            let block = entry.block, size = sizes[entry.file], name = files[entry.file].lastPathComponent
            guard block.first == next, block.count > 0, block.count <= records - next else {
                throw Fault("\(name): a block of \(block.count) records at index \(block.first), where index \(next) of \(records) was next")
            }
            guard block.outcomes.count == block.count, block.outcomes.allSatisfy({ Int($0) < ReportPieceSummary.outcomes.count }) else {
                throw Fault("\(name): the outcomes of the block at index \(block.first) do not fit it")
            }
            try Self.check(block.csv, size: size, in: name)
            for suite in block.suites { try Self.check(suite.ranges, size: size, in: name) }
            next += block.count
        }
        guard next == records else { throw Fault("the pieces cover \(next) of \(records) records") }
    }

    private static func check(_ ranges: [Int], size: Int, in name: String) throws {
        guard ranges.count % 2 == 0 else { throw Fault("\(name): \(ranges.count) numbers are not ranges") }
        var last = 0
        for at in stride(from: 0, to: ranges.count, by: 2) {
            guard ranges[at] >= last, ranges[at] < ranges[at + 1], ranges[at + 1] <= size else {
                throw Fault("\(name): bytes \(ranges[at])..<\(ranges[at + 1]) are not after \(last) and within its \(size) bytes")
            }
            last = ranges[at + 1]
        }
    }

    /// Each record's outcome, in dataset order.
    public func forEachOutcome(_ body: (Int, SampleEvaluation.Outcome) throws -> Void) rethrows {
        for entry in placed {
            for (offset, code) in entry.block.outcomes.enumerated() {
                try body(entry.block.first + offset, ReportPieceSummary.outcomes[Int(code)])
            }
        }
    }

    /// Writes `results.csv` at `url`: the header, then every block's rows in dataset order.
    public func writeCSV(to url: URL) throws {
        let out = try FileHandle.create(url)
        defer { try? out.close() }
        try out.write(contentsOf: CSVReportWriter.headerBytes)
        try withFiles { inputs in
            for entry in placed { try copy(entry.block.csv, from: inputs[entry.file], file: entry.file, to: out) }
        }
    }

    /// Writes `junit.xml` at `url` as `JUnitReportWriter` does: one suite per metric in the order
    /// the records first name them, each with its test cases in dataset order.
    public func writeJUnit(to url: URL, name: String) throws {
        var order: [String] = []
        var counts: [String: JUnitReportWriter.SuiteCounts] = [:]
        for entry in placed {
            for suite in entry.block.suites {
                if counts[suite.metric] == nil { order.append(suite.metric) }
                counts[suite.metric, default: JUnitReportWriter.SuiteCounts()].merge(suite.counts)
            }
        }
        let out = try FileHandle.create(url)
        defer { try? out.close() }
        try out.write(contentsOf: JUnitReportWriter.documentHead(name: name, suites: order.map { counts[$0]! }))
        try withFiles { inputs in
            for (id, metric) in order.enumerated() {
                try out.write(contentsOf: JUnitReportWriter.suiteHead(name: metric, id: id, counts: counts[metric]!))
                for entry in placed {
                    for suite in entry.block.suites where suite.metric == metric {
                        try copy(suite.ranges, from: inputs[entry.file], file: entry.file, to: out)
                    }
                }
                try out.write(contentsOf: JUnitReportWriter.suiteTail)
            }
        }
        try out.write(contentsOf: JUnitReportWriter.documentTail)
    }

    /// Runs `body` with every pieces file open for reading.
    private func withFiles(_ body: ([Int32]) throws -> Void) throws {
        var inputs: [Int32] = []
        defer { for fd in inputs { close(fd) } }
        for file in files {
            let fd = open(file.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw Fault("cannot open \(file.lastPathComponent): \(String(cString: strerror(errno)))") }
            inputs.append(fd)
        }
        try body(inputs)
    }

    private func copy(_ ranges: [Int], from input: Int32, file: Int, to out: FileHandle) throws {
        for at in stride(from: 0, to: ranges.count, by: 2) {
            try out.append(from: input, path: files[file].path, range: ranges[at]..<ranges[at + 1])
        }
    }

    /// A fault of the pieces, said in words.
    public struct Fault: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
