import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

@Suite struct ReportTests {
    static let nasty = "<script>alert('x')</script> & \"quotes\" | pipes\u{0001}\u{0008} 🚀 =SUM(A1)"

    /// 30 runs: passing, failing, errored, judge-unreadable, and hostile text everywhere.
    static func runs() -> [RunRecord] {
        (0..<30).map { i in
            if i == 7 { return Fixtures.run("s7-error", reply: nil, tags: ["billing"], status: .error) }
            let reply = i % 5 == 0 ? "No idea. \(nasty)" : "Refunds within 30 days. \(i % 3 == 0 ? nasty : "")"
            return Fixtures.run(
                i == 3 ? "s3-\(nasty)" : "s\(i)", reply: reply, input: "Refund? \(nasty)", expected: "30 days", tags: i == 4 ? ["=cmd|calc"] : (i % 2 == 0 ? ["billing", "<b>tag</b>"] : ["support"]),
                latencyMs: Double(100 + i * 10), costUSD: 0.001)
        }
    }

    static let specs: [ComponentSpec] = [
        ComponentSpec(type: "contains", options: ["value": "30 days"]),
        ComponentSpec(type: "llm-judge", options: ["name": "helpful", "backend": "judge", "rubric": .string("Is it helpful? \(nasty)"), "threshold": 0.7, "passRate": 0.5]),
        ComponentSpec(type: "latency", options: ["max": 1000]),
    ]

