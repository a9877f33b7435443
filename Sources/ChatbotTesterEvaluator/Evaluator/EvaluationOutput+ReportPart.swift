import ChatbotTesterCore
import Foundation

// MARK: - Reports made where the sample was scored

extension EvaluationOutput {
    /// The version of `reportPart(for:)`'s bytes.
    static let reportPartVersion: UInt8 = 1

    /// What the reports read of one scored sample, as bytes made where it was scored (a cluster
    /// worker) and fed to an output elsewhere (the coordinator's merge) by `add(reportPart:…)`,
    /// without decoding the record: the run's numbers the aggregate counts (status, error code,
    /// latency, usage, cost — doubles as exact bit patterns), each evaluation's (metric, type,
    /// status, score, passed, threshold, straddling, judge usage and cost, tags), the sample's
    /// `results.csv` rows and its `junit.xml` test cases with their outcomes. Nil without a run.
    ///
    /// Layout (integers little-endian, strings as a `UInt32` length and UTF-8, an optional double
    /// as a flag byte and its bits): `[1]`, the run, `[u32 evals]` and each evaluation, `[u32][CSV
    /// rows]`, `[u32][test cases]` and per evaluation `[u32 end][u8 outcome]`.
    public static func reportPart(for sample: SampleEvaluation) -> [UInt8]? {
        guard let run = sample.run else { return nil }
        var out: [UInt8] = [reportPartVersion]
        out.reserveCapacity(512 + sample.evals.count * 400)
        func double(_ value: Double?) {
            out.append(value == nil ? 0 : 1)
            if let value { ByteCoding.append(value.bitPattern, to: &out) }
        }
        func flag(_ value: Bool?) { out.append(value.map { $0 ? 2 : 1 } ?? 0) }
        func usage(_ value: Usage) {
            ByteCoding.append(UInt64(bitPattern: Int64(value.promptTokens)), to: &out)
            ByteCoding.append(UInt64(bitPattern: Int64(value.completionTokens)), to: &out)
        }
        out.append(run.status == .error ? 1 : 0)
        out.append(run.error == nil ? 0 : 1)
        if let error = run.error { ByteCoding.append(error.code, to: &out) }
        ByteCoding.append(run.latencyMs.bitPattern, to: &out)
        usage(run.usage)
        double(run.costUSD)
        ByteCoding.append(UInt32(sample.evals.count), to: &out)
        for index in sample.evals.indices {
            let eval = sample.evals[index]
            ByteCoding.append(eval.sampleId, to: &out)
            ByteCoding.append(eval.metric, to: &out)
            ByteCoding.append(eval.type, to: &out)
            out.append(eval.status == .scored ? 0 : 1)
            double(eval.score)
            flag(eval.passed)
            double(eval.threshold)
            flag(eval.straddlesThreshold)
            out.append(eval.usage == nil ? 0 : 1)
            if let judge = eval.usage { usage(judge) }
            double(eval.costUSD)
            ByteCoding.append(UInt32(eval.tags.count), to: &out)
            for tag in eval.tags { ByteCoding.append(tag, to: &out) }
        }
        var rows: [UInt8] = []
        CSVReportWriter.appendRows(for: sample, to: &rows)
        ByteCoding.append(UInt32(rows.count), to: &out)
        out.append(contentsOf: rows)
        let junit = JUnitReportWriter.prepare(sample)
        ByteCoding.append(UInt32(junit.xml.count), to: &out)
        out.append(contentsOf: junit.xml)
        for (end, outcome) in zip(junit.ends, junit.outcomes) {
            ByteCoding.append(UInt32(end), to: &out)
            out.append(outcome.rawValue)
        }
        return out
    }

