import ChatbotTesterCore
import Foundation

/// One test case's finished result as it travels from a worker to the coordinator's journal.
public struct ClusterRecord: Sendable, Hashable, Codable {
    /// The sample id (results are deduplicated by it).
    public var sampleId: String
    /// The sample's 0-based position in the dataset (the merge order).
    public var index: Int
    /// The run's outcome.
    public var run: RunRecord
    /// The metric verdicts on the run, in metric order.
    public var evals: [EvalRecord]
    /// What the reports read of this record (`ClusterReportPart`), made by the worker that scored
    /// it; it travels next to the record's JSON (`wireUnit(omittingSample:)`), never inside it.
    public var reportPart: Data?

    private enum CodingKeys: String, CodingKey { case sampleId, index, run, evals }

    public init(sampleId: String, index: Int, run: RunRecord, evals: [EvalRecord], reportPart: Data? = nil) {
        self.sampleId = sampleId
        self.index = index
        self.run = run
        self.evals = evals
        self.reportPart = reportPart
    }

    /// What a worker queues for a `records` frame: the record's JSON (`wireBytes(omittingSample:)`)
    /// and, when it has one, its report part — `[0][u32 part length, big-endian][part][JSON]`;
    /// `ClusterMessageCodec.encodeRecords(_:)` puts the JSON in the frame's body and the part in
    /// its list of parts.
    public func wireUnit(omittingSample: Bool) throws -> Data {
        let json = try wireBytes(omittingSample: omittingSample)
        guard let reportPart else { return json }
        var out = Data(capacity: 5 + reportPart.count + json.count)
        out.append(0)
        ClusterMessageCodec.appendBigEndian(UInt32(reportPart.count), to: &out)
        out.append(reportPart)
        out.append(json)
        return out
    }

    /// The record's JSON as a worker sends it (`JSONCoding`, sorted keys). With `omittingSample`
    /// the run's `sample` travels as `null`: the coordinator holds the bytes of the sample it
    /// assigned and puts them back (`ClusterRecordEnvelope.splicingSample(_:)`), so the journal line
    /// is the bytes a full encode gives. A worker omits the sample only when the record's is the
    /// one it was assigned (masking may have changed it; then it travels whole).
    ///
    /// Written by Core's byte writers (`FastRecordEncoding`), which give `JSONEncoder`'s bytes; a
    /// record they cannot vouch for (a non-finite number, a key outside printable ASCII…) goes
    /// through `encoder`, the reference.
    public func wireBytes(omittingSample: Bool, encoder: JSONEncoder = JSONCoding.encoder()) throws -> Data {
        if let bytes = fastWireBytes(omittingSample: omittingSample) { return Data(bytes) }
        guard omittingSample else { return try encoder.encode(self) }
        var stub = self
        stub.run.sample = TestSample(id: sampleId)
        let bytes = try encoder.encode(stub)
        guard let run = try JSONByteScanner.members(ofObject: bytes).first(where: { $0.name == "run" })?.value,
            let sample = try JSONByteScanner.members(ofObject: bytes, in: run).first(where: { $0.name == "sample" })?.value
        else { return try encoder.encode(self) }
        var out = Data(capacity: bytes.count)
        out.append(bytes[bytes.startIndex..<(bytes.startIndex + sample.lowerBound)])
        out.append(contentsOf: Array("null".utf8))
        out.append(bytes[(bytes.startIndex + sample.upperBound)...])
        return out
    }

    /// The record of a journal line (`spool/journal.jsonl`): its members found by the byte
    /// scanner, the run and each evaluation decoded by Core's byte parser (`JSONCoding.decodeRecord`),
    /// with `decoder` — the reference, which gives every error message — for anything else: a
    /// member missing, repeated or unknown, or a value the byte parser does not vouch for. The same
    /// record either way; a resume the other way decoded each line through `JSONDecoder` at about
    /// 40 µs a line.
    public static func decode(journalLine bytes: Data, decoder: JSONDecoder = JSONCoding.decoder()) throws -> ClusterRecord {
        if let fast = try? fastDecode(journalLine: bytes, decoder: decoder) { return fast }
        return try decoder.decode(ClusterRecord.self, from: bytes)
    }