    /// A judge that likes "30 days", cannot decide on sample 11, and quotes hostile text in its reason.
    static func judgeBackends() -> BackendSet {
        Fixtures.backends(judge: { request in
            let text = request.messages[1].content
            if text.contains("Refund? ") && text.contains("s11") { return ChatResponse(content: "garbage") }
            if request.messages.count == 4 { return ChatResponse(content: "still garbage") }
            let good = text.contains("<final_assistant_reply>\nRefunds within 30 days")
            return ChatResponse(content: #"{"score": \#(good ? 5 : 2), "reason": "reason with \#(ReportTests.nasty.replacingOccurrences(of: "\"", with: "'").unicodeScalars.filter { $0.value >= 0x20 }.map(String.init).joined())"}"#, costUSD: 0.0005)
        })
    }

    struct Output {
        var dir: URL
        var outcome: Evaluator.FileOutcome
        var runs: [RunRecord]
    }

    static func evaluate(cap: Int = 1000) async throws -> Output {
        let dir = try Fixtures.temporaryDirectory()
        var runs = Self.runs()
        // Sample 11's judge prompt is made unreadable on purpose.
        runs[11].transcript[0].content += " s11"
        let results = dir.appendingPathComponent("results.jsonl")
        try Fixtures.writeJSONL(runs, to: results)
        // A malformed line must be skipped and counted, not stop the run.
        let handle = try FileHandle(forWritingTo: results)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"sampleId\": \"broken\"\n".utf8))
        try handle.close()
        let evaluator = try await Evaluator(specs: specs, backends: judgeBackends(), concurrency: 4)
        let outcome = try await evaluator.evaluateFile(
            results: results, outputDirectory: dir, options: ReportOptions(title: "Nightly <run> & co", htmlSampleCap: cap))
        return Output(dir: dir, outcome: outcome, runs: runs)
    }

    @Test func evaluateFileWritesEveryReport() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        for name in ["evals.jsonl", "summary.json", "junit.xml", "results.csv", "report.md", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: out.dir.appendingPathComponent(name).path), "\(name) missing")
        }
        #expect(out.outcome.rejected.count == 1)
        #expect(out.outcome.rejected.first?.location?.line == 31)
        let summary = out.outcome.summary
        #expect(summary.rejectedLines == 1)
        #expect(summary.aggregate.runs.samples == 30)
        #expect(summary.aggregate.metrics["contains"]?.unmeasured == 1)  // the errored run
        #expect(summary.aggregate.metrics["helpful"]?.unmeasured == 2)  // errored + unreadable judge
        #expect(summary.aggregate.metrics["contains"]?.failed == 6)
        #expect(!summary.passed)  // contains: default gate passRate 1
        #expect(summary.gates.first { $0.metric == "helpful" }?.passed == true)
        // evals.jsonl: one line per sample × metric, in results order.
        var ids: [String] = []
        for try await entry in JSONL.read(EvalRecord.self, from: out.outcome.evals) { ids.append(try entry.result.get().sampleId) }
        #expect(ids.count == 90)
        #expect(ids.first == "s0")
        #expect(ids.last == "s29")
        let judged = try await Self.evalRecords(out.outcome.evals).filter { $0.metric == "helpful" && $0.status == .scored }
        #expect(judged.allSatisfy { $0.costUSD == 0.0005 })
    }

    static func evalRecords(_ url: URL) async throws -> [EvalRecord] {
        var all: [EvalRecord] = []
        for try await entry in JSONL.read(EvalRecord.self, from: url) { all.append(try entry.result.get()) }
        return all
    }

    @Test func junitValidatesAgainstTheSchema() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let junit = out.dir.appendingPathComponent("junit.xml")
        let text = try String(contentsOf: junit, encoding: .utf8)
        #expect(text.components(separatedBy: "<testcase ").count - 1 == 90)
        #expect(text.components(separatedBy: "<testsuite ").count - 1 == 3)
        #expect(text.components(separatedBy: "<skipped ").count - 1 == 1)  // unreadable judge
        #expect(text.components(separatedBy: "<error ").count - 1 == 3)  // errored run × 3 metrics
        #expect(text.contains("&lt;script&gt;"))
        #expect(!text.contains("<script>"))
        #expect(!text.contains("\u{0001}"))
        guard let xmllint = Fixtures.requiredTool("xmllint", debianPackage: "libxml2-utils") else { return }
        let xsd = out.dir.appendingPathComponent("junit.xsd")
        try JUnitSchema.xsd.write(to: xsd, atomically: true, encoding: .utf8)
        let result = try await Fixtures.execute(xmllint, ["--noout", "--schema", xsd.path, junit.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("validates"))
    }

    @Test func csvHasOneRowPerSampleAndMetricAndIsSafe() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let text = try String(contentsOf: out.dir.appendingPathComponent("results.csv"), encoding: .utf8)
        let rows = Self.parseCSV(text)
        #expect(rows.first == CSVReportWriter.columns)
        #expect(rows.count == 91)
        #expect(rows.allSatisfy { $0.count == CSVReportWriter.columns.count })
        let s3 = try #require(rows.first { $0[0].hasPrefix("s3-") && $0[1] == "contains" })
        #expect(s3[0] == "s3-\(Self.nasty)")  // round-trips through quoting
        #expect(text.contains(",'=cmd|calc"))  // a formula-looking cell is neutralised
        #expect(!text.contains(",=cmd"))
    }

    /// A strict RFC 4180 reader for the test.
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\r\n" || c == "\n" {
                row.append(field); field = ""; rows.append(row); row = []
            } else {
                field.append(c)
            }
        }
        return rows
    }

    @Test func markdownReportIsSafeForPullRequests() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let md = try String(contentsOf: out.dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(md.hasPrefix("## ❌ Nightly &lt;run&gt; &amp; co: failed"))
        #expect(md.contains("| contains passRate | ≥ 1.000 |"))
        #expect(md.contains("failing results"))
        #expect(!md.contains("<script>"))
        // No table row is broken by a pipe or newline inside a cell (failing rows have 4 cells,
        // unmeasured rows 3).
        let unmeasured = md.range(of: "unmeasured results</summary>")?.lowerBound ?? md.endIndex
        for line in md[..<unmeasured].split(separator: "\n") where line.hasPrefix("| s") {
            #expect(line.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count == 5, "\(line)")
        }
        for line in md[unmeasured...].split(separator: "\n") where line.hasPrefix("| s") {
            #expect(line.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count == 4, "\(line)")
        }
    }

    @Test func htmlOpensInHeadlessChromiumWithTheExpectedRows() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let html = out.dir.appendingPathComponent("report.html")
        let source = try String(contentsOf: html, encoding: .utf8)
        #expect(!source.contains("<script>alert"))
        #expect(!source.contains("http://") && !source.contains("https://"))  // no network
        #expect(source.components(separatedBy: "<tr class=\"sample\"").count - 1 == 30)
        guard let chromium = Fixtures.requiredTool("chromium", "chromium-browser", debianPackage: "chromium") else { return }
        let result = try await Fixtures.execute(
            chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(out.dir.path)/chromium", "--dump-dom", html.absoluteString])
        #expect(result.status == 0, "\(result.output.suffix(2000))")
        let dom = result.output
        #expect(dom.components(separatedBy: "<tr class=\"sample\"").count - 1 == 30)
        #expect(dom.contains("30 of 30 shown"))  // the inline script ran
        #expect(dom.contains("id=\"verdict\" class=\"badge fail\""))
        #expect(dom.components(separatedBy: "<tr class=\"metric\"").count - 1 == 3)
        #expect(dom.contains("&lt;script&gt;alert('x')&lt;/script&gt;"))
        #expect(!dom.contains("<script>alert"))  // hostile text stayed text
        #expect(dom.contains("data-outcome=\"error\""))
        #expect(dom.contains("reason with"))  // judge reasons are in the expandable details
    }

    @Test func htmlSampleCapKeepsFailingSamplesFirst() async throws {
        let out = try await Self.evaluate(cap: 8)
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let source = try String(contentsOf: out.dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(source.components(separatedBy: "<tr class=\"sample\"").count - 1 == 8)
        #expect(source.contains("Showing 8 of 30 samples"))
        #expect(!source.contains("<tr class=\"sample\" data-outcome=\"passed\""))
    }

    @Test func reportsRegenerateFromFiles() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let again = out.dir.appendingPathComponent("again")
        let summary = try await EvalReports.write(
            results: out.dir.appendingPathComponent("results.jsonl"), evals: out.outcome.evals, to: again,
            descriptors: try Evaluator.descriptors(for: Self.specs))
        #expect(summary.aggregate == out.outcome.summary.aggregate)
        #expect(summary.passed == out.outcome.summary.passed)
        #expect(summary.rejectedLines == 1)
        let a = try String(contentsOf: out.dir.appendingPathComponent("results.csv"), encoding: .utf8)
        let b = try String(contentsOf: again.appendingPathComponent("results.csv"), encoding: .utf8)
        #expect(a == b)
    }

    @Test func regenerateJoinsShuffledEvaluations() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        var evals = try await Self.evalRecords(out.outcome.evals)
        evals.sort { ($0.metric, $0.sampleId) < ($1.metric, $1.sampleId) }  // grouped by metric, not by sample
        let shuffled = out.dir.appendingPathComponent("shuffled.jsonl")
        try Fixtures.writeJSONL(evals, to: shuffled)
        let again = out.dir.appendingPathComponent("shuffled-report")
        let summary = try await EvalReports.write(
            results: out.dir.appendingPathComponent("results.jsonl"), evals: shuffled, to: again,
            descriptors: try Evaluator.descriptors(for: Self.specs))
        #expect(summary.aggregate == out.outcome.summary.aggregate)
        let csv = Self.parseCSV(try String(contentsOf: again.appendingPathComponent("results.csv"), encoding: .utf8))
        #expect(csv.count == 91)
        #expect(csv.dropFirst().allSatisfy { !$0[12].isEmpty })  // every row found its run
    }

    @Test func compareTwoRuns() async throws {
        let baseline = [
            EvalRecord(sampleId: "a", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
            EvalRecord(sampleId: "b", metric: "m", type: "contains", score: 0, passed: false, threshold: 1),
            EvalRecord(sampleId: "c", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
            EvalRecord(sampleId: "d", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
            EvalRecord(sampleId: "a", metric: "r", type: "rouge-l", score: 0.9),
            EvalRecord(sampleId: "gone", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
        ]
        let candidate = [
            EvalRecord(sampleId: "a", metric: "m", type: "contains", score: 0, passed: false, threshold: 1, reason: "missing <b>"),
            EvalRecord(sampleId: "b", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
            EvalRecord(sampleId: "c", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
            EvalRecord(sampleId: "d", metric: "m", type: "contains", status: .unmeasured, threshold: 1),
            EvalRecord(sampleId: "a", metric: "r", type: "rouge-l", score: 0.5),
            EvalRecord(sampleId: "new", metric: "m", type: "contains", score: 1, passed: true, threshold: 1),
        ]
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("base"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cand"), withIntermediateDirectories: true)
        try Fixtures.writeJSONL(baseline, to: dir.appendingPathComponent("base/evals.jsonl"))
        try Fixtures.writeJSONL(candidate, to: dir.appendingPathComponent("cand/evals.jsonl"))
        let comparison = try await RunComparison.compare(
            baselineEvals: dir.appendingPathComponent("base/evals.jsonl"), candidateEvals: dir.appendingPathComponent("cand/evals.jsonl"))
        #expect(comparison == RunComparison.compare(baseline: baseline, candidate: candidate, baselineLabel: "base", candidateLabel: "cand"))
        let kinds = Dictionary(grouping: comparison.changes, by: { "\($0.sampleId)/\($0.metric)" }).mapValues { $0[0].kind }
        #expect(kinds == ["a/m": .regression, "b/m": .improvement, "d/m": .newlyUnmeasured, "a/r": .regression, "new/m": .added, "gone/m": .removed])
        #expect(comparison.regressions == 2)
        #expect(comparison.improvements == 1)
        #expect(comparison.changes.first?.kind == .regression)
        let m = try #require(comparison.metrics.first { $0.metric == "m" })
        #expect(m.counts["unchanged"] == 1)
        let md = comparison.markdown()
        #expect(md.contains("2 regressions, 1 improvements"))
        #expect(md.contains("missing &lt;b&gt;"))
        try comparison.write(to: dir)
        let html = try String(contentsOf: dir.appendingPathComponent("compare.html"), encoding: .utf8)
        #expect(html.components(separatedBy: "<tr class=\"change regression\"").count - 1 == 2)
        let back = try JSONCoding.decoder().decode(RunComparison.self, from: Data(contentsOf: dir.appendingPathComponent("compare.json")))
        #expect(back == comparison)
    }

    @Test func comparisonWithABaselineInTheSamePass() async throws {
        let out = try await Self.evaluate()
        defer { try? FileManager.default.removeItem(at: out.dir) }
        // The candidate's judge likes everything: the six "No idea" samples improve on `helpful`.
        let generous = Fixtures.backends(judge: { _ in ChatResponse(content: #"{"score": 5, "reason": "fine"}"#) })
        let evaluator = try await Evaluator(specs: Self.specs, backends: generous)
        let candidateDir = out.dir.appendingPathComponent("candidate")
        let outcome = try await evaluator.evaluateFile(
            results: out.dir.appendingPathComponent("results.jsonl"), outputDirectory: candidateDir, baselineEvals: out.outcome.evals)
        let comparison = try #require(outcome.comparison)
        let fromFiles = try await RunComparison.compare(baselineEvals: out.outcome.evals, candidateEvals: outcome.evals)
        #expect(comparison.changes == fromFiles.changes)
        #expect(comparison.metrics == fromFiles.metrics)
        #expect(comparison.improvements == 6)  // the six "No idea" replies (unmeasured → pass is not an improvement)
        #expect(comparison.regressions == 0)
        let md = try String(contentsOf: candidateDir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(md.contains("0 regressions, 6 improvements"))
        let html = try String(contentsOf: candidateDir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("id=\"compare\""))
    }

    /// A number in a report: printf's digits (`DecimalText.fixed`, tested in Core), a dash for none.
    @Test func numbersInReports() {
        #expect(ReportText.number(0.12345) == "0.123" && ReportText.number(2.5, digits: 0) == String(format: "%.0f", 2.5))
        #expect(ReportText.number(.nan) == "–")
        #expect(ReportText.number(.infinity) == "–")
        #expect(ReportText.number(nil) == "–")
    }

    @Test func escapingHelpers() {
        #expect(ReportText.xml("a<b>&\"'\u{0}\u{1F}\n") == "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\u{FFFD}&#10;")
        #expect(ReportText.html("<img src=x onerror='1'>") == "&lt;img src=x onerror=&#39;1&#39;&gt;")
        #expect(ReportText.csv("plain") == "plain")
        #expect(ReportText.csv("a,b") == "\"a,b\"")
        #expect(ReportText.csv("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(ReportText.csv("=HYPERLINK(1)") == "'=HYPERLINK(1)")
        #expect(ReportText.csv("-0.5") == "-0.5")
        #expect(ReportText.markdownCell("a|b\nc") == "a\\|b c")
    }

    /// `html` returns plain text as it is and escapes the rest scalar by scalar: both against a
    /// reference written from the escaping table, over strings drawn from markup characters,
    /// controls, line breaks and non-ASCII.
    @Test func htmlEscapingMatchesItsTableForAnyText() {
        func reference(_ text: String) -> String {
            var out = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "'": out += "&#39;"
                case "`": out += "&#96;"
                case "\n", "\t": out.unicodeScalars.append(scalar)
                default: if scalar.value < 0x20 { out += "\u{FFFD}" } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out
        }
        let alphabet: [Unicode.Scalar] = ["a", "Z", " ", "0", "&", "<", ">", "\"", "'", "`", "\n", "\t", "\r", "\u{0}", "\u{1F}", "\u{7F}", "é", "…", "😀", ";", "#"]
        var generator = SeededGenerator(seed: 13)
        for length in 0..<40 {
            for _ in 0..<50 {
                var text = ""
                for _ in 0..<length { text.unicodeScalars.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
                #expect(ReportText.html(text) == reference(text), "\(text.debugDescription)")
            }
        }
        #expect(ReportText.html("plain reply, 30 days.\n\tnext") == "plain reply, 30 days.\n\tnext")
    }
}
