import ChatbotTesterCore
import Foundation

/// What the reports read of one record, made by the worker that scored it and sent with the
/// record as raw bytes (protocol 5): the coordinator journals the record and keeps its part in a
/// side file (`ClusterReportPartsLog`), and the merge feeds the part to the reports without
/// decoding the record (`EvaluationOutput.add(reportPart:…)` in the Evaluator).
///
/// A part is `[1][u32 id length][id bytes][i64 index][u32 facts length][facts][body]` (integers
/// little-endian): the head names the sample and dataset index it belongs to, which the coordinator
/// checks against the record it travels with; the facts are what `RunStatistics` counts of the run
/// (`ClusterRunFacts`, read instead of scanning the run when they agree with the record's status,
/// error code and cost); the body is the Evaluator's and is opaque here.
///
/// In a `records` frame (see `ClusterMessageCodec.encodeRecords(_:)`) the parts follow the JSON as
/// a length-prefixed list, one per record (length 0: none), not inside the record's JSON: escaping
/// rows into JSON strings and reading them back cost what not decoding the record saves.
public enum ClusterReportPart {
    /// The format of a part's head.
    static let version: UInt8 = 1

    /// The largest part accepted with a record of `recordBytes` bytes: 8× the record plus 64 KiB
    /// (a part holds the record's CSV rows and JUnit test cases, which escape its reasons).
    public static func maxBytes(recordBytes: Int) -> Int { 8 * recordBytes + 64 * 1024 }

    /// A part naming `sampleId` and `index`, with `run`'s statistics facts (what `RunStatistics`
    /// counts of it, so the coordinator need not scan the run) and `body` (the Evaluator's bytes).
    public static func make(sampleId: String, index: Int, run: RunRecord, body: [UInt8]) -> Data {
        var facts: [UInt8] = []
        appendFacts(run.statisticsFacts, to: &facts)
        var head: [UInt8] = [version]
        ByteCoding.append(sampleId, to: &head)
        ByteCoding.append(UInt64(bitPattern: Int64(index)), to: &head)
        ByteCoding.append(UInt32(facts.count), to: &head)
        var out = Data(capacity: head.count + facts.count + body.count)
        out.append(contentsOf: head)
        out.append(contentsOf: facts)
        out.append(contentsOf: body)
        return out
    }

    /// A run's statistics facts as bytes (integers little-endian, doubles as their bits, an
    /// optional as a flag byte then its value, strings as `ByteCoding` writes them).
    static func appendFacts(_ facts: RunRecordFacts<some Sequence<Double>>, to out: inout [UInt8]) {
        func usage(_ value: Usage) {
            ByteCoding.append(UInt64(bitPattern: Int64(value.promptTokens)), to: &out)
            ByteCoding.append(UInt64(bitPattern: Int64(value.completionTokens)), to: &out)
        }
        out.append(facts.status == .error ? 1 : 0)
        out.append(facts.error == nil ? 0 : 1)
        if let error = facts.error {
            ByteCoding.append(error.code, to: &out)
            ByteCoding.append(error.message, to: &out)
        }
        usage(facts.usage)
        out.append(facts.simulatorUsage == nil ? 0 : 1)
        if let simulator = facts.simulatorUsage { usage(simulator) }
        out.append(facts.costUSD == nil ? 0 : 1)
        if let cost = facts.costUSD { ByteCoding.append(cost.bitPattern, to: &out) }
        ByteCoding.append(facts.latencyMs.bitPattern, to: &out)
        ByteCoding.append(UInt64(bitPattern: Int64(facts.attempts)), to: &out)
        let turns = Array(facts.turnLatencies)
        ByteCoding.append(UInt32(turns.count), to: &out)
        for turn in turns { ByteCoding.append(turn.bitPattern, to: &out) }
        out.append(facts.stopReason == nil ? 0 : 1)
        if let reason = facts.stopReason { ByteCoding.append(reason, to: &out) }
        out.append(facts.simulated ? 1 : 0)
    }

