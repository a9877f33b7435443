import ChatbotTesterCore
import Foundation

/// What a `journaled` frame (protocol 8) says: a worker appended these records' lines to the
/// spool's journal itself (one `write(2)`, so the lines lie one after the other from `base`), and
/// sends the coordinator only where they went, each record's index, where its `run` and `evals`
/// are in its line, and its report part. The coordinator reads the lines back from the journal
/// (`ClusterRecordEnvelope(journaledLine:item:)` checks each against what the frame says) and
/// counts them as it counts records it journals itself; it never appends them again.
public struct ClusterJournaledRecords: Sendable, Hashable {
    /// One record of the frame.
    public struct Item: Sendable, Hashable {
        /// The sample's dataset index.
        public var index: Int
        /// Where the record's line is in the journal, its newline included (file offsets).
        public var line: Range<Int>
        /// Where the record's `run` value is in its line (offsets from the line's start).
        public var run: Range<Int>
        /// Where the record's `evals` array is in its line.
        public var evals: Range<Int>
        /// Where each evaluation of `evals` is in the line (checked against the line's bytes when it
        /// is read back: they fill the array, separated by single commas).
        public var evalElements: [Range<Int>]
        /// The record's report part (`ClusterReportPart`: its statistics facts, and what the reports
        /// read of it when the run is scored).
        public var reportPart: Data
    }

    /// The records, in the order their lines were written.
    public var items: [Item]

    /// The journal's bytes every line of the frame covers (file offsets).
    public var span: Range<Int> {
        guard let first = items.first, let last = items.last else { return 0..<0 }
        return first.line.lowerBound..<last.line.upperBound
    }
}

extension ClusterMessageCodec {
    /// The first bytes of a `journaled` frame.
    static let journaledFrameMagic: [UInt8] = [0, UInt8(ascii: "J")]
    /// The bytes of a record's fixed head in a `journaled` frame: index, line length, part length,
    /// and the `run` and `evals` ranges in the line (the evaluations' ranges follow).
    public static let journaledHeadBytes = 28
    /// The most bytes of lines one `journaled` frame may name (a `records` frame carrying them would
    /// be refused long before: frames are capped at 16 MiB by default).
    public static let maxJournaledBytes = 64 << 20

    /// The payload of a `journaled` frame: `[0]["J"][u32 count][u64 base]` (little-endian), then
    /// each record's unit as the worker made it (`ClusterRecord.journaledUnit()`), whose lines it
    /// appended to the journal from file offset `base` on, in this order.
    public func encodeJournaledFrame(base: UInt64, units: [Data]) -> Data {
        var out = Data(capacity: units.reduce(14) { $0 + $1.count })
        out.append(contentsOf: Self.journaledFrameMagic)
        ByteCoding.append(UInt32(units.count), to: &out)
        ByteCoding.append(base, to: &out)
        for unit in units { out.append(unit) }
        return out
    }

