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

    public init(sampleId: String, index: Int, run: RunRecord, evals: [EvalRecord]) {
        self.sampleId = sampleId
        self.index = index
        self.run = run
        self.evals = evals
    }

    /// The record's JSON as a worker sends it (`JSONCoding`, sorted keys). With `omittingSample`
    /// the run's `sample` travels as `null`: the coordinator holds the bytes of the sample it
    /// assigned and puts them back (`ClusterRecordEnvelope.splicingSample(_:)`), so the journal line
    /// is the bytes a full encode gives. A worker omits the sample only when the record's is the
    /// one it was assigned (masking may have changed it; then it travels whole).
    public func wireBytes(omittingSample: Bool, encoder: JSONEncoder = JSONCoding.encoder()) throws -> Data {
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
}

/// A test case with its 0-based position in the dataset.
public struct IndexedSample: Sendable, Hashable, Codable {
    public var index: Int
    public var sample: TestSample

    public init(index: Int, sample: TestSample) {
        self.index = index
        self.sample = sample
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
        self.bytes = bytes
        var sampleId: String?, index: Int?, run: Range<Int>?, evals: Range<Int>?
        for member in try JSONByteScanner.members(ofObject: bytes) {
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
        self.sampleId = sampleId
        self.index = index
        self.runRange = run
        var runSampleId: String?, status: RunRecord.Status?, cost: Double?, code: String?, sample: Range<Int>?
        let runMembers = try Self.field("run") { try JSONByteScanner.members(ofObject: bytes, in: run) }
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
        self.runMembers = runMembers
        guard let sample else { throw ShapeError(field: "run.sample", message: "missing") }
        let omitted = JSONByteScanner.isNull(bytes, at: sample)
        guard omitted || bytes[bytes.startIndex + sample.lowerBound] == UInt8(ascii: "{") else {
            throw ShapeError(field: "run.sample", message: "expected an object or null")
        }
        self.sampleRange = sample
        self.sampleOmitted = omitted
        guard let runSampleId else { throw ShapeError(field: "run.sampleId", message: "missing") }
        guard let status else { throw ShapeError(field: "run.status", message: "missing") }
        self.runSampleId = runSampleId
        self.status = status
        self.costUSD = cost
        self.errorCode = code
        let elements = try Self.field("evals") { try JSONByteScanner.elements(ofArray: bytes, in: evals) }
        for (position, element) in elements.enumerated() {
            guard bytes[bytes.startIndex + element.lowerBound] == UInt8(ascii: "{") else {
                throw ShapeError(field: "evals[\(position)]", message: "expected an object")
            }
            let names = try Self.field("evals[\(position)]") { try JSONByteScanner.members(ofObject: bytes, in: element) }.map(\.name)
            if let unknown = names.first(where: { !EvalRecord.fieldNames.contains($0) }) {
                throw ShapeError(field: "evals[\(position)].\(unknown)", message: "unknown field")
            }
            for name in ["sampleId", "metric", "type", "status"] where !names.contains(name) {
                throw ShapeError(field: "evals[\(position)].\(name)", message: "missing")
            }
        }
        self.evalsRange = evals
        self.evalRanges = elements
    }

    /// The envelope of `record` as a worker encodes it (`JSONCoding`, sorted keys).
    public init(encoding record: ClusterRecord) throws {
        try self.init(scanning: JSONCoding.encoder().encode(record))
    }

    /// This record with `sample` (a sample's JSON, as the spool holds it) as the value of
    /// `run.sample`, in place of what is there: the other bytes stay as they are, whatever other
    /// members the record has.
    public func splicingSample(_ sample: Data) -> ClusterRecordEnvelope {
        let start = bytes.startIndex
        var out = Data(capacity: bytes.count - sampleRange.count + sample.count)
        out.append(bytes[start..<(start + sampleRange.lowerBound)])
        out.append(sample)
        out.append(bytes[(start + sampleRange.upperBound)...])
        let delta = sample.count - sampleRange.count
        let cut = sampleRange.upperBound
        func moved(_ range: Range<Int>) -> Range<Int> {
            if range.lowerBound >= cut { return (range.lowerBound + delta)..<(range.upperBound + delta) }
            if range.upperBound >= cut { return range.lowerBound..<(range.upperBound + delta) }
            return range
        }
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
