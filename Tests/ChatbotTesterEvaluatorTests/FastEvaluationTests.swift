import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterEvaluator

/// The fast paths of evaluation against the code they skip: the text metrics on ASCII bytes
/// against their `String` versions, and `evaluateFile`'s batched scoring of deterministic metrics
/// against the one-task-per-metric path (byte-identical outputs).
@Suite struct FastEvaluationTests {
    static let replies = [
        "Refunds take 30 days.", "refunds TAKE 30 DAYS", "  \t\n Refunds take 30 days \r\n", "Refunds\r\ntake 30 days", "30 days\r",
        "a\r", "\r\nRefunds", "café", "cafe\u{301} refunds", "Re\u{301}funds take 30 days", "RÉFUNDS", "", " ", "30", "30 day",
        "K is \u{212A}elvin", "ß straße STRASSE", "refunds take 30 days\u{0}", "e\u{301}", "\u{FEFF}Refunds",
    ]
    static let needles = ["30 days", "Refunds", "refunds take", "e", "days\r", "\r\n", "é", "\u{212A}", "ss", " ", "RE", "\n"]

    static func metric(_ type: String, _ options: [String: JSONValue]) async throws -> ScoringMetric {
        let evaluator = try await Evaluator(specs: [ComponentSpec(type: type, options: options)])
        let metric = try #require(evaluator.metrics.first as? ScoringMetric)
        #expect(metric.isSynchronous)
        return metric
    }

    func scored(_ metric: ScoringMetric, _ reply: String, expected: String? = nil) throws -> EvalRecord {
        let records = metric.evaluateNow(Fixtures.run("s", reply: reply, expected: expected))
        return try #require(records.first)
    }

    @Test func containsMatchesTheStringVersion() async throws {
        for (type, negate, caseless) in [("contains", false, false), ("icontains", false, true), ("not-contains", true, false)] {
            for needleSet in [[Self.needles[0]], [Self.needles[0], Self.needles[1]], Self.needles, ["Refunds", "take", "30", "days"]] {
                for mode in ["all", "any"] {
                    let metric = try await Self.metric(type, ["values": .array(needleSet.map { .string($0) }), "mode": .string(mode)])
                    for reply in Self.replies {
                        let record = try scored(metric, reply)
                        let reference = TextMatchMetrics.containment(reply, needleSet, all: mode == "all", negate: negate, ignoreCase: caseless)
                        #expect(record.score == reference.score, "\(type) \(needleSet) in \(reply.debugDescription)")
                        #expect(record.reason == reference.reason, "\(type) \(needleSet) in \(reply.debugDescription)")
                        #expect(record.details == reference.details, "\(type) \(needleSet) in \(reply.debugDescription)")
                    }
                }
            }
        }
    }

