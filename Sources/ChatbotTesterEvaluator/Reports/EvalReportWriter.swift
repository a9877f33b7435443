import ChatbotTesterCore
import Foundation

/// Writes every report of an evaluation into a directory while samples stream through.
///
/// `results.csv` and `junit.xml` are streamed (flat memory); `report.md` keeps the first failing
/// samples; `report.html` keeps at most `htmlSampleCap` samples, failing ones first. Call `add` for
/// each sample in order, then `finish` with the aggregate.
public final class EvalReportWriter {
    public let directory: URL
    public let options: ReportOptions
    private let csv: CSVReportWriter?
    private let junit: JUnitReportWriter?
    private var failing: [SampleEvaluation] = []
    private var passing: [SampleEvaluation] = []
    private var mdFailing: [SampleEvaluation] = []
    /// Samples added so far.
    public private(set) var count = 0

    /// Whether `results.csv` and `junit.xml` are written by the caller (`ReportPieceAssembly`)
    /// rather than streamed here: `finish` then writes neither.
    public let assemblesRows: Bool
    /// Whether `report.html` is written (read for every sample: kept here, not looked up in a set).
    private let writesHTML: Bool

    /// - Parameter assemblesRows: the caller writes `results.csv` and `junit.xml` (a sharded run
    ///   puts its workers' pieces together); this writer then makes neither.
    public init(directory: URL, options: ReportOptions = ReportOptions(), assemblesRows: Bool = false) throws {
        self.directory = directory
        self.options = options
        self.assemblesRows = assemblesRows
        writesHTML = options.formats.contains(.html)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        csv = options.formats.contains(.csv) && !assemblesRows ? try CSVReportWriter(url: directory.appendingPathComponent(ReportOptions.Format.csv.fileName)) : nil
        junit =
            options.formats.contains(.junit) && !assemblesRows
            ? try JUnitReportWriter(url: directory.appendingPathComponent(ReportOptions.Format.junit.fileName), name: options.title) : nil
    }

    /// Adds one sample.
    public func add(_ sample: SampleEvaluation) throws {
        try add(sample, csvRows: nil, junit: nil)
    }

    /// Whether `results.csv` is written (then `add(_:csvRows:junit:)` wants its rows).
    public var writesCSV: Bool { csv != nil }

    /// Whether `junit.xml` is written (then `add(_:csvRows:junit:)` wants its test cases).
    public var writesJUnit: Bool { junit != nil }

    /// Adds one sample whose CSV rows (`CSVReportWriter.appendRows(for:to:)`) and JUnit test cases
    /// (`JUnitReportWriter.prepare`) were made already, on another task; `nil` makes them here.
    public func add(_ sample: SampleEvaluation, csvRows: [UInt8]?, junit prepared: JUnitReportWriter.Prepared?) throws {
        count += 1
        if let csv {
            if let csvRows { try csv.add(rowBytes: csvRows) } else { try csv.add(rows: CSVReportWriter.rows(for: sample)) }
        }
        if let junit {
            if let prepared { try junit.add(sample, prepared: prepared) } else { try junit.add(sample) }
        }
        keep(sample)
    }

    /// Adds a batch of `count` samples whose CSV rows and JUnit test cases were made already
    /// (`CSVReportWriter.appendRows(for:to:)`, `JUnitReportWriter.prepare(_:into:)`), and of which
    /// `kept` holds, in order, at least the first `wanted.failing` not passing and the first
    /// `wanted.passing` passing ones (what `report.md` and `report.html` may still show).
    public func add(count: Int, csvRows: [UInt8], junit cases: JUnitReportWriter.PreparedCases, kept: [SampleEvaluation]) throws {
        self.count += count
        if let csv { try csv.add(rowBytes: csvRows) }
        if let junit { try junit.add(cases: cases) }
        for index in kept.indices { keep(kept[index]) }
    }

    /// How many more samples `report.md`/`report.html` keep: those not passing, and passing ones.
    public var wanted: (failing: Int, passing: Int) {
        let html = writesHTML
        let failing = max(MarkdownReport.failureLimit - mdFailing.count, html ? options.htmlSampleCap - failing.count : 0)
        return (max(0, failing), html ? max(0, options.htmlSampleCap - passing.count) : 0)
    }

    /// Keeps `sample` for `report.md`/`report.html` while they want more.
    private func keep(_ sample: SampleEvaluation) {
        let isPassing = sample.outcome == .passed
        if !isPassing, mdFailing.count < MarkdownReport.failureLimit { mdFailing.append(sample) }
        guard writesHTML else { return }
        if isPassing {
            if passing.count < options.htmlSampleCap { passing.append(sample) }
        } else if failing.count < options.htmlSampleCap {
            failing.append(sample)
        }
    }