    private static func fastDecode(journalLine bytes: Data, decoder: JSONDecoder) throws -> ClusterRecord? {
        let members = try JSONByteScanner.members(ofObject: bytes)
        guard members.count == 4 else { return nil }
        var sampleId: String?, index: Int?, run: Range<Int>?, evals: Range<Int>?
        for member in members {
            switch member.name {
            case "sampleId" where sampleId == nil: sampleId = try JSONByteScanner.string(bytes, at: member.value)
            case "index" where index == nil: index = try JSONByteScanner.int(bytes, at: member.value)
            case "run" where run == nil: run = member.value
            case "evals" where evals == nil: evals = member.value
            default: return nil
            }
        }
        guard let sampleId, let index, let run, let evals else { return nil }
        let start = bytes.startIndex
        func slice(_ range: Range<Int>) -> Data { bytes[(start + range.lowerBound)..<(start + range.upperBound)] }
        return ClusterRecord(
            sampleId: sampleId, index: index, run: try JSONCoding.decodeRecord(RunRecord.self, from: slice(run), decoder: decoder),
            evals: try JSONByteScanner.elements(ofArray: bytes, in: evals).map {
                try JSONCoding.decodeRecord(EvalRecord.self, from: slice($0), decoder: decoder)
            })
    }

    /// `{"evals":[…],"index":N,"run":{…},"sampleId":"…"}` (sorted keys, as `JSONCoding` writes),
    /// or `nil` when a byte writer cannot vouch for a part.
    func fastWireBytes(omittingSample: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(768 + (run.output?.utf8.count ?? 0) * 2 + evals.count * 192)
        return appendFastWire(omittingSample: omittingSample, to: &out) != nil ? out : nil
    }

    /// Appends what `fastWireBytes(omittingSample:)` gives and returns where its `run` value and
    /// `evals` array are (offsets from where it started); nil (with `out` as it was) when a byte
    /// writer cannot vouch for a part.
    func appendFastWire(omittingSample: Bool, to out: inout [UInt8]) -> (run: Range<Int>, evals: Range<Int>)? {
        appendFastWire(sample: omittingSample ? .null : .encoded, to: &out)
    }

    /// `appendFastWire(omittingSample:to:)` with the run's sample written as `sample` says.
    func appendFastWire(sample: FastRecordEncoding.SampleValue, to out: inout [UInt8]) -> (run: Range<Int>, evals: Range<Int>)? {
        var elements: [Range<Int>] = []
        return appendFastWire(sample: sample, to: &out, evalElements: &elements)
    }

