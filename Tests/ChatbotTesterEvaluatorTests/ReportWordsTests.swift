import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

/// Report figures and words: unknown cost, the sample cap's counter, unmeasured apart from failing.
@Suite struct ReportWordsTests {
    @Test func unpricedCostIsUnknownNotZero() {
        var stats = RunStats()
        #expect(stats.costText == "$0.0000")  // nothing run, nothing spent
        stats.add(Fixtures.run("a", reply: "hi"))
        stats.add(Fixtures.run("b", reply: "hi"))
        #expect(stats.costText == "unknown")
        stats.add(Fixtures.run("c", reply: "hi", costUSD: 0.25))
        #expect(stats.costText == "$0.2500 (1 of 3 runs priced)")
        var priced = RunStats()
        priced.add(Fixtures.run("d", reply: "hi", costUSD: 0.00002))
        #expect(priced.costText == "$0.000020")
        var merged = stats
        merged.merge(priced)
        #expect(merged.pricedSamples == 2 && merged.samples == 4)
    }

    @Test func theHTMLCounterKnowsTheTotalAndMarkdownListsUnmeasuredApart() async throws {
        let out = try await ReportTests.evaluate(cap: 8)
        defer { try? FileManager.default.removeItem(at: out.dir) }
        let html = try String(contentsOf: out.dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("id=\"sample-table\" data-total=\"30\""))
        let md = try String(contentsOf: out.dir.appendingPathComponent("report.md"), encoding: .utf8)
        let failing = try #require(md.range(of: "failing results</summary>"))
        let unmeasured = try #require(md.range(of: "unmeasured results</summary>"))
        #expect(failing.upperBound < unmeasured.lowerBound)
        let failingPart = md[failing.upperBound..<unmeasured.lowerBound]
        let unmeasuredPart = md[unmeasured.upperBound...]
        #expect(unmeasuredPart.contains("| s11 | helpful |"), "\(unmeasuredPart)")
        #expect(!failingPart.contains("| s11 | helpful |"))
        #expect(!failingPart.contains("n/a"))
        #expect(md.contains("run cost $0.029000") || md.contains("run cost $0.0290"), "\(md.prefix(400))")
    }
}
