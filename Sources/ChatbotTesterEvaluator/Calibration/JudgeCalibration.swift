import ChatbotTesterCore
import Foundation

/// One human label: `{"id": "q1", "label": true}` or `{"id": "q1", "label": 4}`.
public struct HumanLabel: Sendable, Hashable, Codable {
    public var id: String
    /// Pass/fail, or a number on the label scale.
    public var label: JSONValue

    enum CodingKeys: String, CodingKey, CaseIterable { case id, label }

    public init(id: String, label: JSONValue) {
        self.id = id
        self.label = label
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Spreadsheet exports often write numeric ids; they match sample ids as text.
        if let number = try? c.decode(Int.self, forKey: .id) { id = String(number) } else { id = try c.decode(String.self, forKey: .id) }
        label = try c.decode(JSONValue.self, forKey: .label)
        guard label.boolValue != nil || label.doubleValue != nil else {
            throw DecodingError.dataCorruptedError(forKey: .label, in: c, debugDescription: "label must be true, false or a number")
        }
    }
}

/// A 2×2 table of judge verdicts against human labels (positive = pass).
public struct ConfusionTable: Sendable, Hashable, Codable {
    /// Judge pass, human pass.
    public var bothPass = 0
    /// Judge pass, human fail.
    public var judgePassHumanFail = 0
    /// Judge fail, human pass.
    public var judgeFailHumanPass = 0
    /// Judge fail, human fail.
    public var bothFail = 0

    public init(bothPass: Int = 0, judgePassHumanFail: Int = 0, judgeFailHumanPass: Int = 0, bothFail: Int = 0) {
        self.bothPass = bothPass
        self.judgePassHumanFail = judgePassHumanFail
        self.judgeFailHumanPass = judgeFailHumanPass
        self.bothFail = bothFail
    }

    public mutating func add(judge: Bool, human: Bool) {
        switch (judge, human) {
        case (true, true): bothPass += 1
        case (true, false): judgePassHumanFail += 1
        case (false, true): judgeFailHumanPass += 1
        case (false, false): bothFail += 1
        }
    }

    public var total: Int { bothPass + judgePassHumanFail + judgeFailHumanPass + bothFail }

    /// Observed agreement.
    public var agreement: Double? { total == 0 ? nil : Double(bothPass + bothFail) / Double(total) }

    /// Cohen's kappa: (pₒ − pₑ) / (1 − pₑ). 1 when both raters are constant and agree (pₑ = 1, pₒ = 1).
    public var kappa: Double? {
        guard total > 0 else { return nil }
        let n = Double(total)
        let po = Double(bothPass + bothFail) / n
        let judgePass = Double(bothPass + judgePassHumanFail) / n
        let humanPass = Double(bothPass + judgeFailHumanPass) / n
        let pe = judgePass * humanPass + (1 - judgePass) * (1 - humanPass)
        if abs(1 - pe) < 1e-12 { return po == 1 ? 1 : 0 }
        return (po - pe) / (1 - pe)
    }
}

/// How well a judge agrees with human labels.
public struct CalibrationReport: Sendable, Hashable, Codable {
    public var metric: String
    /// Pairs with both a judge score and a human label.
    public var compared: Int
    /// Labels with no evaluation of the metric.
    public var unmatchedLabels: [String]
    /// Labelled samples the judge left unmeasured (not in the table).
    public var unmeasured: Int
    public var confusion: ConfusionTable
    public var agreement: Double?
    public var kappa: Double?
    /// Mean |judge score − normalised human score| over numeric labels.
    public var meanAbsoluteError: Double?
    /// The judge threshold used to call a pass.
    public var threshold: Double

    /// A short Markdown rendering for the CLI.
    public var markdown: String {
        var md = "### Judge calibration: \(ReportText.markdownCell(metric))\n\n"
        md += "\(compared) compared, \(unmeasured) unmeasured, \(unmatchedLabels.count) labels without an evaluation.\n\n"
        md += "Agreement **\(ReportText.percent(agreement))**, Cohen's κ **\(ReportText.number(kappa))**"
        if let meanAbsoluteError { md += ", mean absolute error \(ReportText.number(meanAbsoluteError))" }
        md += " (judge passes at score ≥ \(ReportText.number(threshold)))\n\n"
        md += "| | human pass | human fail |\n|---|---:|---:|\n"
        md += "| **judge pass** | \(confusion.bothPass) | \(confusion.judgePassHumanFail) |\n"
        md += "| **judge fail** | \(confusion.judgeFailHumanPass) | \(confusion.bothFail) |\n"
        return md
    }
}