    /// What `add(reportPart:…)` reads of a part: the run's numbers the aggregate and the outcome
    /// read, the evaluations (into a buffer given by the caller; `metric`, `type`, the numbers and
    /// tags, the rest of each record left empty), and where the CSV rows, the test cases and their
    /// ends are in the part's bytes (they are copied from there, once).
    struct ReportPart {
        var status: RunRecord.Status
        var errorCode: String?
        var latencyMs: Double
        var usage: Usage
        var costUSD: Double?
        var csvRows: Range<Int>
        /// The test cases' XML.
        var testCases: Range<Int>
        /// Per evaluation `[u32 end][u8 outcome]` (checked: in order, within the XML, known outcomes).
        var caseEnds: Range<Int>

        init(
            status: RunRecord.Status, errorCode: String?, latencyMs: Double, usage: Usage, costUSD: Double?, csvRows: Range<Int>, testCases: Range<Int>,
            caseEnds: Range<Int>
        ) {
            self.status = status
            self.errorCode = errorCode
            self.latencyMs = latencyMs
            self.usage = usage
            self.costUSD = costUSD
            self.csvRows = csvRows
            self.testCases = testCases
            self.caseEnds = caseEnds
        }

        /// Reads a part; nil when its bytes are not one (cut short, a bad flag, ends out of order,
        /// bytes left over).
        init?(_ data: Data) {
            var names = ReportPartNames()
            var evals: [EvalRecord] = []
            guard let part = ByteCoding.read(data, { Self.read(&$0, names: &names, evals: &evals) }) else { return nil }
            self = part
        }