    /// Adds one sample by its outcome, its evaluations (only their metrics are read) and its CSV rows
    /// and JUnit test cases made already (`EvaluationOutput.add(reportPart:evalCount:sample:)`:
    /// `testCases` the XML, `caseEnds` per evaluation `[u32 end][u8 outcome]`, checked already);
    /// `sample` gives the whole sample, asked for only when `report.md` or `report.html` keeps it.
    /// The same bytes as `add(_:csvRows:junit:)`.
    func add(
        outcome: SampleEvaluation.Outcome, evals: [EvalRecord], csvRows: UnsafeRawBufferPointer, testCases: UnsafeRawBufferPointer,
        caseEnds: UnsafeRawBufferPointer, seconds: Double, sample: () throws -> SampleEvaluation
    ) throws {
        try csv?.add(rowBytes: csvRows)
        try junit?.add(evals, testCases: testCases, caseEnds: caseEnds, seconds: seconds)
        try add(outcome: outcome, sample: sample)
    }

    /// Counts one sample whose `results.csv` rows and `junit.xml` test cases are written elsewhere
    /// (`assemblesRows`), by its outcome; `sample` gives the whole sample, asked for only when
    /// `report.md` or `report.html` keeps it.
    /// `shownPassing`, when the caller knows how many samples are not passing in all, is how many
    /// passing ones `report.html` shows after them (it shows at most `htmlSampleCap`, those not
    /// passing first): no more are asked for.
    func add(outcome: SampleEvaluation.Outcome, shownPassing: Int? = nil, sample: () throws -> SampleEvaluation) throws {
        count += 1
        var kept = KeptCounts(markdown: mdFailing.count, failing: failing.count, passing: passing.count)
        let keeps = self.keeps(outcome, shownPassing: shownPassing, kept: &kept)
        guard keeps.markdown || keeps.html else { return }
        let whole = try sample()
        if keeps.markdown { mdFailing.append(whole) }
        if keeps.html {
            if outcome == .passed { passing.append(whole) } else { failing.append(whole) }
        }
    }

    /// How many samples `report.md` (not passing) and `report.html` (not passing, passing) keep.
    struct KeptCounts {
        var markdown = 0
        var failing = 0
        var passing = 0
    }

    /// Whether `report.md` and `report.html` keep the next sample, whose outcome is `outcome`, after
    /// the `kept` ones; counts it into `kept` where it is kept. `shownPassing` as in
    /// `add(outcome:shownPassing:sample:)`.
    func keeps(_ outcome: SampleEvaluation.Outcome, shownPassing: Int?, kept: inout KeptCounts) -> (markdown: Bool, html: Bool) {
        let isPassing = outcome == .passed
        let markdown = !isPassing && kept.markdown < MarkdownReport.failureLimit
        let html = writesHTML && (isPassing ? kept.passing < (shownPassing ?? options.htmlSampleCap) : kept.failing < options.htmlSampleCap)
        if markdown { kept.markdown += 1 }
        if html {
            if isPassing { kept.passing += 1 } else { kept.failing += 1 }
        }
        return (markdown, html)
    }

    /// Writes the remaining files and returns the summary.
    /// - Parameter comparison: overrides `options.comparison` (for a comparison built while streaming).
    @discardableResult
    public func finish(
        aggregate: EvalAggregate, rejectedLines: Int = 0, comparison: RunComparison? = nil, generatedAt: Date = Date()
    ) throws -> EvalSummary {
        let summary = EvalSummary(aggregate: aggregate, rejectedLines: rejectedLines)
        let comparison = comparison ?? options.comparison
        try csv?.finish()
        try junit?.finish()
        if options.formats.contains(.summary) {
            try write(JSONCoding.encoder(pretty: true).encode(summary), .summary)
        }
        if options.formats.contains(.markdown) {
            try write(Data(MarkdownReport.render(summary: summary, failing: mdFailing, title: options.title, comparison: comparison).utf8), .markdown)
        }
        if options.formats.contains(.html) {
            let shown = Array((failing + passing).prefix(options.htmlSampleCap))
            let html = HTMLReport.render(
                summary: summary, samples: shown, totalSamples: count, title: options.title, generatedAt: generatedAt,
                comparison: comparison)
            try write(Data(html.utf8), .html)
        }
        return summary
    }

    private func write(_ data: Data, _ format: ReportOptions.Format) throws {
        try data.write(to: directory.appendingPathComponent(format.fileName), options: .atomic)
    }
}
