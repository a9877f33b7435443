import ChatbotTesterCore
import Foundation

/// Where the lines this worker appended to the journal are (protocol 11), by dataset index: the
/// line's file offset and length, and where its `run` value and its evaluations are in it, read
/// from the `journaled` frame's units as they are sent (about 40 bytes a record). While the run plays
/// and at its end the coordinator asks for some of them (`writeLines`) and this worker copies each record's
/// `run` value and evaluations, each followed by a newline, from the journal to the places given,
/// in dataset order, with `pwrite`: the coordinator copies none of those bytes. The journal is read
/// through a window of a few megabytes (`JournalWindow`), so the worker's memory does not grow with
/// the run.
struct WorkerLinePlaces: Sendable {
    private struct Place: Sendable {
        var line: UInt64
        var length: UInt32
        var runStart: UInt32
        var runEnd: UInt32
        /// Where the evaluations' ranges are in `elements` (two numbers each).
        var elementsStart: UInt32
        var elementCount: UInt32
        /// Where the record's report part body is in the worker's spill (protocol 12; length 0:
        /// not kept).
        var partAt: UInt64 = 0
        var partLength: UInt32 = 0
    }

    private var indexes: [Int] = []
    private var places: [Place] = []
    private var elements: [UInt32] = []
    /// Positions in `places` in dataset order (`sortForWriting`).
    private var sorted: [Int] = []
    /// Bytes of the journal read at a time when writing (4 MiB; tests make it small).
    var windowSpan = 4 << 20

    /// Records journaled.
    var count: Int { places.count }

