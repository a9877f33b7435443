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
        var buffer = Data()
        var tests = 0, failures = 0, errors = 0, skipped = 0
        var time = 0.0
    }

    private let output: URL
    private let scratch: URL
    private var suites: [String: Suite] = [:]
    private var order: [String] = []
    private let name: String

    /// - Parameter name: the `<testsuites name>` (the job or run name).
    public init(url: URL, name: String = "chatbot-tester") throws {
        output = url
        self.name = name
        scratch = url.deletingLastPathComponent().appendingPathComponent(".junit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    /// Adds the test cases of one sample.
    public func add(_ sample: SampleEvaluation) throws {
        let seconds = (sample.run?.latencyMs ?? 0) / 1000
        let time = ReportText.fixed(seconds, digits: 3)
        let sampleName = ReportText.xml(sample.evals.first?.sampleId ?? "")
        for eval in sample.evals {
            if suites[eval.metric] == nil {
                let file = scratch.appendingPathComponent("\(order.count).xml")
                suites[eval.metric] = Suite(file: file, handle: try FileHandle.create(file))
                order.append(eval.metric)
            }
            let name = eval.sampleId == sample.evals.first?.sampleId ? sampleName : ReportText.xml(eval.sampleId)
            var xml = "    <testcase name=\"\(name)\" classname=\"\(ReportText.xml(eval.metric))\" time=\"\(time)\">"
            let reason = ReportText.xml(eval.reason ?? "")
            var counter: WritableKeyPath<Suite, Int>?
            if sample.run?.status == .error {
                counter = \.errors
                xml += "\n      <error message=\"\(reason)\" type=\"run-error\">\(reason)</error>\n    "
            } else if eval.status == .unmeasured {
                counter = \.skipped
                xml += "\n      <skipped message=\"unmeasured: \(reason)\"/>\n    "
            } else if eval.passed == false {
                counter = \.failures
                let scoreText =
                    eval.score.map { "score \(ReportText.number($0))" + (eval.threshold.map { " < threshold \(ReportText.number($0))" } ?? "") } ?? ""
                xml += "\n      <failure message=\"\(ReportText.xml(scoreText)): \(reason)\" type=\"\(ReportText.xml(eval.type))\">\(reason)</failure>\n    "
            }
            xml += "</testcase>\n"
            // The suite is updated in place (one lookup) and flushed when its buffer is full.
            if Self.append(xml, counting: counter, seconds: seconds, to: &suites[eval.metric]!) { try flush(eval.metric) }
        }
    }

    /// Counts one test case in `suite` (and in `counter`, its outcome's count) and buffers its XML;
    /// returns whether the buffer is due for a flush.
    private static func append(_ xml: String, counting counter: WritableKeyPath<Suite, Int>?, seconds: Double, to suite: inout Suite) -> Bool {
        if let counter { suite[keyPath: counter] += 1 }
        suite.tests += 1
        suite.time += seconds
        suite.buffer.append(contentsOf: xml.utf8)
        return suite.buffer.count >= 1 << 16
    }

    private func flush(_ metric: String) throws {
        try suites[metric]!.handle.write(contentsOf: suites[metric]!.buffer)
        suites[metric]!.buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the file and removes the temporaries.
    public func finish() throws {
        defer { try? FileManager.default.removeItem(at: scratch) }
        for name in order {
            try flush(name)
            try suites[name]!.handle.close()
        }
        let totals = suites.values.reduce(into: (0, 0, 0, 0)) { $0.0 += $1.tests; $0.1 += $1.failures; $0.2 += $1.errors; $0.3 += $1.skipped }
        let out = try FileHandle.create(output)
        defer { try? out.close() }
        try out.write(contentsOf: Data("""
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="\(ReportText.xml(name))" tests="\(totals.0)" failures="\(totals.1)" errors="\(totals.2)">

            """.utf8))
        for (index, name) in order.enumerated() {
            let suite = suites[name]!
            try out.write(contentsOf: Data("""
                  <testsuite name="\(ReportText.xml(name))" id="\(index)" tests="\(suite.tests)" failures="\(suite.failures)" errors="\(suite.errors)" skipped="\(suite.skipped)" time="\(ReportText.fixed(suite.time, digits: 3))">

                """.utf8))
            let reader = try FileHandle(forReadingFrom: suite.file)
            while let chunk = try reader.read(upToCount: 1 << 16), !chunk.isEmpty { try out.write(contentsOf: chunk) }
            try reader.close()
            try out.write(contentsOf: Data("  </testsuite>\n".utf8))
        }
        try out.write(contentsOf: Data("</testsuites>\n".utf8))
    }
}