    /// Reads a `journaled` frame (`encodeJournaledFrame(base:units:)`): every length and range
    /// within bounds (a line of at least `{}` and its newline, `run` and `evals` inside it, at most
    /// `maxJournaledBytes` of lines), a report part with every record. The lines themselves are
    /// checked when they are read back from the journal.
    ///
    /// - Throws: `ChatbotTesterError(.proto)` naming `peer` and the field (`journaled[2].run`).
    func decodeJournaledFrame(_ payload: Data, peer: String) throws -> ClusterJournaledRecords {
        func refused(_ message: String, _ field: String) -> ChatbotTesterError {
            ChatbotTesterError(.proto, "malformed frame: \(message)", location: SourceLocation(source: peer, field: field))
        }
        return try payload.withUnsafeBytes { raw throws -> ClusterJournaledRecords in
            func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
            let head = Self.journaledHeadBytes
            guard raw.count >= 14 else { throw refused("journaled frame: cut short", "journaled") }
            let count = u32(2)
            let base = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 6, as: UInt64.self))
            // Each record takes at least its head and a part's first byte.
            guard count > 0, count <= (raw.count - 14) / (head + 1) else {
                throw refused("journaled frame: \(count) records do not fit in \(raw.count) bytes", "journaled")
            }
            guard base <= UInt64(Int.max - Self.maxJournaledBytes) else { throw refused("journaled frame: base offset \(base) is out of range", "journaled") }
            var items: [ClusterJournaledRecords.Item] = []
            items.reserveCapacity(count)
            var offset = 14
            var at = Int(base)
            for position in 0..<count {
                let field = "journaled[\(position)]"
                guard raw.count - offset >= head else { throw refused("journaled frame: cut short (\(position) of \(count))", field) }
                let index = u32(offset), lineLength = u32(offset + 4), partLength = u32(offset + 8)
                let run = u32(offset + 12)..<max(u32(offset + 12), u32(offset + 16))
                let evals = u32(offset + 20)..<max(u32(offset + 20), u32(offset + 24))
                guard lineLength >= 3, lineLength <= Self.maxJournaledBytes - (at - Int(base)) else {
                    throw refused("a line of \(lineLength) bytes (\(at - Int(base)) named before it; at most \(Self.maxJournaledBytes) a frame)", "\(field).line")
                }
                guard u32(offset + 16) > u32(offset + 12), run.upperBound < lineLength else { throw refused("run \(run) is not inside a line of \(lineLength) bytes", "\(field).run") }
                guard u32(offset + 24) > u32(offset + 20), evals.upperBound < lineLength else {
                    throw refused("evals \(evals) is not inside a line of \(lineLength) bytes", "\(field).evals")
                }
                // The evaluations' ranges: a count, then a start and an end each, inside `evals`.
                guard raw.count - (offset + head) >= 4 else { throw refused("journaled frame: cut short (\(position) of \(count))", "\(field).evals") }
                let elementCount = u32(offset + head)
                var cursor = offset + head + 4
                guard elementCount <= (raw.count - cursor) / 8 else {
                    throw refused("\(elementCount) evaluations do not fit in the frame", "\(field).evals")
                }
                var elements: [Range<Int>] = []
                elements.reserveCapacity(elementCount)
                for element in 0..<elementCount {
                    let start = u32(cursor), end = u32(cursor + 4)
                    cursor += 8
                    guard start < end, start > evals.lowerBound, end < evals.upperBound, start >= (elements.last?.upperBound ?? 0) else {
                        throw refused("evaluation \(element) at \(start)..<\(end) is not inside evals \(evals) after the one before", "\(field).evals[\(element)]")
                    }
                    elements.append(start..<end)
                }
                let part = cursor..<(cursor + partLength)
                guard partLength > 0, raw.count - cursor >= partLength else {
                    throw refused("a report part of \(partLength) bytes (\(raw.count - cursor) left in the frame)", "\(field).part")
                }
                items.append(
                    ClusterJournaledRecords.Item(
                        index: index, line: at..<(at + lineLength), run: run, evals: evals, evalElements: elements,
                        reportPart: payload[(payload.startIndex + part.lowerBound)..<(payload.startIndex + part.upperBound)]))
                at += lineLength
                offset = part.upperBound
            }
            guard offset == raw.count else { throw refused("\(raw.count - offset) bytes after the last of \(count) records", "journaled") }
            return ClusterJournaledRecords(items: items)
        }
    }
}

