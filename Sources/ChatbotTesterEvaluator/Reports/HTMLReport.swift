import ChatbotTesterCore
import Foundation

/// Renders `report.html`: verdict and gates, per-metric bars and histograms, a tag table, and a
/// filterable, sortable sample table whose rows expand to the transcript (tool calls with their
/// arguments, tool results with errors marked, the contexts retrieved for each reply, streaming
/// timings) and every judge reason.
///
/// Every user-supplied text is HTML-escaped. The page embeds at most `ReportOptions.htmlSampleCap`
/// samples, failing ones first; the page says how many were left out.
public enum HTMLReport {
    /// Characters of one message shown before it is cut.
    public static let messageLimit = 4000

    public static func render(
        summary: EvalSummary, samples: [SampleEvaluation], totalSamples: Int, title: String, generatedAt: Date = Date(),
        comparison: RunComparison? = nil
    ) -> String {
        let aggregate = summary.aggregate
        let names = aggregate.metricNames
        var body = ""
        // The sample table is most of the page: room for it up front, so the text is not copied
        // each time it outgrows its buffer (fresh pages each time) as a thousand samples go in.
        body.reserveCapacity(16_384 + samples.count * 2_048)
        body += "<header><h1>\(ReportText.html(title))</h1>"
        body += "<span id=\"verdict\" class=\"badge \(summary.passed ? "pass" : "fail")\">\(summary.passed ? "PASS" : "FAIL")</span>"
        body += "<p class=\"note\">Generated \(ReportText.html(generatedAt.iso8601String)) by chatbot-tester \(ChatbotTesterCoreInfo.version)</p></header>"
        body += overview(summary)
        body += gates(summary)
        body += metricsTable(aggregate, names)
        body += tagsTable(aggregate, names)
        if let comparison { body += comparison.htmlSection() }
        appendSampleTable(samples, names: names, total: totalSamples, to: &body)
        return HTMLPage.wrap(title: title, body: body)
    }

    static func overview(_ summary: EvalSummary) -> String {
        let runs = summary.aggregate.runs
        let judgeCost = summary.aggregate.metrics.values.reduce(0) { $0 + $1.judgeCostUSD.value }
        let cards: [(String, String)] = [
            ("\(runs.samples)", "samples"), ("\(runs.errored)", "run errors"), (ReportText.number(summary.overallScore), "overall score"),
            (ReportText.number(runs.meanLatencyMs, digits: 0), "mean latency ms"),
            (ReportText.number(runs.latencyMs.quantile(0.5), digits: 0), "p50 latency ms"),
            (ReportText.number(runs.latencyMs.quantile(0.9), digits: 0), "p90 latency ms"),
            (ReportText.number(runs.latencyMs.quantile(0.99), digits: 0), "p99 latency ms"),
            (runs.costText, "run cost"), ("$" + ReportText.number(judgeCost, digits: 4), "judge cost"),
        ]
        return "<section id=\"overview\"><div class=\"cards\">"
            + cards.map { "<div class=\"card\"><b>\(ReportText.html($0.0))</b><span>\($0.1)</span></div>" }.joined() + "</div></section>"
    }

    static func gates(_ summary: EvalSummary) -> String {
        guard !summary.gates.isEmpty else { return "<h2>Gates</h2><p class=\"note\">No gates configured.</p>" }
        var html = "<h2>Gates</h2><table id=\"gates\"><thead><tr><th>Metric</th><th>Condition</th><th class=\"num\">Limit</th><th class=\"num\">Actual</th><th>Result</th></tr></thead><tbody>"
        for gate in summary.gates {
            let op = gate.condition.hasPrefix("max") ? "≤" : "≥"
            html += "<tr class=\"gate\"><td>\(ReportText.html(gate.metric))</td><td>\(gate.condition) \(op)</td><td class=\"num\">\(ReportText.number(gate.limit))</td>"
            html += "<td class=\"num\">\(ReportText.number(gate.actual))</td><td class=\"\(gate.passed ? "pass" : "fail")\">\(gate.passed ? "pass" : "FAIL")</td></tr>"
        }
        return html + "</tbody></table>"
    }

    static func metricsTable(_ aggregate: EvalAggregate, _ names: [String]) -> String {
        var html = "<h2>Metrics</h2><table id=\"metrics\"><thead><tr><th data-sort=\"text\">Metric</th><th>Type</th><th>Outcome</th>"
        for column in ["Mean", "Pass rate", "p50", "p90", "p99", "Scored", "Passed", "Failed", "Unmeasured", "Straddling"] {
            html += "<th class=\"num\" data-sort=\"num\">\(column)</th>"
        }
        html += "<th>Distribution</th></tr></thead><tbody>"
        for name in names {
            let s = aggregate.metrics[name]!
            let other = s.scored - s.passed - s.failed
            html += "<tr class=\"metric\"><td>\(ReportText.html(name))</td><td>\(ReportText.html(s.type))</td>"
            html += "<td>\(SVGCharts.outcomeBar(passed: s.passed, failed: s.failed, unmeasured: s.unmeasured, other: other))</td>"
            for value in [s.mean, s.passRate, s.p50, s.p90, s.p99] {
                html += "<td class=\"num\" data-v=\"\(value.map { String($0) } ?? "")\">\(ReportText.number(value))</td>"
            }
            for count in [s.scored, s.passed, s.failed, s.unmeasured, s.straddling] { html += "<td class=\"num\">\(count)</td>" }
            html += "<td>\(SVGCharts.histogram(s.histogram))</td></tr>"
        }
        return html + "</tbody></table>"
    }

