import ChatbotTesterCore
import Foundation

/// Baseline vs candidate: per sample and metric, what regressed and what improved.
///
/// A sample × metric with a pass/fail verdict on both sides regresses when it flips pass → fail and
/// improves on fail → pass; without a threshold, a score change beyond `tolerance` counts. Scored →
/// unmeasured is `newlyUnmeasured`; pairs present on one side only are `added` / `removed`.
public struct RunComparison: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case regression, improvement, unchanged, newlyUnmeasured, added, removed
    }

    /// One sample × metric that changed.
    public struct Change: Sendable, Hashable, Codable {
        public var sampleId: String
        public var metric: String
        public var kind: Kind
        public var baselineScore: Double?
        public var candidateScore: Double?
        public var baselinePassed: Bool?
        public var candidatePassed: Bool?
        /// The candidate's reason (or the baseline's, for a removed pair).
        public var reason: String?
    }

    /// Per-metric totals.
    public struct MetricDelta: Sendable, Hashable, Codable {
        public var metric: String
        public var baselineMean: Double?
        public var candidateMean: Double?
        public var baselinePassRate: Double?
        public var candidatePassRate: Double?
        public var counts: [String: Int]

        public var meanDelta: Double? { candidateMean.flatMap { c in baselineMean.map { c - $0 } } }
    }

    public var baselineLabel: String
    public var candidateLabel: String
    public var tolerance: Double
    public var metrics: [MetricDelta]
    /// Every pair that is not `unchanged`, regressions first.
    public var changes: [Change]

    public var regressions: Int { changes.filter { $0.kind == .regression }.count }
    public var improvements: Int { changes.filter { $0.kind == .improvement }.count }

    /// Compares two sets of evaluations held in memory.
    public static func compare(
        baseline: [EvalRecord], candidate: [EvalRecord], baselineLabel: String = "baseline", candidateLabel: String = "candidate",
        tolerance: Double = 0.1
    ) -> RunComparison {
        var builder = Builder(tolerance: tolerance)
        for eval in baseline { builder.addBaseline(eval) }
        for eval in candidate { builder.addCandidate(eval) }
        return builder.finish(baselineLabel: baselineLabel, candidateLabel: candidateLabel)
    }

    /// Compares two `evals.jsonl` files. The baseline's scores are held in memory (a few dozen bytes
    /// per sample × metric); the candidate streams. Unreadable lines are skipped and counted in
    /// `EvalInputRejected` events when `events` is given.
    public static func compare(
        baselineEvals: URL, candidateEvals: URL, tolerance: Double = 0.1, events: EventBus? = nil
    ) async throws -> RunComparison {
        var builder = try await Builder(baseline: baselineEvals, tolerance: tolerance, events: events)
        for try await entry in JSONL.read(EvalRecord.self, from: candidateEvals) {
            switch entry.result {
            case .success(let eval): builder.addCandidate(eval)
            case .failure(let error): events?.emit(EvalInputRejected(error))
            }
        }
        return builder.finish(
            baselineLabel: baselineEvals.deletingLastPathComponent().lastPathComponent,
            candidateLabel: candidateEvals.deletingLastPathComponent().lastPathComponent)
    }

    struct Key: Hashable {
        var sampleId: String
        var metric: String
    }

    struct Slim {
        var score: Double?
        var passed: Bool?
        var scored: Bool
        var reason: String?
    }

    struct Builder {
        var tolerance: Double

        init(tolerance: Double) {
            self.tolerance = tolerance
        }

        /// A builder holding a baseline `evals.jsonl`; unreadable lines are skipped (and reported).
        init(baseline: URL, tolerance: Double = 0.1, events: EventBus?) async throws {
            self.init(tolerance: tolerance)
            for try await entry in JSONL.read(EvalRecord.self, from: baseline) {
                switch entry.result {
                case .success(let eval): addBaseline(eval)
                case .failure(let error): events?.emit(EvalInputRejected(error))
                }
            }
        }

        var baseline: [Key: Slim] = [:]
        var baselineAggregate = EvalAggregate()
        var candidateAggregate = EvalAggregate()
        var changes: [Change] = []
        var counts: [String: [Kind: Int]] = [:]

        mutating func addBaseline(_ eval: EvalRecord) {
            baselineAggregate.add(eval)
            baseline[Key(sampleId: eval.sampleId, metric: eval.metric)] = Slim(
                score: eval.score, passed: eval.passed, scored: eval.status == .scored, reason: eval.reason)
        }

        mutating func addCandidate(_ eval: EvalRecord) {
            candidateAggregate.add(eval)
            let key = Key(sampleId: eval.sampleId, metric: eval.metric)
            let before = baseline.removeValue(forKey: key)
            let kind = classify(before, eval)
            counts[eval.metric, default: [:]][kind, default: 0] += 1
            guard kind != .unchanged else { return }
            changes.append(
                Change(
                    sampleId: eval.sampleId, metric: eval.metric, kind: kind, baselineScore: before?.score, candidateScore: eval.score,
                    baselinePassed: before?.passed, candidatePassed: eval.passed, reason: eval.reason))
        }

        func classify(_ before: Slim?, _ after: EvalRecord) -> Kind {
            guard let before else { return .added }
            let afterScored = after.status == .scored
            if before.scored, !afterScored { return .newlyUnmeasured }
            if !afterScored { return .unchanged }
            if let was = before.passed, let now = after.passed, was != now { return now ? .improvement : .regression }
            if before.passed == nil || after.passed == nil, let a = before.score, let b = after.score, abs(b - a) > tolerance {
                return b > a ? .improvement : .regression
            }
            if !before.scored, after.passed == false { return .regression }
            return .unchanged
        }

        mutating func finish(baselineLabel: String, candidateLabel: String) -> RunComparison {
            for (key, slim) in baseline {
                counts[key.metric, default: [:]][.removed, default: 0] += 1
                changes.append(
                    Change(
                        sampleId: key.sampleId, metric: key.metric, kind: .removed, baselineScore: slim.score, candidateScore: nil,
                        baselinePassed: slim.passed, candidatePassed: nil, reason: slim.reason))
            }
            let order = Kind.allCases
            changes.sort {
                (order.firstIndex(of: $0.kind)!, $0.metric, $0.sampleId) < (order.firstIndex(of: $1.kind)!, $1.metric, $1.sampleId)
            }
            let names = Set(baselineAggregate.metrics.keys).union(candidateAggregate.metrics.keys).sorted()
            let metrics = names.map { name in
                let b = baselineAggregate.metrics[name], c = candidateAggregate.metrics[name]
                return MetricDelta(
                    metric: name, baselineMean: b?.mean, candidateMean: c?.mean, baselinePassRate: b?.passRate, candidatePassRate: c?.passRate,
                    counts: Dictionary(uniqueKeysWithValues: (counts[name] ?? [:]).map { ($0.key.rawValue, $0.value) }))
            }
            return RunComparison(baselineLabel: baselineLabel, candidateLabel: candidateLabel, tolerance: tolerance, metrics: metrics, changes: changes)
        }
    }
}