    @Test func equalsAndStartsWithMatchTheStringVersion() async throws {
        for trim in [true, false] {
            for ignoreCase in [true, false] {
                let equals = try await Self.metric("equals", ["trim": .bool(trim), "ignoreCase": .bool(ignoreCase)])
                for reply in Self.replies {
                    for expected in Self.replies + Self.needles {
                        let a = TextMatchMetrics.normalise(reply, trim: trim, ignoreCase: ignoreCase)
                        let b = TextMatchMetrics.normalise(expected, trim: trim, ignoreCase: ignoreCase)
                        let record = try scored(equals, reply, expected: expected)
                        #expect(record.score == (a == b ? 1 : 0), "\(reply.debugDescription) equals \(expected.debugDescription)")
                    }
                }
                for prefix in Self.needles + ["Refunds", " Refunds", "refunds take 30"] {
                    let startsWith = try await Self.metric("starts-with", ["value": .string(prefix), "trim": .bool(trim), "ignoreCase": .bool(ignoreCase)])
                    for reply in Self.replies {
                        let wanted = TextMatchMetrics.normalise(prefix, trim: false, ignoreCase: ignoreCase)
                        var text = TextMatchMetrics.normalise(reply, trim: false, ignoreCase: ignoreCase)
                        if trim { text = String(text.drop(while: \.isWhitespace)) }
                        let record = try scored(startsWith, reply)
                        #expect(record.score == (text.hasPrefix(wanted) ? 1 : 0), "\(reply.debugDescription) starts with \(prefix.debugDescription)")
                        if text.hasPrefix(wanted) { #expect(record.reason == "reply starts with '\(excerpt(wanted))'") }
                    }
                }
            }
        }
    }

    @Test func lengthCountsCharacters() async throws {
        let metric = try await Self.metric("length", ["max": .int(1000)])
        for reply in Self.replies {
            let record = try scored(metric, reply)
            #expect(record.details?["value"] == .double(Double(reply.count)), "\(reply.debugDescription)")
        }
    }

    /// Wraps a deterministic metric so the evaluator takes its general path (a task per metric and record).
    struct Suspending: EvaluationMetric {
        let inner: ScoringMetric
        var name: String { inner.name }
        var type: String { inner.type }
        func evaluate(_ record: RunRecord) async throws -> [EvalRecord] {
            await Task.yield()
            return inner.evaluateNow(record)
        }
    }

    @Test func batchedFileEvaluationWritesWhatTheGeneralPathWrites() async throws {
        let specs = [
            ComponentSpec(type: "contains", options: ["value": "30 days"]), ComponentSpec(type: "equals"),
            ComponentSpec(type: "regex", options: ["pattern": "[Rr]efunds? take [0-9]+ days"]), ComponentSpec(type: "starts-with", options: ["value": "Refunds"]),
            ComponentSpec(type: "length", options: ["max": 30]), ComponentSpec(type: "latency", options: ["max": 150]),
            ComponentSpec(type: "icontains", options: ["values": ["REFUNDS", "café"], "tags": ["t1"]]),
        ]
        let fast = try await Evaluator(specs: specs)
        #expect(fast.isSynchronous)
        let general = Evaluator(metrics: fast.metrics.map { Suspending(inner: $0 as! ScoringMetric) }, descriptors: fast.descriptors)
        #expect(!general.isSynchronous)

        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines: [String] = []
        let encoder = JSONCoding.encoder()
        for index in 0..<3_000 {
            let reply = Self.replies[index % Self.replies.count]
            let run = Fixtures.run(
                "s\(index)", reply: index % 97 == 0 ? nil : reply, expected: index % 3 == 0 ? reply : "Refunds take 14 days.",
                tags: index % 2 == 0 ? ["t1"] : ["t2", "t\"<&>"], latencyMs: Double(index % 300) + 0.25, status: index % 101 == 0 ? .error : .ok)
            lines.append(String(decoding: try encoder.encode(run), as: UTF8.self))
            if index % 500 == 7 { lines.append(#"{"sampleId": "broken"#) }
        }
        let results = directory.appendingPathComponent("results.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: results)

        let a = try await fast.evaluateFile(results: results, outputDirectory: directory.appendingPathComponent("fast"))
        let b = try await general.evaluateFile(results: results, outputDirectory: directory.appendingPathComponent("general"))
        #expect(a.rejected.map(\.description) == b.rejected.map(\.description))
        #expect(a.rejected.count == 6)
        #expect(a.summary.aggregate == b.summary.aggregate)
        for name in ["evals.jsonl", "results.csv", "junit.xml", "summary.json", "report.md"] {
            let left = try Data(contentsOf: directory.appendingPathComponent("fast/\(name)"))
            let right = try Data(contentsOf: directory.appendingPathComponent("general/\(name)"))
            #expect(left == right, "\(name) differs")
        }
    }

    /// CSV rows and JUnit test cases made as bytes in the batch tasks against the `String` code
    /// they skip (`CSVReportWriter.rows(for:)`, `JUnitReportWriter.add(_:)`), on awkward text.
    @Test func reportBytesMatchTheStringVersions() throws {
        let texts = [
            "plain", "", "a,b", "say \"hi\"", "line\nbreak", "cr\rhere", "=1+1", "+5", "-5", "-x", "@home", "\tlead", "\rlead", "café",
            "<b>&amp;</b>", "it's", "\u{1}ctl", "\u{85}nel", "\u{FFFE}", "e\u{301}", "1e5", "-1.5", "🙂 emoji",
        ]
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reference = try JUnitReportWriter(url: directory.appendingPathComponent("a.xml"))
        let prepared = try JUnitReportWriter(url: directory.appendingPathComponent("b.xml"))
        // Test cases of many samples grouped by metric (`prepare(_:into:)`), a few samples a batch.
        let batched = try JUnitReportWriter(url: directory.appendingPathComponent("c.xml"))
        var cases = JUnitReportWriter.PreparedCases()
        var casesSamples = 0
        for (index, text) in texts.enumerated() {
            let other = texts[(index + 5) % texts.count]
            for status in [RunRecord.Status.ok, .error] {
                var run = Fixtures.run(text, reply: other, tags: index % 3 == 0 ? [] : [text, other], latencyMs: Double(index) * 12.3456, status: status)
                run.costUSD = index % 2 == 0 ? nil : Double(index) / 7
                let evals = [
                    EvalRecord(sampleId: text, metric: other, type: text, score: 0.25, passed: false, threshold: 0.5, reason: other, tags: [text]),
                    EvalRecord(sampleId: text, metric: "m2", type: "t", status: .unmeasured, reason: text),
                    EvalRecord(
                        sampleId: other, metric: text.isEmpty ? "m3" : text, type: other, score: -1.5, passed: true, reason: nil, votes: [1, 0.5],
                        spread: 0.125, straddlesThreshold: true, costUSD: 0.001),
                    EvalRecord(sampleId: text, metric: "m4", type: "t", score: .infinity, passed: false, threshold: nil, reason: "\(other)\n\(text)"),
                    EvalRecord(sampleId: text, metric: "m5", type: "t", score: index % 2 == 0 ? 1 : -0.0, passed: true, threshold: 0, reason: nil),
                    EvalRecord(sampleId: text, metric: "m6", type: "t", score: 0, passed: false, threshold: 1, reason: other),
                ]
                for sample in [SampleEvaluation(run: run, evals: evals), SampleEvaluation(run: run, evals: []), SampleEvaluation(run: nil, evals: evals)] {
                    var bytes: [UInt8] = []
                    CSVReportWriter.appendRows(for: sample, to: &bytes)
                    #expect(String(decoding: bytes, as: UTF8.self) == CSVReportWriter.rows(for: sample), "CSV of \(text.debugDescription)")
                    try reference.add(sample)
                    try prepared.add(sample, prepared: JUnitReportWriter.prepare(sample))
                    JUnitReportWriter.prepare(sample, into: &cases)
                    casesSamples += 1
                    if casesSamples % 4 == 0 {
                        try batched.add(cases: cases)
                        cases = JUnitReportWriter.PreparedCases()
                    }
                }
            }
        }
        try batched.add(cases: cases)
        try reference.finish()
        try prepared.finish()
        try batched.finish()
        let left = try Data(contentsOf: directory.appendingPathComponent("a.xml"))
        #expect(left == (try Data(contentsOf: directory.appendingPathComponent("b.xml"))))
        #expect(left == (try Data(contentsOf: directory.appendingPathComponent("c.xml"))))
        #expect(left.count > 10_000)
    }

    /// The index loops of `outcome`, the progress event and the metric-by-metric `appendNow`
    /// against what they replaced (`contains(where:)`, a filter, one array per metric).
    @Test func copyFreeLoopsMatchTheirReferences() async throws {
        let kinds: [(Bool?, EvalRecord.Status)] = [(true, .scored), (false, .scored), (nil, .unmeasured), (nil, .scored), (false, .unmeasured)]
        var checked = 0
        for first in kinds.indices {
            for second in kinds.indices {
                for third in [nil] + kinds.indices.map(Optional.some) {
                    let picks = [first, second] + (third.map { [$0] } ?? [])
                    let evals = picks.enumerated().map { position, kind in
                        EvalRecord(sampleId: "s", metric: "m\(position)", type: "t", status: kinds[kind].1, passed: kinds[kind].0, reason: nil)
                    }
                    for status in [RunRecord.Status.ok, .error] {
                        let sample = SampleEvaluation(run: Fixtures.run("s", status: status), evals: evals)
                        let expected: SampleEvaluation.Outcome =
                            status == .error ? .error
                            : evals.contains(where: { $0.passed == false }) ? .failed
                            : evals.contains(where: { $0.status == .unmeasured }) ? .unmeasured : .passed
                        #expect(sample.outcome == expected, "\(picks) \(status)")
                        let event = Evaluator.completed(sample)
                        #expect(event.failed == evals.filter { $0.passed == false }.map(\.metric))
                        #expect(event.unmeasured == evals.filter { $0.status == .unmeasured }.map(\.metric))
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 5 * 5 * 6 * 2)
        let evaluator = try await Evaluator(specs: [
            ComponentSpec(type: "contains", options: ["value": "30 days", "tags": .array([.string("refunds")])]),
            ComponentSpec(type: "equals", options: [:]),
            ComponentSpec(type: "regex", options: ["pattern": "[0-9]+ days"]),
            ComponentSpec(type: "length", options: ["max": 10]),
        ])
        let metrics = evaluator.metrics.compactMap { $0 as? ScoringMetric }
        #expect(metrics.count == 4)
        for reply in Self.replies {
            for (tags, status) in [([String](), RunRecord.Status.ok), (["refunds"], .ok), (["refunds"], .error)] {
                let run = Fixtures.run("s", reply: reply, expected: "Refunds take 30 days.", tags: tags, status: status)
                var oneByOne: [EvalRecord] = []
                for metric in metrics { oneByOne.append(contentsOf: try await metric.evaluate(run)) }
                #expect(evaluator.evaluateNow(run) == oneByOne, "\(reply.debugDescription) \(tags) \(status)")
            }
        }
    }
}