    /// The statistics facts `part` carries; nil when it is not readable.
    public static func facts(_ part: Data) -> ClusterRunFacts? {
        guard let facts = leanFacts(part) else { return nil }
        return ClusterRunFacts(
            status: facts.status, error: facts.error, usage: facts.usage, simulatorUsage: facts.simulatorUsage, costUSD: facts.costUSD,
            latencyMs: facts.latencyMs, attempts: facts.attempts, turnLatencies: Array(facts.turnLatencies), stopReason: facts.stopReason,
            simulated: facts.simulated)
    }

    /// The statistics facts `part` carries, its turn latencies read from its bytes as they are
    /// counted (no array per record: what the coordinator adds to its totals); nil when it is not
    /// readable.
    public static func leanFacts(_ part: Data) -> RunRecordFacts<TurnLatencies>? {
        leanFacts(part) { _, _ in true }
    }

    /// The facts of `part` when `accepts` takes its head (the sample id's bytes, the index); read in
    /// one pass.
    private static func leanFacts(_ part: Data, accepts: (UnsafeRawBufferPointer, UInt64) -> Bool) -> RunRecordFacts<TurnLatencies>? {
        ByteCoding.read(part) { reader in
            guard reader.byte() == version, let length = reader.u32(), let id = reader.bytes(Int(length)), let index = reader.u64(), accepts(id, index),
                let factsLength = reader.u32(), let range = reader.skip(Int(factsLength))
            else { return nil }
            var facts = ByteCoding.Reader(UnsafeRawBufferPointer(rebasing: reader.raw[range]))
            return readFacts(&facts, part: part, base: range.lowerBound)
        }
    }

    /// The statistics facts `part` carries when its head names exactly `sampleId` at `index` (the
    /// id compared as bytes) and it is at most `maxBytes(recordBytes:)`: the head and the facts read
    /// in one pass. Nil otherwise (`mismatch` then says why).
    public static func leanFacts(_ part: Data, sampleId: String, index: Int, recordBytes: Int) -> RunRecordFacts<TurnLatencies>? {
        guard part.count <= maxBytes(recordBytes: recordBytes) else { return nil }
        var id = sampleId
        return id.withUTF8 { expected in
            leanFacts(part) { bytes, named in
                named == UInt64(bitPattern: Int64(index)) && bytes.count == expected.count
                    && (expected.isEmpty || memcmp(bytes.baseAddress!, expected.baseAddress!, expected.count) == 0)
            }
        }
    }

    /// The turn latencies of a part's facts (`leanFacts`), read from the part's bytes as they are
    /// iterated.
    public struct TurnLatencies: Sequence, Sendable, Hashable {
        let part: Data
        /// Where the latencies are (8 bytes each), offsets from `part.startIndex`.
        let range: Range<Int>

        public var underestimatedCount: Int { range.count / 8 }

        public func makeIterator() -> Iterator { Iterator(part: part, offset: range.lowerBound, end: range.upperBound) }

        public struct Iterator: IteratorProtocol {
            let part: Data
            var offset: Int
            let end: Int