extension RunComparison {
    /// A Markdown section listing per-metric deltas and the first `limit` regressions/improvements.
    public func markdown(limit: Int = 20) -> String {
        var md = "### Compared with \(ReportText.markdownCell(baselineLabel)): \(regressions) regressions, \(improvements) improvements\n\n"
        md += "| Metric | Mean (base → cand) | Δ mean | Pass rate (base → cand) | Regressions | Improvements | Newly unmeasured |\n|---|---|---:|---|---:|---:|---:|\n"
        for m in metrics {
            md += "| \(ReportText.markdownCell(m.metric)) | \(ReportText.number(m.baselineMean)) → \(ReportText.number(m.candidateMean)) | "
            md += "\(m.meanDelta.map { String(format: "%+.3f", $0) } ?? "–") | \(ReportText.percent(m.baselinePassRate)) → \(ReportText.percent(m.candidatePassRate)) | "
            md += "\(m.counts["regression"] ?? 0) | \(m.counts["improvement"] ?? 0) | \(m.counts["newlyUnmeasured"] ?? 0) |\n"
        }
        let notable = changes.filter { $0.kind == .regression || $0.kind == .improvement }
        if !notable.isEmpty {
            md += "\n| Change | Sample | Metric | Score | Reason |\n|---|---|---|---|---|\n"
            for change in notable.prefix(limit) {
                md += "| \(change.kind == .regression ? "🔻 regression" : "🔺 improvement") | \(ReportText.markdownCell(change.sampleId)) | \(ReportText.markdownCell(change.metric)) | "
                md += "\(ReportText.number(change.baselineScore, digits: 2)) → \(ReportText.number(change.candidateScore, digits: 2)) | \(ReportText.markdownCell(change.reason ?? "")) |\n"
            }
            if notable.count > limit { md += "\n…and \(notable.count - limit) more in compare.json\n" }
        }
        return md
    }