    static func tagsTable(_ aggregate: EvalAggregate, _ names: [String]) -> String {
        guard !aggregate.byTag.isEmpty else { return "" }
        var html = "<h2>By tag</h2><table id=\"tags\"><thead><tr><th data-sort=\"text\">Tag</th>"
        for name in names { html += "<th class=\"num\" data-sort=\"num\">\(ReportText.html(name))</th>" }
        html += "</tr></thead><tbody>"
        for tag in aggregate.byTag.keys.sorted() {
            html += "<tr class=\"tag\"><td>\(ReportText.html(tag))</td>"
            for name in names {
                guard let s = aggregate.byTag[tag]?[name] else {
                    html += "<td class=\"num\" data-v=\"\"></td>"
                    continue
                }
                let value = s.passRate ?? s.mean
                html += "<td class=\"num\" data-v=\"\(value.map { String($0) } ?? "")\" title=\"mean \(ReportText.number(s.mean)), \(s.scored) scored, \(s.unmeasured) unmeasured\">"
                    + (s.passRate != nil ? ReportText.percent(s.passRate) : ReportText.number(s.mean)) + "</td>"
            }
            html += "</tr>"
        }
        return html + "</tbody></table>"
    }

    static func appendSampleTable(_ samples: [SampleEvaluation], names: [String], total: Int, to html: inout String) {
        html += "<h2>Samples</h2><div class=\"controls\"><input id=\"filter\" type=\"search\" placeholder=\"Filter by id, tag or text…\">"
        html += "<select id=\"outcome\"><option value=\"\">all outcomes</option>"
        for outcome in ["failed", "unmeasured", "error", "passed"] { html += "<option value=\"\(outcome)\">\(outcome)</option>" }
        html += "</select><span id=\"shown\" class=\"note\"></span></div>"
        html += "<table id=\"sample-table\" data-total=\"\(total)\"><thead><tr><th data-sort=\"text\">Sample</th><th data-sort=\"text\">Outcome</th><th>Tags</th><th class=\"num\" data-sort=\"num\">Latency ms</th>"
        for name in names { html += "<th class=\"num\" data-sort=\"num\">\(ReportText.html(name))</th>" }
        html += "<th>Transcript and reasons</th></tr></thead><tbody>"
        for sample in samples {
            let tags = sample.run?.sample.tags ?? sample.evals.first?.tags ?? []
            let outcome = sample.outcome.rawValue
            html += "<tr class=\"sample\" data-outcome=\"\(outcome)\" data-search=\"\(ReportText.html((sample.sampleId + " " + tags.joined(separator: " ")).lowercased()))\">"
            html += "<td>\(ReportText.html(sample.sampleId))</td><td class=\"\(outcome)\">\(outcome)</td><td>\(ReportText.html(tags.joined(separator: ", ")))</td>"
            html += "<td class=\"num\" data-v=\"\(sample.run.map { String($0.latencyMs) } ?? "")\">\(ReportText.number(sample.run?.latencyMs, digits: 0))</td>"
            for name in names {
                guard let eval = sample.evals.first(where: { $0.metric == name }) else {
                    html += "<td class=\"num\" data-v=\"\"></td>"
                    continue
                }
                let css = eval.status == .unmeasured ? "unmeasured" : (eval.passed == false ? "fail" : (eval.passed == true ? "pass" : ""))
                let shown = eval.status == .unmeasured ? "n/a" : ReportText.number(eval.score, digits: 2)
                html += "<td class=\"num cell \(css)\" data-v=\"\(eval.score.map { String($0) } ?? "")\" title=\"\(ReportText.html(eval.reason ?? ""))\">\(shown)</td>"
            }
            html += "<td>\(details(sample))</td></tr>"
        }
        html += "</tbody></table>"
        if samples.count < total {
            html += "<p class=\"note\" id=\"cap-note\">Showing \(samples.count) of \(total) samples (failing, errored and unmeasured first). Every sample is in results.csv and junit.xml.</p>"
        }
    }