            public mutating func next() -> Double? {
                guard offset + 8 <= end else { return nil }
                let at = offset
                offset += 8
                return part.withUnsafeBytes { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self))) }
            }
        }
    }

    /// Reads the facts at `reader` (a reader over the facts of `part`, which start at `base`).
    private static func readFacts(_ reader: inout ByteCoding.Reader, part: Data, base: Int) -> RunRecordFacts<TurnLatencies>? {
        func int() -> Int? { reader.u64().map { Int(Int64(bitPattern: $0)) } }
        func usage() -> Usage? {
            guard let prompt = int(), let completion = int() else { return nil }
            return Usage(promptTokens: prompt, completionTokens: completion)
        }
        guard let status = reader.byte(), status <= 1, let hasError = reader.byte(), hasError <= 1 else { return nil }
        var error: ErrorInfo?
        if hasError == 1 {
            // Code and message: what the statistics and their error examples read (as the scan).
            guard let code = reader.string(), let message = reader.string() else { return nil }
            error = ErrorInfo(code: code, message: message)
        }
        guard let runUsage = usage(), let hasSimulator = reader.byte(), hasSimulator <= 1 else { return nil }
        var simulator: Usage?
        if hasSimulator == 1 {
            guard let value = usage() else { return nil }
            simulator = value
        }
        guard let hasCost = reader.byte(), hasCost <= 1 else { return nil }
        var cost: Double?
        if hasCost == 1 {
            guard let bits = reader.u64() else { return nil }
            cost = Double(bitPattern: bits)
        }
        guard let latency = reader.u64(), let attempts = int(), let turnCount = reader.u32(), Int(turnCount) <= reader.remaining / 8,
            let turns = reader.skip(Int(turnCount) * 8)
        else { return nil }
        guard let hasStop = reader.byte(), hasStop <= 1 else { return nil }
        var stopReason: String?
        if hasStop == 1 {
            guard let reason = reader.string() else { return nil }
            stopReason = reason
        }
        guard let simulated = reader.byte(), simulated <= 1, reader.remaining == 0 else { return nil }
        return RunRecordFacts(
            status: status == 1 ? .error : .ok, error: error, usage: runUsage, simulatorUsage: simulator, costUSD: cost,
            latencyMs: Double(bitPattern: latency), attempts: attempts,
            turnLatencies: TurnLatencies(part: part, range: (base + turns.lowerBound)..<(base + turns.upperBound)), stopReason: stopReason,
            simulated: simulated == 1)
    }

    /// The head of `part`: the sample id and index it names, and where its body is (offsets from
    /// `part.startIndex`); nil when it is not a part of this format.
    public static func head(_ part: Data) -> (sampleId: String, index: Int, body: Range<Int>)? {
        ByteCoding.read(part) { reader in
            guard reader.byte() == version, let sampleId = reader.string(), let index = reader.u64(), let facts = reader.u32(),
                reader.skip(Int(facts)) != nil
            else { return nil }
            return (sampleId, Int(Int64(bitPattern: index)), reader.offset..<part.count)
        }
    }

    /// Where the body of `part` is (offsets from `part.startIndex`) when its head names dataset
    /// index `index` (its sample id is skipped, not made into a string); nil otherwise.
    public static func body(of part: Data, index: Int) -> Range<Int>? {
        ByteCoding.read(part) { reader in
            guard reader.byte() == version, let length = reader.u32(), reader.skip(Int(length)) != nil,
                reader.u64() == UInt64(bitPattern: Int64(index)), let facts = reader.u32(), reader.skip(Int(facts)) != nil
            else { return nil }
            return reader.offset..<part.count
        }
    }

    /// Where the body of `part` is (offsets from `part.startIndex`) when its head names exactly
    /// `sampleId` at `index` (compared as bytes: no string is made); nil otherwise.
    public static func body(of part: Data, sampleId: String, index: Int) -> Range<Int>? {
        ByteCoding.read(part) { reader in
            guard reader.byte() == version, let length = reader.u32(), let id = reader.bytes(Int(length)), reader.u64() == UInt64(bitPattern: Int64(index)),
                id.elementsEqual(sampleId.utf8), let facts = reader.u32(), reader.skip(Int(facts)) != nil
            else { return nil }
            return reader.offset..<part.count
        }
    }

    /// Why a part does not belong to its record (`nil`: it does): another sample or index, an
    /// unreadable head, or more than `maxBytes(recordBytes:)`.
    public static func mismatch(_ part: Data, sampleId: String, index: Int, recordBytes: Int) -> String? {
        guard part.count <= maxBytes(recordBytes: recordBytes) else {
            return "report part of \(part.count) bytes is larger than \(maxBytes(recordBytes: recordBytes)) for a record of \(recordBytes)"
        }
        // The usual case without making a string: the head names this record.
        if body(of: part, sampleId: sampleId, index: index) != nil { return nil }
        guard let head = head(part) else { return "report part is not readable" }
        guard head.sampleId == sampleId, head.index == index else {
            return "report part names sample '\(head.sampleId)' at index \(head.index), its record '\(sampleId)' at index \(index)"
        }
        return nil
    }
}