    /// `appendFastWire(sample:to:)`, noting where each evaluation went in `evalElements`.
    func appendFastWire(sample: FastRecordEncoding.SampleValue, to out: inout [UInt8], evalElements: inout [Range<Int>]) -> (run: Range<Int>, evals: Range<Int>)? {
        let start = out.count
        out.append(contentsOf: #"{"evals":["#.utf8)
        evalElements.removeAll(keepingCapacity: true)
        for (position, eval) in evals.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            let from = out.count - start
            guard FastRecordEncoding.append(eval, to: &out) else {
                out.removeSubrange(start...)
                return nil
            }
            evalElements.append(from..<(out.count - start))
        }
        out.append(UInt8(ascii: "]"))
        let evalsRange = 9..<(out.count - start)
        out.append(contentsOf: #","index":"#.utf8)
        FastRecordEncoding.appendInt(index, to: &out)
        out.append(contentsOf: #","run":"#.utf8)
        let runStart = out.count - start
        guard FastRecordEncoding.append(run, sample: sample, to: &out) else {
            out.removeSubrange(start...)
            return nil
        }
        let runRange = runStart..<(out.count - start)
        out.append(contentsOf: #","sampleId":"#.utf8)
        FastRecordEncoding.appendString(sampleId, to: &out)
        out.append(UInt8(ascii: "}"))
        return (runRange, evalsRange)
    }

    /// What a worker queues for a protocol-6 `records` frame (`ClusterMessageCodec.encodeRecordsFrame(_:)`):
    /// `[u32 index][u32 JSON length][u32 part length]` (little-endian), the record's JSON
    /// (`wireBytes(omittingSample:)`), then its report part (length 0: none). Written in one
    /// buffer: the JSON is not copied out and back.
    ///
    /// - Throws: when the record cannot be encoded, or its index or a length does not fit 32 bits.
    public func recordsFrameUnit(omittingSample: Bool) throws -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(ClusterMessageCodec.recordHeadBytes + 768 + (run.output?.utf8.count ?? 0) * 2 + evals.count * 192 + (reportPart?.count ?? 0))
        out.append(contentsOf: repeatElement(0, count: ClusterMessageCodec.recordHeadBytes))
        if appendFastWire(omittingSample: omittingSample, to: &out) == nil {
            out.append(contentsOf: try wireBytes(omittingSample: omittingSample))
        }
        let json = out.count - ClusterMessageCodec.recordHeadBytes
        let part = reportPart?.count ?? 0
        guard let index32 = UInt32(exactly: index), let json32 = UInt32(exactly: json), let part32 = UInt32(exactly: part) else {
            throw ChatbotTesterError(.internal, "record '\(sampleId)' at index \(index) does not fit a records frame")
        }
        for (position, value) in [index32, json32, part32].enumerated() {
            withUnsafeBytes(of: value.littleEndian) { bytes in
                for offset in 0..<4 { out[position * 4 + offset] = bytes[offset] }
            }
        }
        if let reportPart { out.append(contentsOf: reportPart) }
        return Data(out)
    }
}

/// A test case with its 0-based position in the dataset.
public struct IndexedSample: Sendable, Hashable, Codable {
    public var index: Int
    public var sample: TestSample
    /// The sample's JSON as the coordinator sent it (the spool's bytes), when the worker read its
    /// assignment by bytes: a worker that journals its records itself writes these bytes back as
    /// the record's sample, as the coordinator would. Not encoded, not compared.
    public var encodedSample: Data?
    /// Whether the worker read the sample from the spool itself (an `assignByReference`): the
    /// coordinator then holds no bytes of it to put back, so a record of it that travels in a
    /// `records` frame carries its sample. Not encoded, not compared.
    public var byReference = false

    private enum CodingKeys: String, CodingKey { case index, sample }

    public init(index: Int, sample: TestSample, encodedSample: Data? = nil, byReference: Bool = false) {
        self.index = index
        self.sample = sample
        self.encodedSample = encodedSample
        self.byReference = byReference
    }

    public static func == (lhs: IndexedSample, rhs: IndexedSample) -> Bool {
        lhs.index == rhs.index && lhs.sample == rhs.sample
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(index)
        hasher.combine(sample)
    }
}

/// A record as the coordinator handles it: the few fields it checks and counts, and the record's
/// exact bytes, which it journals as the worker sent them (no decode and re-encode).
///
/// Reading one scans the record's bytes (`JSONByteScanner`: every byte is checked to be
/// well-formed JSON) and requires its shape: an object with exactly `sampleId` (string), `index`
/// (integer), `run` (an object with only `RunRecord`'s members, among them `sampleId`, `target`,
/// `sample` and `status` `ok`/`error`; `costUSD` a number and `error.code` a string when present)
/// and `evals` (an array of objects with only `EvalRecord`'s members, `sampleId`, `metric`, `type`
/// and `status` among them). The members' own values are kept as bytes, not decoded: the worker
/// wrote them with `JSONCoding`, and readers of `results.jsonl` decode them strictly.
public struct ClusterRecordEnvelope: Sendable, Hashable {
    /// The envelope's sample id.
    public var sampleId: String
    /// The envelope's dataset index.
    public var index: Int
    /// The run record's own sample id (must equal `sampleId`).
    public var runSampleId: String
    /// The run's status.
    public var status: RunRecord.Status
    /// What the run cost, when known.
    public var costUSD: Double?
    /// The run's error code, when it failed.
    public var errorCode: String?
    /// The record's JSON, exactly as received (one journal line).
    public var bytes: Data
    /// Where the `run` value sits in `bytes` (offsets from its start).
    public var runRange: Range<Int>
    /// Where the `evals` array sits in `bytes`.
    public var evalsRange: Range<Int>
    /// Where each element of `evals` sits in `bytes`.
    public var evalRanges: [Range<Int>]
    /// Where the value of `run.sample` sits in `bytes`.
    public var sampleRange: Range<Int>
    /// The members of `run` (names and where their values sit in `bytes`), kept from the scan so
    /// the statistics (`ClusterRunFacts(scanning:)`) do not scan the run again.
    public var runMembers: [JSONByteScanner.Member]
    /// Whether `run.sample` is `null`: the worker left it out, the coordinator puts back the bytes
    /// of the sample it assigned (`splicingSample(_:)`) before the record is journaled.
    public var sampleOmitted: Bool
    /// The record's report part (`ClusterReportPart`), checked against the record when the frame
    /// was read; kept in the side file next to the journal.
    public var reportPart: Data?
    /// Whether the worker appended this record's line to the journal itself (protocol 8, a
    /// `journaled` frame): the coordinator counts it but does not append it again.
    public var journaledByWorker = false
    /// The coordinator's connection whose worker appended the line (set by the coordinator when it
    /// reads a `journaled` frame): the worker that can write the record's output lines (protocol 11).
    public var journaledBy: Int?
    /// Where the worker appended the record's line in the journal (offsets, newline included; set
    /// by the coordinator with `journaledBy`): the coordinator writes the output lines of a worker
    /// that has left from there (protocol 11).
    public var journalLine: Range<Int>?
    /// The run's statistics facts, when they were read from the report part already (a record of a
    /// `journaled` frame: its status, error code and cost come from them).
    public var partFacts: RunRecordFacts<ClusterReportPart.TurnLatencies>?

    /// Whether the run failed.
    public var failed: Bool { status == .error }

    /// The stop reason the record's error asks for (a backend down), as `RunStopReason.stopping(for:)`.
    public var stopReason: RunStopReason? {
        errorCode == ChatbotTesterError.Code.targetDown.rawValue ? .targetDown : nil
    }

    /// Reads the envelope of one record's JSON.
    ///
    /// - Throws: `JSONByteScanner.Failure` (not JSON), or `ClusterRecordEnvelope.ShapeError` naming
    ///   the field that is missing or of the wrong type.
    public init(scanning bytes: Data) throws {
        let head = try Self.head(bytes, JSONByteScanner.members(ofObject: bytes))
        let runMembers = try Self.field("run") { try JSONByteScanner.members(ofObject: bytes, in: head.run) }
        let run = try Self.run(bytes, runMembers)
        let elements = try Self.field("evals") { try JSONByteScanner.elements(ofArray: bytes, in: head.evals) }
        for (position, element) in elements.enumerated() {
            guard bytes[bytes.startIndex + element.lowerBound] == UInt8(ascii: "{") else {
                throw ShapeError(field: "evals[\(position)]", message: "expected an object")
            }
            let names = try Self.field("evals[\(position)]") { try JSONByteScanner.members(ofObject: bytes, in: element) }.map(\.name)
            try Self.checkEval(names, at: position)
        }
        self.init(bytes: bytes, head: head, runMembers: runMembers, run: run, elements: elements)
    }

    /// Reads the envelope of the record at `walker`'s position in `data` in the walk that checks
    /// its bytes: the record, its run and its evaluations are each read once (a records frame's
    /// body is walked record by record this way), with the checks of `init(scanning:)`. Any
    /// fault — or a top-level member given twice, which `init(scanning:)` reads as the first one —
    /// throws; the caller then reads the record with `init(scanning:)`, which names the fault.
    init(walking walker: inout JSONByteScanner.Walker, in data: Data) throws {
        var top: [JSONByteScanner.Member] = []
        var runMembers: [JSONByteScanner.Member] = []
        var elements: [Range<Int>] = []
        var evalNames: [[String]] = []
        let record = try walker.object { walker, name in
            guard !top.contains(where: { $0.name == name }) else { throw ShapeError(field: name, message: "given twice") }
            let range: Range<Int>
            switch name {
            case "run":
                range = try walker.object { walker, name in runMembers.append(JSONByteScanner.Member(name: name, value: try walker.skip())) }
            case "evals":
                range = try walker.array { walker in
                    var names: [String] = []
                    elements.append(try walker.object { _, name in names.append(name) })
                    evalNames.append(names)
                }
            default:
                range = try walker.skip()
            }
            top.append(JSONByteScanner.Member(name: name, value: range))
        }
        // Offsets from the record's first byte, as `init(scanning:)` gives them.
        let base = record.lowerBound
        func rebased(_ range: Range<Int>) -> Range<Int> { (range.lowerBound - base)..<(range.upperBound - base) }
        func rebased(_ members: [JSONByteScanner.Member]) -> [JSONByteScanner.Member] {
            members.map { JSONByteScanner.Member(name: $0.name, value: rebased($0.value)) }
        }
        let bytes = data[(data.startIndex + record.lowerBound)..<(data.startIndex + record.upperBound)]
        let head = try Self.head(bytes, rebased(top))
        let members = rebased(runMembers)
        let run = try Self.run(bytes, members)
        for (position, names) in evalNames.enumerated() { try Self.checkEval(names, at: position) }
        self.init(bytes: bytes, head: head, runMembers: members, run: run, elements: elements.map(rebased))
    }

    /// A record's top-level members, read and checked.
    private struct Head {
        var sampleId: String
        var index: Int
        var run: Range<Int>
        var evals: Range<Int>
    }

    private static func head(_ bytes: Data, _ members: [JSONByteScanner.Member]) throws -> Head {
        var sampleId: String?, index: Int?, run: Range<Int>?, evals: Range<Int>?
        for member in members {
            switch member.name {
            case "sampleId": if sampleId == nil { sampleId = try Self.field("sampleId") { try JSONByteScanner.string(bytes, at: member.value) } }
            case "index": if index == nil { index = try Self.field("index") { try JSONByteScanner.int(bytes, at: member.value) } }
            case "run": if run == nil { run = member.value }
            case "evals": if evals == nil { evals = member.value }
            default: throw ShapeError(field: member.name, message: "unknown field")
            }
        }
        guard let sampleId else { throw ShapeError(field: "sampleId", message: "missing") }
        guard let index else { throw ShapeError(field: "index", message: "missing") }
        guard let run else { throw ShapeError(field: "run", message: "missing") }
        guard let evals else { throw ShapeError(field: "evals", message: "missing") }
        return Head(sampleId: sampleId, index: index, run: run, evals: evals)
    }

    /// What the coordinator reads of a record's run, from the run's members.
    private struct Run {
        var sampleId: String
        var status: RunRecord.Status
        var costUSD: Double?
        var errorCode: String?
        var sample: Range<Int>
        var sampleOmitted: Bool
    }

    private static func run(_ bytes: Data, _ runMembers: [JSONByteScanner.Member]) throws -> Run {
        var runSampleId: String?, status: RunRecord.Status?, cost: Double?, code: String?, sample: Range<Int>?
        for member in runMembers {
            switch member.name {
            case "sampleId" where runSampleId == nil:
                runSampleId = try Self.field("run.sampleId") { try JSONByteScanner.string(bytes, at: member.value) }
            case "status" where status == nil:
                let text = try Self.field("run.status") { try JSONByteScanner.string(bytes, at: member.value) }
                guard let value = RunRecord.Status(rawValue: text) else { throw ShapeError(field: "run.status", message: "unknown status '\(text)'") }
                status = value
            case "sample" where sample == nil:
                sample = member.value
            case "costUSD" where cost == nil:
                cost = try Self.field("run.costUSD") { try JSONByteScanner.optionalDouble(bytes, at: member.value) }
            case "error" where code == nil:
                guard !JSONByteScanner.isNull(bytes, at: member.value) else { continue }
                let errorMembers = try Self.field("run.error") { try JSONByteScanner.members(ofObject: bytes, in: member.value) }
                guard let codeRange = errorMembers.first(where: { $0.name == "code" })?.value else {
                    throw ShapeError(field: "run.error.code", message: "missing")
                }
                code = try Self.field("run.error.code") { try JSONByteScanner.string(bytes, at: codeRange) }
            default:
                guard RunRecord.fieldNames.contains(member.name) else { throw ShapeError(field: "run.\(member.name)", message: "unknown field") }
            }
        }
        guard runMembers.contains(where: { $0.name == "target" }) else { throw ShapeError(field: "run.target", message: "missing") }
        guard let sample else { throw ShapeError(field: "run.sample", message: "missing") }
        let omitted = JSONByteScanner.isNull(bytes, at: sample)
        guard omitted || bytes[bytes.startIndex + sample.lowerBound] == UInt8(ascii: "{") else {
            throw ShapeError(field: "run.sample", message: "expected an object or null")
        }
        guard let runSampleId else { throw ShapeError(field: "run.sampleId", message: "missing") }
        guard let status else { throw ShapeError(field: "run.status", message: "missing") }
        return Run(sampleId: runSampleId, status: status, costUSD: cost, errorCode: code, sample: sample, sampleOmitted: omitted)
    }

    /// An evaluation's member names: only `EvalRecord`'s, its required ones among them.
    private static func checkEval(_ names: [String], at position: Int) throws {
        if let unknown = names.first(where: { !EvalRecord.fieldNames.contains($0) }) {
            throw ShapeError(field: "evals[\(position)].\(unknown)", message: "unknown field")
        }
        for name in ["sampleId", "metric", "type", "status"] where !names.contains(name) {
            throw ShapeError(field: "evals[\(position)].\(name)", message: "missing")
        }
    }

    private init(bytes: Data, head: Head, runMembers: [JSONByteScanner.Member], run: Run, elements: [Range<Int>]) {
        self.bytes = bytes
        sampleId = head.sampleId
        index = head.index
        runRange = head.run
        evalsRange = head.evals
        evalRanges = elements
        self.runMembers = runMembers
        runSampleId = run.sampleId
        status = run.status
        costUSD = run.costUSD
        errorCode = run.errorCode
        sampleRange = run.sample
        sampleOmitted = run.sampleOmitted
    }

    /// The envelope of `record` as a worker encodes it (`JSONCoding`, sorted keys).
    public init(encoding record: ClusterRecord) throws {
        try self.init(scanning: JSONCoding.encoder().encode(record))
    }

    /// An envelope read from a record of a protocol-6 `records` frame in the workers' shape (see
    /// `ClusterMessageCodec.decodeIncoming(_:peer:)`): the fields the one checking pass found.
    /// `runMembers` and `evalRanges` stay empty — nothing on the coordinator's path reads them, and
    /// `ClusterRunFacts(scanning:)` scans the run when it has to. Ranges are offsets from `bytes`'s start.
    ///
    /// A record of a `journaled` frame gives its evaluations' ranges, the facts read from its report
    /// part, and the connection and journal offsets its worker appended it at, all at once: the
    /// envelope is built whole, never copied to be completed.
    init(
        bytes: Data, sampleId: String, index: Int, status: RunRecord.Status, costUSD: Double?, errorCode: String?, run: Range<Int>,
        evals: Range<Int>, sample: Range<Int>, reportPart: Data?, evalRanges: [Range<Int>] = [],
        partFacts: RunRecordFacts<ClusterReportPart.TurnLatencies>? = nil, journaledByWorker: Bool = false, journaledBy: Int? = nil,
        journalLine: Range<Int>? = nil
    ) {
        self.bytes = bytes
        self.sampleId = sampleId
        self.index = index
        runSampleId = sampleId
        self.status = status
        self.costUSD = costUSD
        self.errorCode = errorCode
        runRange = run
        evalsRange = evals
        self.evalRanges = evalRanges
        sampleRange = sample
        runMembers = []
        sampleOmitted = sample.count == 4 && bytes[bytes.startIndex + sample.lowerBound] == UInt8(ascii: "n")
        self.reportPart = reportPart
        self.partFacts = partFacts
        self.journaledByWorker = journaledByWorker
        self.journaledBy = journaledBy
        self.journalLine = journalLine
    }

    /// This record with `sample` (a sample's JSON, as the spool holds it) as the value of
    /// `run.sample`, in place of what is there: the other bytes stay as they are, whatever other
    /// members the record has.
    public func splicingSample(_ sample: Data) -> ClusterRecordEnvelope {
        // One buffer of the final size, filled by three copies.
        let head = sampleRange.lowerBound, tail = bytes.count - sampleRange.upperBound
        var out = Data(count: head + sample.count + tail)
        out.withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { source in
                target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: head)
                (target.baseAddress! + head + sample.count).copyMemory(from: source.baseAddress! + sampleRange.upperBound, byteCount: tail)
            }
            sample.withUnsafeBytes { source in
                if let base = source.baseAddress { (target.baseAddress! + head).copyMemory(from: base, byteCount: sample.count) }
            }
        }
        let moved = { (range: Range<Int>) in self.movedBySplice(range, sampleCount: sample.count) }
        var copy = self
        copy.bytes = out
        copy.runRange = moved(runRange)
        copy.evalsRange = moved(evalsRange)
        copy.evalRanges = evalRanges.map(moved)
        copy.runMembers = runMembers.map { member in
            var member = member
            member.value = moved(member.value)
            return member
        }
        copy.sampleRange = sampleRange.lowerBound..<(sampleRange.lowerBound + sample.count)
        copy.sampleOmitted = false
        return copy
    }

