import ChatbotTesterCore
import Foundation

/// Streams `junit.xml`: one `<testsuite>` per metric, one `<testcase>` per sample × metric.
///
/// A failed score is a `<failure>` with the reason; an unmeasured one is `<skipped>` with the reason;
/// an errored run is an `<error>`. Test cases go to one temporary file per metric as they arrive,
/// so memory stays flat; `finish` writes the suites with their counts and removes the temporaries.
/// The output validates against the widely used Jenkins/Ant JUnit schema.
public final class JUnitReportWriter {
    private struct Suite {
        var file: URL
        var handle: FileHandle
        var buffer: [UInt8] = []
        var counts = SuiteCounts()
    }

    /// What a suite's head says: its test cases, how many of them failed, errored or were skipped,
    /// and their time — an exact sum of each test case's seconds, so the same test cases give the
    /// same figure whatever order or split they were counted in (a sharded run's pieces).
    public struct SuiteCounts: Sendable, Hashable, Codable {
        public var tests = 0, failures = 0, errors = 0, skipped = 0
        public var time = ExactSum()

        public init() {}

        /// Counts one test case that ended as `outcome` and took `seconds`.
        public mutating func add(_ outcome: Outcome, seconds: Double) {
            switch outcome {
            case .passed: break
            case .error: errors += 1
            case .skipped: skipped += 1
            case .failure: failures += 1
            }
            tests += 1
            time.add(seconds)
        }

        /// Adds another count of the same suite.
        public mutating func merge(_ other: SuiteCounts) {
            tests += other.tests
            failures += other.failures
            errors += other.errors
            skipped += other.skipped
            time.merge(other.time)
        }
    }

    /// How a test case ended, which decides the suite count it adds to.
    public enum Outcome: UInt8, Sendable {
        case passed, error, skipped, failure
    }

    /// One sample's test cases as bytes, made off the writing task (`prepare`), so that many
    /// samples are formatted at once while `add(_:prepared:)` only appends.
    public struct Prepared: Sendable {
        /// Every test case of the sample, in evaluation order.
        var xml: [UInt8] = []
        /// Where each evaluation's test case ends in `xml`.
        var ends: [Int] = []
        var outcomes: [Outcome] = []
        /// The run's latency, in seconds (every test case's time).
        var seconds = 0.0
    }

    private let output: URL
    private let scratch: URL
    private var suites: [Suite] = []
    /// The suite of each metric (suites are in first-seen order).
    private var suiteIndex: [String: Int] = [:]
    /// The metric of each suite.
    private var names: [String] = []
    private let name: String