extension ClusterRecord {
    /// What a worker that appends its records to the journal itself (protocol 8) makes of this
    /// record: its journal line — the record's JSON with `sampleJSON` as its sample (the bytes of
    /// the sample it was assigned, as the spool holds them: the line a coordinator splicing them
    /// back would journal, byte for byte) or, without them, its sample encoded — then a newline;
    /// and its unit for a `journaled` frame: `[u32 index][u32 line length][u32 part length][u32 run
    /// start][u32 run end][u32 evals start][u32 evals end][u32 evaluations]`, each evaluation's
    /// `[u32 start][u32 end]` (little-endian; ranges in the line), then its report part — or, when it has none (a run that is not scored), a part carrying its
    /// statistics facts alone.
    ///
    /// - Throws: when the record cannot be encoded, or a length does not fit 32 bits.
    public func journaledUnit(sampleJSON: Data? = nil) throws -> (unit: Data, line: Data) {
        var line: [UInt8] = []
        line.reserveCapacity(768 + (run.output?.utf8.count ?? 0) * 2 + evals.count * 192 + (sampleJSON?.count ?? 0))
        var ranges: (run: Range<Int>, evals: Range<Int>)
        var elements: [Range<Int>] = []
        if let found = appendFastWire(sample: sampleJSON.map { .bytes($0) } ?? .encoded, to: &line, evalElements: &elements) {
            ranges = found
        } else {
            // The reference encoder, and the sample's bytes put where it wrote `null`.
            var bytes = try wireBytes(omittingSample: sampleJSON != nil)
            if let sampleJSON { bytes = try ClusterRecordEnvelope(scanning: bytes).splicingSample(sampleJSON).bytes }
            line = Array(bytes)
            let members = try JSONByteScanner.members(ofObject: bytes)
            guard let run = members.first(where: { $0.name == "run" })?.value, let evals = members.first(where: { $0.name == "evals" })?.value else {
                throw ChatbotTesterError(.internal, "record '\(sampleId)' at index \(index) has no run or evals")
            }
            ranges = (run, evals)
            elements = try JSONByteScanner.elements(ofArray: bytes, in: evals)
        }
        line.append(0x0A)
        let part = reportPart ?? ClusterReportPart.make(sampleId: sampleId, index: index, run: run, body: [])
        let values = [index, line.count, part.count, ranges.run.lowerBound, ranges.run.upperBound, ranges.evals.lowerBound, ranges.evals.upperBound]
        guard values.allSatisfy({ UInt32(exactly: $0) != nil }) else {
            throw ChatbotTesterError(.internal, "record '\(sampleId)' at index \(index) does not fit a journaled frame")
        }
        // The head's integers go into an array first: a `Data` append per integer cost more than the record's encoding.
        var head: [UInt8] = []
        head.reserveCapacity(ClusterMessageCodec.journaledHeadBytes + 4 + elements.count * 8)
        for value in values { ByteCoding.append(UInt32(value), to: &head) }
        ByteCoding.append(UInt32(elements.count), to: &head)
        for element in elements {
            ByteCoding.append(UInt32(element.lowerBound), to: &head)
            ByteCoding.append(UInt32(element.upperBound), to: &head)
        }
        var unit = Data(capacity: head.count + part.count)
        unit.append(contentsOf: head)
        unit.append(part)
        return (unit, Data(line))
    }

    /// Whether the coordinator takes this record as a backend down (its breaker refused the call)
    /// rather than as a result: it is not journaled, and the run stops
    /// (`ClusterRecordEnvelope.stopReason`). A worker journaling its records itself sends such a
    /// record in a `records` frame instead.
    public var reportsATargetDown: Bool {
        RunStopReason.stopping(for: run.error) != nil
    }
}

extension ClusterRecordEnvelope {
    /// The envelope of a record a worker appended to the journal itself, from its line as read back
    /// (`line`: the bytes `item.line` names, newline included) and what its `journaled` frame says
    /// of it. The line must be the workers' shape — `{"evals":[…],"index":N,"run":{…},"sampleId":"…"}`
    /// with `evals` and `run` where the frame says, `N` the frame's index, no line break inside —
    /// and the report part must name its sample and index and carry the run's facts (its status,
    /// error code and cost are read from there: the run itself is not scanned).
    ///
    /// - Throws: `ClusterRecordEnvelope.ShapeError` naming the field that does not fit.
    public init(journaledLine line: Data, item: ClusterJournaledRecords.Item) throws {
        try self.init(journaledLine: line, item: item, by: nil)
    }

