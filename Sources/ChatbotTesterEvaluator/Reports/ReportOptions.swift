/// What `EvalReportWriter` writes and how.
public struct ReportOptions: Sendable, Hashable {
    /// The report files.
    public enum Format: String, Sendable, Hashable, CaseIterable, Codable {
        case summary, junit, csv, markdown, html
        /// The file name in the output directory.
        public var fileName: String {
            switch self {
            case .summary: "summary.json"
            case .junit: "junit.xml"
            case .csv: "results.csv"
            case .markdown: "report.md"
            case .html: "report.html"
            }
        }
    }

    /// Shown as the report title and the JUnit `testsuites` name.
    public var title: String
    public var formats: Set<Format>
    /// Samples embedded in `report.html` at most (failing, errored and unmeasured ones first).
    /// Every sample is always in `results.csv` and `junit.xml`.
    public var htmlSampleCap: Int
    /// A comparison with a baseline run, added to `report.md` and `report.html`.
    public var comparison: RunComparison?

    public init(
        title: String = "chatbot-tester evaluation", formats: Set<Format> = Set(Format.allCases), htmlSampleCap: Int = 1000,
        comparison: RunComparison? = nil
    ) {
        self.title = title
        self.formats = formats
        self.htmlSampleCap = max(0, htmlSampleCap)
        self.comparison = comparison
    }
}