        /// Reads the part at `reader` (its evaluations into `evals`, emptied first; their names from
        /// `names` when they are the names read last at their position).
        static func read(_ reader: inout ByteCoding.Reader, names: inout ReportPartNames, evals: inout [EvalRecord]) -> ReportPart? {
            func double() -> Double?? {
                switch reader.byte() {
                case 0: return .some(nil)
                case 1: return reader.u64().map { .some(Double(bitPattern: $0)) }
                default: return nil
                }
            }
            func flag() -> Bool?? {
                switch reader.byte() {
                case 0: return .some(nil)
                case 1: return .some(false)
                case 2: return .some(true)
                default: return nil
                }
            }
            func usage() -> Usage? {
                guard let prompt = reader.u64(), let completion = reader.u64() else { return nil }
                return Usage(promptTokens: Int(Int64(bitPattern: prompt)), completionTokens: Int(Int64(bitPattern: completion)))
            }
            func text() -> UnsafeRawBufferPointer? {
                guard let length = reader.u32() else { return nil }
                return reader.bytes(Int(length))
            }
            evals.removeAll(keepingCapacity: true)
            guard reader.byte() == EvaluationOutput.reportPartVersion, let status = reader.byte(), status <= 1, let hasError = reader.byte(), hasError <= 1
            else { return nil }
            var errorCode: String?
            if hasError == 1 {
                guard let code = reader.string() else { return nil }
                errorCode = code
            }
            guard let latency = reader.u64(), let runUsage = usage(), let cost = double(), let count = reader.u32(), Int(count) <= reader.remaining
            else { return nil }
            let latencyMs = Double(bitPattern: latency)
            guard latencyMs.isFinite, (cost ?? 0).isFinite else { return nil }
            evals.reserveCapacity(Int(count))
            for position in 0..<Int(count) {
                // The sample id is skipped: nothing counted from a part reads it (a report keeping
                // the sample decodes the whole record).
                guard text() != nil, let metricBytes = text(), let typeBytes = text(), let evalStatus = reader.byte(), evalStatus <= 1,
                    let score = double(), let passed = flag(), let threshold = double(), let straddles = flag(), let hasUsage = reader.byte(),
                    hasUsage <= 1
                else { return nil }
                var judge: Usage?
                if hasUsage == 1 {
                    guard let value = usage() else { return nil }
                    judge = value
                }
                guard let judgeCost = double(), let tagCount = reader.u32(), Int(tagCount) <= reader.remaining else { return nil }
                var tags: [String] = []
                for _ in 0..<tagCount {
                    guard let tag = reader.string() else { return nil }
                    tags.append(tag)
                }
                evals.append(EvalRecord(
                    sampleId: "", metric: names.name(metricBytes, slot: 2 * position), type: names.name(typeBytes, slot: 2 * position + 1),
                    status: evalStatus == 0 ? .scored : .unmeasured, score: score, passed: passed, threshold: threshold,
                    straddlesThreshold: straddles, usage: judge, costUSD: judgeCost, tags: tags))
            }
            guard let rowsLength = reader.u32(), let rows = reader.skip(Int(rowsLength)), let xmlLength = reader.u32(),
                let xml = reader.skip(Int(xmlLength)), let ends = reader.skip(Int(count) * 5)
            else { return nil }
            var last = 0
            for position in 0..<Int(count) {
                let at = ends.lowerBound + position * 5
                let end = Int(UInt32(littleEndian: reader.raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                guard end >= last, end <= xml.count, JUnitReportWriter.Outcome(rawValue: reader.raw[at + 4]) != nil else { return nil }
                last = end
            }
            guard last == xml.count, reader.remaining == 0 else { return nil }
            return ReportPart(
                status: status == 1 ? .error : .ok, errorCode: errorCode, latencyMs: latencyMs, usage: runUsage, costUSD: cost, csvRows: rows,
                testCases: xml, caseEnds: ends)
        }
    }

    /// Adds one sample from its report part (`reportPart(for:)`, made where it was scored), in
    /// results order, as `add(_:)` adds the decoded sample: the same aggregate and report bytes.
    /// `sample` decodes the whole sample; it is called only when `report.md` or `report.html`
    /// keeps it.
    ///
    /// Returns `false`, having added nothing, when the part cannot be used — its bytes are not a
    /// part, it holds another number of evaluations than `evalCount` (the record's), this output
    /// writes `evals.jsonl` or compares with a baseline (both read whole records) — and the
    /// caller adds the sample decoded.
    public func add(reportPart bytes: Data, evalCount: Int, sample: () throws -> SampleEvaluation) throws -> Bool {
        guard writer == nil, comparison == nil else { return false }
        return try bytes.withUnsafeBytes { raw in
            var reader = ByteCoding.Reader(raw)
            guard let part = ReportPart.read(&reader, names: &partNames, evals: &partEvals), partEvals.count == evalCount else { return false }
            aggregate.runs.add(status: part.status, errorCode: part.errorCode, latencyMs: part.latencyMs, usage: part.usage, costUSD: part.costUSD)
            for index in partEvals.indices { aggregate.add(partEvals[index]) }
            try reports.add(
                outcome: SampleEvaluation.outcome(failedRun: part.status == .error, evals: partEvals), evals: partEvals,
                csvRows: UnsafeRawBufferPointer(rebasing: raw[part.csvRows]), testCases: UnsafeRawBufferPointer(rebasing: raw[part.testCases]),
                caseEnds: UnsafeRawBufferPointer(rebasing: raw[part.caseEnds]), seconds: part.latencyMs / 1000, sample: sample)
            return true
        }
    }
}

/// The names report parts give, per slot (an evaluation's metric or type at its position), as
/// bytes and as the `String` made of them: a part naming what the last one named there makes no
/// string (one job's metrics come in the same order in every part).
struct ReportPartNames {
    private var known: [(bytes: [UInt8], text: String)] = []

    /// The name `bytes` spell (UTF-8), for slot `slot`.
    mutating func name(_ bytes: UnsafeRawBufferPointer, slot: Int) -> String {
        if slot < known.count, known[slot].bytes.count == bytes.count,
            known[slot].bytes.withUnsafeBytes({ bytes.count == 0 || memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 })
        {
            return known[slot].text
        }
        let text = String(decoding: bytes, as: UTF8.self)
        while known.count <= slot { known.append(([], "")) }
        known[slot] = (Array(bytes), text)
        return text
    }
}