/// Compares a judge's evaluations with human labels (`chatbot-tester calibrate`).
public enum JudgeCalibration {
    /// Calibrates from labels and evaluations held in memory.
    /// - Parameters:
    ///   - metric: the judge metric's instance name in `evals`.
    ///   - threshold: judge pass threshold (default: each record's own threshold, else 0.5).
    ///   - labelScale: the range of numeric labels, normalised to [0, 1]; a numeric label passes at ≥ `threshold`.
    public static func calibrate(
        labels: [HumanLabel], evals: [EvalRecord], metric: String, threshold: Double? = nil, labelScale: JudgeScale = JudgeScale(min: 0, max: 1)
    ) -> CalibrationReport {
        var byId: [String: EvalRecord] = [:]
        for eval in evals where eval.metric == metric { byId[eval.sampleId] = eval }
        var table = ConfusionTable()
        var unmatched: [String] = []
        var unmeasured = 0
        var errors: [Double] = []
        var usedThreshold = threshold ?? 0.5
        for label in labels {
            guard let eval = byId[label.id] else {
                unmatched.append(label.id)
                continue
            }
            guard eval.status == .scored, let score = eval.score else {
                unmeasured += 1
                continue
            }
            let cut = threshold ?? eval.threshold ?? 0.5
            usedThreshold = cut
            let judgePass = score >= cut - 1e-12
            let humanPass: Bool
            if let flag = label.label.boolValue {
                humanPass = flag
            } else {
                let human = min(1, max(0, labelScale.normalise(label.label.doubleValue ?? 0)))
                errors.append(abs(score - human))
                humanPass = human >= cut - 1e-12
            }
            table.add(judge: judgePass, human: humanPass)
        }
        return CalibrationReport(
            metric: metric, compared: table.total, unmatchedLabels: unmatched, unmeasured: unmeasured, confusion: table,
            agreement: table.agreement, kappa: table.kappa, meanAbsoluteError: errors.isEmpty ? nil : errors.reduce(0, +) / Double(errors.count),
            threshold: usedThreshold)
    }

    /// Calibrates from files: a labels JSONL and an `evals.jsonl`. Bad label lines are errors naming
    /// file, line and field (a calibration on partial labels would mislead).
    /// - Parameter metric: the judge metric; may be omitted when `evals` holds exactly one judge-type metric.
    public static func calibrate(
        labels labelsURL: URL, evals evalsURL: URL, metric: String? = nil, threshold: Double? = nil,
        labelScale: JudgeScale = JudgeScale(min: 0, max: 1)
    ) async throws -> CalibrationReport {
        var labels: [HumanLabel] = []
        for try await entry in JSONL.read(HumanLabel.self, from: labelsURL) { labels.append(try entry.result.get()) }
        let wanted = Set(labels.map(\.id))
        var evals: [EvalRecord] = []
        var judgeMetrics: Set<String> = []
        for try await entry in JSONL.read(EvalRecord.self, from: evalsURL) {
            let eval = try entry.result.get()
            if eval.votes != nil || eval.usage != nil || BuiltinMetrics.defaultThreshold(for: eval.type) == 0.5 { judgeMetrics.insert(eval.metric) }
            if wanted.contains(eval.sampleId) { evals.append(eval) }
        }
        guard let chosen = metric ?? (judgeMetrics.count == 1 ? judgeMetrics.first : nil) else {
            throw ChatbotTesterError(
                .invalidInput,
                "name the judge metric to calibrate (found: \(judgeMetrics.sorted().joined(separator: ", ")))",
                location: SourceLocation(source: evalsURL.path))
        }
        return calibrate(labels: labels, evals: evals, metric: chosen, threshold: threshold, labelScale: labelScale)
    }
}