    /// Notes the records of a `journaled` frame whose lines were appended from file offset `base`
    /// on, in order: `units` as `ClusterRecord.journaledUnit` makes them (`[u32 index][u32 line
    /// length][u32 part length][u32 run start][u32 run end][u32 evals start][u32 evals end][u32
    /// count][start, end]…[part]`). A unit too short to read is skipped: the coordinator refuses
    /// its frame, and the lines are then not asked for. With a `spill`, each record's report part
    /// body goes there (protocol 12: for the reports' pieces) and leaves the unit: returns the
    /// units to send, each without the body it spilled (its part then carries the record's
    /// statistics facts alone, all the coordinator reads of it).
    @discardableResult
    mutating func add(base: UInt64, units: [Data], spill: WorkerPartSpill? = nil) -> [Data] {
        var at = base
        var sent = units
        for (position, unit) in units.enumerated() {
            unit.withUnsafeBytes { raw in
                func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
                guard raw.count >= ClusterMessageCodec.journaledHeadBytes + 4 else { return }
                let count = Int(u32(ClusterMessageCodec.journaledHeadBytes))
                guard count <= (raw.count - ClusterMessageCodec.journaledHeadBytes - 4) / 8 else { return }
                let length = u32(4)
                let index = Int(u32(0))
                var place = Place(line: at, length: length, runStart: u32(12), runEnd: u32(16), elementsStart: UInt32(elements.count), elementCount: UInt32(count))
                let partStart = ClusterMessageCodec.journaledHeadBytes + 4 + count * 8, partLength = Int(u32(8))
                if let spill, partLength <= raw.count - partStart {
                    let part = unit[(unit.startIndex + partStart)..<(unit.startIndex + partStart + partLength)]
                    if let body = ClusterReportPart.body(of: part, index: index), !body.isEmpty, body.upperBound == partLength {
                        place.partAt = spill.append(UnsafeRawBufferPointer(rebasing: raw[(partStart + body.lowerBound)..<(partStart + body.upperBound)]))
                        place.partLength = UInt32(body.count)
                        // The unit without the body: its part's length is where the body began.
                        var stripped = Data(capacity: partStart + body.lowerBound)
                        stripped.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<8]))
                        ByteCoding.append(UInt32(body.lowerBound), to: &stripped)
                        stripped.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[12..<(partStart + body.lowerBound)]))
                        sent[position] = stripped
                    }
                }
                indexes.append(index)
                places.append(place)
                for element in 0..<count {
                    let offset = ClusterMessageCodec.journaledHeadBytes + 4 + element * 8
                    elements.append(u32(offset))
                    elements.append(u32(offset + 4))
                }
                at += UInt64(length)
            }
        }
        return sent
    }

    /// A fault that stops the writing, said to the coordinator.
    private struct Fault: Error, CustomStringConvertible {
        var description: String
    }

    /// Puts the records in dataset order, for every `writeLines` order to come (`write` sorts a copy
    /// of its own otherwise). Orders come while the run plays (a run of a million cases sends about
    /// ten): only the records added since the last call are sorted, then merged with those sorted
    /// before — linear in the records, not a sort of them all each time, on the worker's actor.
    mutating func sortForWriting() {
        guard sorted.count != indexes.count else { return }
        let indexes = indexes
        let added = (sorted.count..<indexes.count).sorted { indexes[$0] < indexes[$1] }
        guard !sorted.isEmpty else { return sorted = added }
        var merged: [Int] = []
        merged.reserveCapacity(indexes.count)
        var old = 0, new = 0
        while old < sorted.count, new < added.count {
            if indexes[added[new]] < indexes[sorted[old]] {
                merged.append(added[new])
                new += 1
            } else {
                merged.append(sorted[old])
                old += 1
            }
        }
        merged.append(contentsOf: sorted[old...])
        merged.append(contentsOf: added[new...])
        sorted = merged
    }

    /// What makes the reports' pieces when an order asks for them: the run's maker and the spill
    /// the parts were kept in.
    struct Pieces: Sendable {
        var maker: any ClusterReportPieceMaker
        var spill: WorkerPartSpill
    }

    /// Writes the lines `order` asks for from the journal at `journal` (and, when it names a
    /// pieces file, the records' report pieces with `pieces`); what was written, or why not
    /// (`failure`). Blocks for as long as the copy takes: call it off Swift's pool.
    func write(_ order: ClusterMessage.WriteLines, journal: String?, pieces: Pieces? = nil) -> ClusterMessage.LinesWritten {
        var written = ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
        do {
            guard let journal else { throw Fault(description: "this worker did not append to the journal") }
            try write(order, journal: journal, pieces: pieces, into: &written)
        } catch {
            written.failure = "\(error)"
        }
        return written
    }

    private func write(_ order: ClusterMessage.WriteLines, journal: String, pieces: Pieces?, into written: inout ClusterMessage.LinesWritten) throws {
        let source = try Self.open(journal, O_RDONLY)
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0 else { throw Fault(description: "cannot stat \(journal)") }
        let results = try Self.open(order.results, O_WRONLY)
        defer { close(results) }
        let evals = try order.evals.map { try Self.open($0, O_WRONLY) }
        defer { if let evals { close(evals) } }
        let window = JournalWindow(fd: source, path: journal, size: Int(info.st_size), span: windowSpan, behind: windowSpan / 16)
        // The report parts, read back from the spill as the lines are from the journal.
        var parts: (batch: any ClusterReportPieceBatch, window: JournalWindow)?
        if let path = order.pieces {
            guard let pieces else { throw Fault(description: "this worker kept no report parts for the pieces asked for") }
            let size: Int
            switch pieces.spill.flush() {
            case .success(let bytes): size = bytes
            case .failure(let why): throw Fault(description: why.description)
            }
            parts = (try pieces.maker.begin(path: path), JournalWindow(fd: pieces.spill.fd, path: pieces.spill.path, size: size, span: windowSpan, behind: windowSpan / 16))
        }
        // Positions in dataset order: each run is found once, then walked.
        let sorted = sorted.count == indexes.count ? sorted : indexes.indices.sorted { indexes[$0] < indexes[$1] }
        var resultsOut = Output(fd: results, path: order.results)
        var evalsOut = evals.map { Output(fd: $0, path: order.evals ?? "") }
        for run in order.runs {
            var low = 0, high = sorted.count
            while low < high {
                let middle = (low + high) / 2
                if indexes[sorted[middle]] < run.first { low = middle + 1 } else { high = middle }
            }
            resultsOut.start(at: run.resultsOffset)
            evalsOut?.start(at: run.evalsOffset)
            for step in 0..<run.count {
                let index = run.first + step
                let position = low + step
                guard position < sorted.count, indexes[sorted[position]] == index else {
                    throw Fault(description: "the record at index \(index) is not one this worker journaled")
                }
                guard position + 1 == sorted.count || indexes[sorted[position + 1]] != index else {
                    throw Fault(description: "this worker journaled the record at index \(index) twice")
                }
                let place = places[sorted[position]]
                let length = Int(place.length)
                let bytes = try window.line(at: place.line, length: length)
                guard length >= 3, bytes[length - 1] == 0x0A, place.runStart < place.runEnd, Int(place.runEnd) < length,
                    bytes[Int(place.runStart)] == UInt8(ascii: "{"), bytes[Int(place.runEnd) - 1] == UInt8(ascii: "}")
                else { throw Fault(description: "the journal line of index \(index) at \(place.line) is not the one this worker appended") }
                try resultsOut.append(UnsafeRawBufferPointer(rebasing: bytes[Int(place.runStart)..<Int(place.runEnd)]))
                if evalsOut != nil {
                    for element in 0..<Int(place.elementCount) {
                        let at = Int(place.elementsStart) + element * 2
                        let start = Int(elements[at]), end = Int(elements[at + 1])
                        guard start < end, end < length else { throw Fault(description: "evaluation \(element) of index \(index) is not inside its line") }
                        try evalsOut?.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    }
                }
                if let parts {
                    guard place.partLength > 0 else { throw Fault(description: "the record at index \(index) came without a report part") }
                    let part = try parts.window.line(at: place.partAt, length: Int(place.partLength))
                    try parts.batch.add(index: index, evalCount: Int(place.elementCount), part: part)
                }
                written.records += 1
            }
            try resultsOut.flush()
            try evalsOut?.flush()
        }
        // What this worker wrote is on disk before it answers: the write-back's CPU is spent where
        // the bytes were written, in parallel with the other workers' and while the run may still
        // play (orders come during the run), instead of in the coordinator, whose `finish` then
        // syncs clean files.
        try resultsOut.sync()
        try evalsOut?.sync()
        written.resultsBytes = resultsOut.total
        written.evalsBytes = evalsOut?.total ?? 0
        written.pieces = try parts?.batch.finish()
    }

    private static func open(_ path: String, _ flags: Int32) throws -> Int32 {
        let fd = Foundation.open(path, flags | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw Fault(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// A bounded window on the journal, read with `pread` (at most `span` bytes, more
    /// only for a longer line): the worker's memory stays flat however large the journal is, where a
    /// map of the whole file would count every page it touched in the worker's resident set. A
    /// window starts a little before the line asked for, since lines journaled close together
    /// come back a little out of dataset order.
    final class JournalWindow {
        let fd: Int32
        let path: String
        let size: Int
        /// Bytes read at a time (4 MiB unless a test says otherwise).
        let span: Int
        /// Bytes read before the line asked for.
        let behind: Int
        private var buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        private var start = 0
        private var count = 0
        /// Reads of the journal so far.
        private(set) var reads = 0

        init(fd: Int32, path: String, size: Int, span: Int, behind: Int) {
            self.fd = fd
            self.path = path
            self.size = size
            self.span = max(1, span)
            self.behind = max(0, behind)
        }

        deinit { buffer.deallocate() }

        /// The `length` bytes of the journal at `line`; valid until the next call.
        func line(at line: UInt64, length: Int) throws -> UnsafeRawBufferPointer {
            guard line <= UInt64(size), length <= size - Int(line) else {
                throw Fault(description: "the journal line at \(line) (\(length) bytes) is past the end of \(path) (\(size) bytes)")
            }
            let at = Int(line)
            if at < start || at + length > start + count {
                try fill(from: max(0, at - behind), covering: at + length)
            }
            return UnsafeRawBufferPointer(rebasing: buffer[(at - start)..<(at - start + length)])
        }

        private func fill(from first: Int, covering end: Int) throws {
            let wanted = min(size - first, max(span, end - first))
            if buffer.count < wanted {
                buffer.deallocate()
                buffer = .allocate(byteCount: wanted, alignment: 16)
            }
            var done = 0
            while done < wanted {
                let got = pread(fd, buffer.baseAddress! + done, wanted - done, off_t(first + done))
                if got < 0, errno == EINTR { continue }
                guard got > 0 else {
                    throw Fault(description: got == 0 ? "\(path) ended at \(first + done) while reading" : "cannot read \(path): \(String(cString: strerror(errno)))")
                }
                done += got
            }
            start = first
            count = wanted
            reads += 1
        }
    }

    /// Lines gathered for one file and written with `pwrite` once a megabyte is gathered or a run
    /// ends.
    private struct Output {
        let fd: Int32
        let path: String
        var buffer: [UInt8] = []
        var offset = 0
        var total = 0

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
            buffer.reserveCapacity(1 << 20)
        }

        mutating func start(at offset: Int) {
            self.offset = offset
        }

        mutating func append(_ line: UnsafeRawBufferPointer) throws {
            buffer.append(contentsOf: line)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 { try flush() }
        }

        mutating func flush() throws {
            if let code = PositionalWrite.write(buffer, to: fd, at: offset) {
                throw Fault(description: "cannot write \(path): \(String(cString: strerror(code)))")
            }
            offset += buffer.count
            total += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }

        /// Makes the file's written data durable (`fdatasync`).
        func sync() throws {
            while fdatasync(fd) != 0 {
                guard errno == EINTR else { throw Fault(description: "cannot sync \(path): \(String(cString: strerror(errno)))") }
            }
        }
    }
}