    /// `init(journaledLine:item:)` for the coordinator, which also notes the connection `by` whose
    /// worker appended the line (`journaledBy`, with `journalLine` the item's offsets).
    init(journaledLine line: Data, item: ClusterJournaledRecords.Item, by connection: Int?) throws {
        let run = item.run, evals = item.evals
        let shape: ShapeError? = line.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.count - 1
            guard end >= 2, let base = bytes.baseAddress, bytes[end] == 0x0A, memchr(base, 0x0A, end) == nil else {
                return ShapeError(field: "line", message: "not one line ending in a newline")
            }
            func equal(_ at: Int, _ text: StaticString) -> Bool {
                at >= 0 && at + text.utf8CodeUnitCount <= end && memcmp(base + at, text.utf8Start, text.utf8CodeUnitCount) == 0
            }
            guard evals.lowerBound == 9, evals.upperBound <= end, equal(0, #"{"evals":"#), bytes[evals.lowerBound] == UInt8(ascii: "["),
                bytes[evals.upperBound - 1] == UInt8(ascii: "]")
            else { return ShapeError(field: "evals", message: "not where the frame says") }
            // `,"index":N,"run":` with N the frame's index, written as the encoder writes it.
            var at = evals.upperBound + 9
            guard equal(evals.upperBound, #","index":"#) else { return ShapeError(field: "index", message: "missing after evals") }
            var value = 0, digits = 0
            while at < end, digits < 12, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[at] - UInt8(ascii: "0"))
                at += 1
                digits += 1
            }
            guard digits > 0, digits == 1 || bytes[evals.upperBound + 9] != UInt8(ascii: "0"), value == item.index else {
                return ShapeError(field: "index", message: "is not \(item.index)")
            }
            guard equal(at, #","run":"#), run.lowerBound == at + 7, run.upperBound <= end, bytes[run.lowerBound] == UInt8(ascii: "{"),
                bytes[run.upperBound - 1] == UInt8(ascii: "}")
            else { return ShapeError(field: "run", message: "not where the frame says") }
            guard equal(run.upperBound, #","sampleId":""#), bytes[end - 1] == UInt8(ascii: "}") else {
                return ShapeError(field: "sampleId", message: "missing after run")
            }
            // The evaluations fill the array: objects separated by single commas.
            var next = evals.lowerBound + 1
            for (position, element) in item.evalElements.enumerated() {
                guard element.lowerBound == next, element.upperBound < evals.upperBound, bytes[element.lowerBound] == UInt8(ascii: "{"),
                    bytes[element.upperBound - 1] == UInt8(ascii: "}")
                else { return ShapeError(field: "evals[\(position)]", message: "not where the frame says") }
                next = element.upperBound + 1
                guard next == evals.upperBound || bytes[element.upperBound] == UInt8(ascii: ",") else {
                    return ShapeError(field: "evals[\(position)]", message: "not followed by a comma")
                }
            }
            guard next == evals.upperBound || (item.evalElements.isEmpty && evals.count == 2) else {
                return ShapeError(field: "evals", message: "holds more than the frame's \(item.evalElements.count) evaluations")
            }
            return nil
        }
        if let shape { throw shape }
        let body = line.prefix(line.count - 1)
        let sampleId: String
        do {
            sampleId = try JSONByteScanner.string(body, at: (run.upperBound + 12)..<(body.count - 1))
        } catch {
            throw ShapeError(field: "sampleId", message: "not a string: \(error)")
        }
        guard let facts = ClusterReportPart.leanFacts(item.reportPart, sampleId: sampleId, index: item.index, recordBytes: body.count) else {
            throw ShapeError(
                field: "part",
                message: ClusterReportPart.mismatch(item.reportPart, sampleId: sampleId, index: item.index, recordBytes: body.count) ?? "carries no readable facts")
        }
        self.init(
            bytes: body, sampleId: sampleId, index: item.index, status: facts.status, costUSD: facts.costUSD, errorCode: facts.error?.code,
            run: run, evals: evals, sample: 0..<0, reportPart: item.reportPart, evalRanges: item.evalElements, partFacts: facts,
            journaledByWorker: true, journaledBy: connection, journalLine: connection == nil ? nil : item.line)
    }
}