    /// - Parameter name: the `<testsuites name>` (the job or run name).
    public init(url: URL, name: String = "chatbot-tester") throws {
        output = url
        self.name = name
        scratch = url.deletingLastPathComponent().appendingPathComponent(".junit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    /// Adds the test cases of one sample. (The reference for `prepare`, which writes the same bytes.)
    public func add(_ sample: SampleEvaluation) throws {
        let seconds = (sample.run?.latencyMs ?? 0) / 1000
        let time = DecimalText.fixed(seconds, digits: 3)
        let sampleName = ReportText.xml(sample.evals.first?.sampleId ?? "")
        for (position, eval) in sample.evals.enumerated() {
            let name = eval.sampleId == sample.evals.first?.sampleId ? sampleName : ReportText.xml(eval.sampleId)
            var xml = "    <testcase name=\"\(name)\" classname=\"\(ReportText.xml(eval.metric))\" time=\"\(time)\">"
            let reason = ReportText.xml(eval.reason ?? "")
            var outcome = Outcome.passed
            if sample.run?.status == .error {
                outcome = .error
                xml += "\n      <error message=\"\(reason)\" type=\"run-error\">\(reason)</error>\n    "
            } else if eval.status == .unmeasured {
                outcome = .skipped
                xml += "\n      <skipped message=\"unmeasured: \(reason)\"/>\n    "
            } else if eval.passed == false {
                outcome = .failure
                xml += "\n      <failure message=\"\(ReportText.xml(Self.scoreText(eval))): \(reason)\" type=\"\(ReportText.xml(eval.type))\">\(reason)</failure>\n    "
            }
            xml += "</testcase>\n"
            try Array(xml.utf8).withUnsafeBytes { try append($0, metric: eval.metric, position: position, outcome: outcome, seconds: seconds) }
        }
    }

    /// The text before a failure's reason: `score 0.2 < threshold 0.5`.
    private static func scoreText(_ eval: EvalRecord) -> String {
        eval.score.map { "score \(ReportText.number($0))" + (eval.threshold.map { " < threshold \(ReportText.number($0))" } ?? "") } ?? ""
    }

    /// The test cases `add(_:)` writes for `sample`, as bytes; safe on any task.
    public static func prepare(_ sample: SampleEvaluation) -> Prepared {
        var prepared = Prepared()
        prepared.seconds = (sample.run?.latencyMs ?? 0) / 1000
        prepared.ends.reserveCapacity(sample.evals.count)
        prepared.outcomes.reserveCapacity(sample.evals.count)
        prepared.xml.reserveCapacity(sample.evals.count * 96)
        let time = DecimalText.fixed(prepared.seconds, digits: 3)
        let isError = sample.run?.status == .error
        var out = prepared.xml
        prepared.xml = []
        // By index, each record passed borrowed: no copy of it (and of its strings) per test case.
        let evals = sample.evals
        for index in evals.indices {
            let outcome = appendTestCase(evals[index], time: time, isError: isError, to: &out)
            prepared.ends.append(out.count)
            prepared.outcomes.append(outcome)
        }
        prepared.xml = out
        return prepared
    }

    /// One evaluation's test case of `prepare`, appended to `out`; returns how it ended.
    private static func appendTestCase(_ eval: EvalRecord, time: String, isError: Bool, to out: inout [UInt8]) -> Outcome {
        out.append(contentsOf: #"    <testcase name=""#.utf8)
        ReportText.appendXML(eval.sampleId, to: &out)
        out.append(contentsOf: #"" classname=""#.utf8)
        ReportText.appendXML(eval.metric, to: &out)
        out.append(contentsOf: #"" time=""#.utf8)
        out.append(contentsOf: time.utf8)
        out.append(contentsOf: #"">"#.utf8)
        var outcome = Outcome.passed
        if isError {
            outcome = .error
            out.append(contentsOf: "\n      <error message=\"".utf8)
            ReportText.appendXML(eval.reason ?? "", to: &out)
            out.append(contentsOf: #"" type="run-error">"#.utf8)
            ReportText.appendXML(eval.reason ?? "", to: &out)
            out.append(contentsOf: "</error>\n    ".utf8)
        } else if eval.status == .unmeasured {
            outcome = .skipped
            out.append(contentsOf: "\n      <skipped message=\"unmeasured: ".utf8)
            ReportText.appendXML(eval.reason ?? "", to: &out)
            out.append(contentsOf: "\"/>\n    ".utf8)
        } else if eval.passed == false {
            outcome = .failure
            out.append(contentsOf: "\n      <failure message=\"".utf8)
            ReportText.appendXML(scoreText(eval), to: &out)
            out.append(contentsOf: ": ".utf8)
            ReportText.appendXML(eval.reason ?? "", to: &out)
            out.append(contentsOf: #"" type=""#.utf8)
            ReportText.appendXML(eval.type, to: &out)
            out.append(contentsOf: #"">"#.utf8)
            ReportText.appendXML(eval.reason ?? "", to: &out)
            out.append(contentsOf: "</failure>\n    ".utf8)
        }
        out.append(contentsOf: "</testcase>\n".utf8)
        return outcome
    }

    /// Adds the test cases of one sample made by `prepare` (in the order samples are added).
    public func add(_ sample: SampleEvaluation, prepared: Prepared) throws {
        var start = 0
        let evals = sample.evals
        try prepared.xml.withUnsafeBytes { xml in
            for position in evals.indices {
                let end = prepared.ends[position]
                try append(
                    UnsafeRawBufferPointer(rebasing: xml[start..<end]), metric: evals[position].metric, position: position,
                    outcome: prepared.outcomes[position], seconds: prepared.seconds)
                start = end
            }
        }
    }

    /// Adds the test cases of one sample as a report part holds them (`EvaluationOutput.reportPart(for:)`):
    /// `testCases` the XML `prepare` writes, `caseEnds` per evaluation of `evals` `[u32 end][u8
    /// outcome]` (little-endian; checked by the caller: in order, within the XML, known outcomes).
    func add(_ evals: [EvalRecord], testCases: UnsafeRawBufferPointer, caseEnds: UnsafeRawBufferPointer, seconds: Double) throws {
        var start = 0
        for position in evals.indices {
            let end = Int(UInt32(littleEndian: caseEnds.loadUnaligned(fromByteOffset: position * 5, as: UInt32.self)))
            try append(
                UnsafeRawBufferPointer(rebasing: testCases[start..<end]), metric: evals[position].metric, position: position,
                outcome: Outcome(rawValue: caseEnds[position * 5 + 4]) ?? .passed, seconds: seconds)
            start = end
        }
    }

    /// The test cases of many samples as bytes, grouped by metric: what `add(_:)` of each sample,
    /// in order, would add to each suite. Made off the writing task (`prepare(_:into:)`) with one
    /// buffer per metric instead of three per sample; `add(cases:)` appends them.
    public struct PreparedCases: Sendable {
        struct Group: Sendable {
            var metric: String
            var xml: [UInt8] = []
            var counts = SuiteCounts()
        }
        /// In the order the metrics were first seen.
        var groups: [Group] = []

        /// No test cases yet.
        public init() {}
    }

    /// Appends the test cases `add(_:)` writes for `sample` to `cases`; safe on any task.
    public static func prepare(_ sample: SampleEvaluation, into cases: inout PreparedCases) {
        let seconds = (sample.run?.latencyMs ?? 0) / 1000
        let time = DecimalText.fixed(seconds, digits: 3)
        let isError = sample.run?.status == .error
        let evals = sample.evals
        for position in evals.indices {
            prepare(evals[position], position: position, seconds: seconds, time: time, isError: isError, into: &cases)
        }
    }

    /// One evaluation's test case of `prepare(_:into:)`, in its metric's group.
    private static func prepare(
        _ eval: EvalRecord, position: Int, seconds: Double, time: String, isError: Bool, into cases: inout PreparedCases
    ) {
        let group: Int
        if position < cases.groups.count, cases.groups[position].metric == eval.metric {
            group = position
        } else if let known = cases.groups.firstIndex(where: { $0.metric == eval.metric }) {
            group = known
        } else {
            group = cases.groups.count
            cases.groups.append(PreparedCases.Group(metric: eval.metric))
            cases.groups[group].xml.reserveCapacity(1 << 15)
        }
        let outcome = appendTestCase(eval, time: time, isError: isError, to: &cases.groups[group].xml)
        cases.groups[group].counts.add(outcome, seconds: seconds)
    }

    /// Adds test cases made by `prepare(_:into:)` (batches in the order of their samples).
    public func add(cases: PreparedCases) throws {
        for group in cases.groups {
            let index = try suite(for: group.metric, position: -1)
            suites[index].counts.merge(group.counts)
            suites[index].buffer.append(contentsOf: group.xml)
            if suites[index].buffer.count >= 1 << 16 { try flush(index) }
        }
    }

    /// The suite of `metric`, made (with its scratch file) when first seen.
    private func suite(for metric: String, position: Int) throws -> Int {
        // Metrics come in the same order for every sample: the suite at `position` is usually it.
        if position >= 0, position < names.count, names[position] == metric { return position }
        if let known = suiteIndex[metric] { return known }
        let index = suites.count
        let file = scratch.appendingPathComponent("\(index).xml")
        suites.append(Suite(file: file, handle: try FileHandle.create(file)))
        suiteIndex[metric] = index
        names.append(metric)
        return index
    }

    /// Counts one test case in its metric's suite and buffers its XML (flushed when the buffer is full).
    private func append(_ xml: UnsafeRawBufferPointer, metric: String, position: Int, outcome: Outcome, seconds: Double) throws {
        let index = try suite(for: metric, position: position)
        suites[index].counts.add(outcome, seconds: seconds)
        suites[index].buffer.append(contentsOf: xml)
        if suites[index].buffer.count >= 1 << 16 { try flush(index) }
    }

    private func flush(_ index: Int) throws {
        try suites[index].handle.write(contentsOf: suites[index].buffer)
        suites[index].buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the file and removes the temporaries.
    public func finish() throws {
        defer { try? FileManager.default.removeItem(at: scratch) }
        for index in suites.indices {
            try flush(index)
            try suites[index].handle.close()
        }
        let out = try FileHandle.create(output)
        defer { try? out.close() }
        try out.write(contentsOf: Self.documentHead(name: name, suites: suites.map(\.counts)))
        for (index, name) in names.enumerated() {
            try out.write(contentsOf: Self.suiteHead(name: name, id: index, counts: suites[index].counts))
            try out.append(contentsOf: suites[index].file)
            try out.write(contentsOf: Self.suiteTail)
        }
        try out.write(contentsOf: Self.documentTail)
    }

    // MARK: The file's frame (shared with the assembly of a sharded run's pieces)

    /// The document's first bytes: the XML declaration and `<testsuites>` with the totals of `suites`.
    public static func documentHead(name: String, suites: [SuiteCounts]) -> Data {
        let totals = suites.reduce(into: (0, 0, 0)) { $0.0 += $1.tests; $0.1 += $1.failures; $0.2 += $1.errors }
        return Data("""
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="\(ReportText.xml(name))" tests="\(totals.0)" failures="\(totals.1)" errors="\(totals.2)">

            """.utf8)
    }

    /// A suite's opening tag (its test cases follow, then `suiteTail`).
    public static func suiteHead(name: String, id: Int, counts: SuiteCounts) -> Data {
        Data("""
              <testsuite name="\(ReportText.xml(name))" id="\(id)" tests="\(counts.tests)" failures="\(counts.failures)" errors="\(counts.errors)" skipped="\(counts.skipped)" time="\(DecimalText.fixed(counts.time.value, digits: 3))">

            """.utf8)
    }

    /// A suite's closing tag.
    public static let suiteTail = Data("  </testsuite>\n".utf8)
    /// The document's last bytes.
    public static let documentTail = Data("</testsuites>\n".utf8)
}