    /// An HTML section (for `report.html` or `compare.html`).
    public func htmlSection() -> String {
        var html = "<h2 id=\"compare\">Compared with \(ReportText.html(baselineLabel)): <span class=\"fail\">\(regressions) regressions</span>, <span class=\"pass\">\(improvements) improvements</span></h2>"
        html += "<table id=\"compare-metrics\"><thead><tr><th>Metric</th><th class=\"num\">Baseline mean</th><th class=\"num\">Candidate mean</th><th class=\"num\">Δ</th><th class=\"num\">Regressions</th><th class=\"num\">Improvements</th><th class=\"num\">Newly unmeasured</th></tr></thead><tbody>"
        for m in metrics {
            html += "<tr><td>\(ReportText.html(m.metric))</td><td class=\"num\">\(ReportText.number(m.baselineMean))</td><td class=\"num\">\(ReportText.number(m.candidateMean))</td>"
            html += "<td class=\"num\">\(m.meanDelta.map { String(format: "%+.3f", $0) } ?? "–")</td><td class=\"num\">\(m.counts["regression"] ?? 0)</td>"
            html += "<td class=\"num\">\(m.counts["improvement"] ?? 0)</td><td class=\"num\">\(m.counts["newlyUnmeasured"] ?? 0)</td></tr>"
        }
        html += "</tbody></table><table id=\"compare-changes\"><thead><tr><th data-sort=\"text\">Change</th><th data-sort=\"text\">Sample</th><th data-sort=\"text\">Metric</th><th class=\"num\">Baseline</th><th class=\"num\">Candidate</th><th>Reason</th></tr></thead><tbody>"
        for change in changes.prefix(2000) {
            let css = change.kind == .regression ? "fail" : (change.kind == .improvement ? "pass" : "unmeasured")
            html += "<tr class=\"change \(change.kind.rawValue)\"><td class=\"\(css)\">\(change.kind.rawValue)</td><td>\(ReportText.html(change.sampleId))</td><td>\(ReportText.html(change.metric))</td>"
            html += "<td class=\"num\">\(ReportText.number(change.baselineScore, digits: 2))</td><td class=\"num\">\(ReportText.number(change.candidateScore, digits: 2))</td><td>\(ReportText.html(change.reason ?? ""))</td></tr>"
        }
        return html + "</tbody></table>"
    }

    /// Writes `compare.json`, `compare.md` and `compare.html` into `directory`.
    public func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONCoding.encoder(pretty: true).encode(self).write(to: directory.appendingPathComponent("compare.json"), options: .atomic)
        try Data(markdown().utf8).write(to: directory.appendingPathComponent("compare.md"), options: .atomic)
        let page = HTMLPage.wrap(title: "Comparison: \(baselineLabel) → \(candidateLabel)", body: htmlSection())
        try Data(page.utf8).write(to: directory.appendingPathComponent("compare.html"), options: .atomic)
    }
}
