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

    /// What `add(reportPart:…)` reads of a part: the run and evaluations as the aggregate and the
    /// outcome read them (the rest of each record left empty), the CSV rows, the test cases.
    struct ReportPart {
        var run: RunRecord
        var evals: [EvalRecord]
        /// Where the CSV rows are in the part's bytes (they are copied from there, once).
        var csvRows: Range<Int>
        var junit: JUnitReportWriter.Prepared

        init(run: RunRecord, evals: [EvalRecord], csvRows: Range<Int>, junit: JUnitReportWriter.Prepared) {
            self.run = run
            self.evals = evals
            self.csvRows = csvRows
            self.junit = junit
        }

        /// Reads a part; nil when its bytes are not one (cut short, a bad flag, ends out of order,
        /// bytes left over).
        init?(_ data: Data) {
            guard let part = ByteCoding.read(data, Self.read) else { return nil }
            self = part
        }

        private static func read(_ reader: inout ByteCoding.Reader) -> ReportPart? {
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
            let run = RunRecord(
                sample: TestSample(id: ""), target: "", status: status == 1 ? .error : .ok, usage: runUsage, costUSD: cost, latencyMs: latencyMs,
                error: errorCode.map { ErrorInfo(code: $0, message: "") })
            var evals: [EvalRecord] = []
            evals.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let sampleId = reader.string(), let metric = reader.string(), let type = reader.string(), let evalStatus = reader.byte(),
                    evalStatus <= 1, let score = double(), let passed = flag(), let threshold = double(), let straddles = flag(),
                    let hasUsage = reader.byte(), hasUsage <= 1
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
                    sampleId: sampleId, metric: metric, type: type, status: evalStatus == 0 ? .scored : .unmeasured, score: score, passed: passed,
                    threshold: threshold, straddlesThreshold: straddles, usage: judge, costUSD: judgeCost, tags: tags))
            }
            guard let rowsLength = reader.u32(), let rows = reader.skip(Int(rowsLength)), let xmlLength = reader.u32(),
                let xml = reader.bytes(Int(xmlLength))
            else { return nil }
            var junit = JUnitReportWriter.Prepared()
            junit.xml = [UInt8](xml)
            junit.seconds = latencyMs / 1000
            junit.ends.reserveCapacity(Int(count))
            junit.outcomes.reserveCapacity(Int(count))
            var last = 0
            for _ in 0..<count {
                guard let end = reader.u32(), Int(end) >= last, Int(end) <= junit.xml.count, let raw = reader.byte(),
                    let outcome = JUnitReportWriter.Outcome(rawValue: raw)
                else { return nil }
                last = Int(end)
                junit.ends.append(last)
                junit.outcomes.append(outcome)
            }
            guard last == junit.xml.count, reader.remaining == 0 else { return nil }
            return ReportPart(run: run, evals: evals, csvRows: rows, junit: junit)
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
        guard writer == nil, comparison == nil, let part = ReportPart(bytes), part.evals.count == evalCount else { return false }
        aggregate.add(part.run, evals: part.evals)
        let counted = SampleEvaluation(run: part.run, evals: part.evals)
        try bytes.withUnsafeBytes { raw in
            try reports.add(
                outcome: counted.outcome, evals: part.evals, csvRows: UnsafeRawBufferPointer(rebasing: raw[part.csvRows]), junit: part.junit,
                sample: sample)
        }
        return true
    }
}