    static func details(_ sample: SampleEvaluation) -> String {
        var html = "<details><summary>show</summary>"
        if let run = sample.run {
            html += transcript(run)
            if let error = run.error {
                html += "<div class=\"msg error\"><b>error \(ReportText.html(error.code))</b><pre>\(ReportText.html(error.message))</pre></div>"
            }
            if let expected = run.sample.expected {
                html += "<div class=\"msg expected\"><b>expected</b><pre>\(ReportText.html(expected))</pre></div>"
            }
            if let tools = run.sample.expectedTools, !tools.isEmpty {
                html += "<div class=\"msg expected\"><b>expected tool calls</b>"
                    + tools.map { "<div class=\"call\"><code>\(ReportText.html($0.name))</code>\($0.arguments.map { "<pre>\(ReportText.html(cut($0.canonicalText)))</pre>" } ?? "")</div>" }.joined()
                    + "</div>"
            }
            if let references = run.sample.referenceContexts, !references.isEmpty {
                html += contexts(references, title: "reference contexts", css: "expected")
            }
        }
        html += "<ul class=\"evals\">"
        for eval in sample.evals {
            let css = eval.status == .unmeasured ? "unmeasured" : (eval.passed == false ? "fail" : "pass")
            var line = "<b>\(ReportText.html(eval.metric))</b> "
            line += eval.status == .unmeasured ? "unmeasured" : "score \(ReportText.number(eval.score))"
            if let votes = eval.votes { line += " · votes \(votes.map { ReportText.number($0, digits: 2) }.joined(separator: ", "))" }
            if eval.straddlesThreshold == true { line += " · <span class=\"unmeasured\">votes straddle the threshold</span>" }
            if let cost = eval.costUSD { line += " · $\(ReportText.number(cost, digits: 5))" }
            html += "<li class=\"\(css)\">\(line)<pre>\(ReportText.html(eval.reason ?? ""))</pre></li>"
        }
        return html + "</ul></details>"
    }

    /// The transcript: messages, the tool calls of assistant messages, tool results (errors
    /// marked), and after each assistant reply the contexts the bot reported for it and its
    /// streaming timing.
    static func transcript(_ run: RunRecord) -> String {
        var html = ""
        var assistantIndex = 0
        for message in run.transcript {
            let role = message.role.rawValue
            switch message.role {
            case .tool:
                let failed = message.isError == true
                var header = "<b>tool result</b>"
                if let name = message.name { header += " <code>\(ReportText.html(name))</code>" }
                if let id = message.toolCallId { header += " <span class=\"note\">\(ReportText.html(id))</span>" }
                if failed { header += " <span class=\"fail\">error</span>" }
                html += "<div class=\"msg tool\(failed ? " tool-error" : "")\">\(header)<pre>\(ReportText.html(cut(message.content)))</pre></div>"
            case .assistant:
                let turn = assistantIndex < run.turns.count ? run.turns[assistantIndex] : nil
                assistantIndex += 1
                var header = "<b>\(role)</b>"
                if let ttft = turn?.timeToFirstTokenMs {
                    header += " <span class=\"note\">first token \(ReportText.number(ttft, digits: 0)) ms"
                    if let rate = turn?.tokensPerSecond { header += " · \(ReportText.number(rate, digits: 1)) tokens/s" }
                    header += "</span>"
                }
                html += "<div class=\"msg \(role)\">\(header)"
                let calls = message.toolCalls ?? []
                if !message.content.isEmpty || calls.isEmpty { html += "<pre>\(ReportText.html(cut(message.content)))</pre>" }
                for call in calls {
                    var arguments = call.arguments.canonicalText
                    var note = ""
                    if case .string(let raw) = call.arguments {
                        arguments = raw
                        note = " <span class=\"fail\">arguments are not JSON</span>"
                    }
                    html += "<div class=\"call\">→ <code>\(ReportText.html(call.name))</code> <span class=\"note\">\(ReportText.html(call.id))</span>\(note)"
                        + "<pre>\(ReportText.html(cut(arguments)))</pre></div>"
                }
                html += "</div>"
                if let retrieved = turn?.retrievedContexts, !retrieved.isEmpty {
                    html += contexts(retrieved, title: "retrieved contexts", css: "contexts")
                }
            default:
                html += "<div class=\"msg \(role)\"><b>\(role)</b><pre>\(ReportText.html(cut(message.content)))</pre></div>"
            }
        }
        return html
    }

    /// Contexts shown at most per list.
    static let contextLimit = 20

    static func contexts(_ texts: [String], title: String, css: String) -> String {
        var html = "<div class=\"msg \(css)\"><b>\(ReportText.html(title))</b><ol>"
        for text in texts.prefix(contextLimit) { html += "<li><pre>\(ReportText.html(cut(text)))</pre></li>" }
        html += "</ol>"
        if texts.count > contextLimit { html += "<p class=\"note\">and \(texts.count - contextLimit) more</p>" }
        return html + "</div>"
    }

    static func cut(_ text: String) -> String {
        text.count > messageLimit ? String(text.prefix(messageLimit)) + "… (cut)" : text
    }
}