    /// Where `range` of `bytes` lands in `splicingSample(s)`'s bytes for a sample `s` of
    /// `sampleCount` bytes.
    func movedBySplice(_ range: Range<Int>, sampleCount: Int) -> Range<Int> {
        let delta = sampleCount - sampleRange.count, cut = sampleRange.upperBound
        if range.lowerBound >= cut { return (range.lowerBound + delta)..<(range.upperBound + delta) }
        if range.upperBound >= cut { return range.lowerBound..<(range.upperBound + delta) }
        return range
    }

    /// The shape of `splicingSample(s)` for a sample `s` of `sampleCount` bytes, without building
    /// it: its length and where its `run` value and `evals` array are.
    public func splicedShape(sampleCount: Int) -> (count: Int, run: Range<Int>, evals: Range<Int>) {
        (bytes.count - sampleRange.count + sampleCount, movedBySplice(runRange, sampleCount: sampleCount), movedBySplice(evalsRange, sampleCount: sampleCount))
    }

    /// A record whose JSON is well-formed but not shaped like a `ClusterRecord`.
    public struct ShapeError: Error, CustomStringConvertible, Sendable {
        /// The field at fault (`run.status`).
        public var field: String
        public var message: String
        public var description: String { "\(field): \(message)" }
    }

    private static func field<T>(_ name: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as JSONByteScanner.Failure {
            throw ShapeError(field: name, message: error.message)
        }
    }

    /// The bytes of `range` of `bytes` (a range of this envelope).
    public func slice(_ range: Range<Int>) -> Data {
        bytes[(bytes.startIndex + range.lowerBound)..<(bytes.startIndex + range.upperBound)]
    }
}
