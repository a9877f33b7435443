import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester report DIR`: regenerates reports from a run directory, optionally comparing it
/// with a baseline run.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Regenerate reports from a run's results and evals, or compare two runs.",
        discussion: """
            Reads DIR/results.jsonl and DIR/evals.jsonl and writes summary.json, junit.xml, report.md, \
            results.csv and report.html into DIR (or --out). With --compare BASELINE (a run directory \
            or its evals.jsonl), the reports gain a regressions/improvements section and \
            compare.json, compare.md and compare.html are written. Exit 1 when a gate fails or, with \
            --fail-on-regression, when any sample regressed.
            """
    )

    @Argument(help: "The run directory (holding results.jsonl and evals.jsonl).") var directory: String
    @Option(help: "The job config, for metric thresholds and gates (default: the run's job.json).") var config: String?
    @Option(help: "A baseline run directory or evals.jsonl to compare against.") var compare: String?
    @Option(help: "Where to write the reports (default: the run directory).") var out: String?
    @Option(help: "Score change that counts as a regression or improvement.") var tolerance: Double = 0.1
    @Flag(help: "Exit 1 when any sample regressed against the baseline.") var failOnRegression = false

    func run() async throws {
        try await withExitCodes {
            let runDirectory = URL(fileURLWithPath: directory)
            let results = runDirectory.appendingPathComponent("results.jsonl")
            let evals = runDirectory.appendingPathComponent("evals.jsonl")
            for file in [results, evals] where !FileManager.default.fileExists(atPath: file.path) {
                throw ChatbotTesterError(.invalidInput, "not found (is this a run directory?)", location: SourceLocation(source: file.path))
            }
            let document = try loadConfig(runDirectory)
            let evaluation = try document.flatMap { try JobConfig(document: $0).section("evaluate", as: EvaluationConfig.self) }
            let descriptors = try Evaluator.descriptors(for: evaluation?.metrics ?? [])
            var options = ReportOptions(title: (document?.value["name"]?.stringValue) ?? runDirectory.lastPathComponent)
            if let compare {
                var baseline = URL(fileURLWithPath: compare)
                if baseline.pathExtension != "jsonl" { baseline.appendPathComponent("evals.jsonl") }
                options.comparison = try await RunComparison.compare(baselineEvals: baseline, candidateEvals: evals, tolerance: tolerance)
            }
            let outDirectory = out.map { URL(fileURLWithPath: $0) } ?? runDirectory
            let summary = try await EvalReports.write(results: results, evals: evals, to: outDirectory, descriptors: descriptors, options: options,
                maxErrorRate: evaluation?.maxErrorRate)
            if let comparison = options.comparison {
                try comparison.write(to: outDirectory)
                print(comparison.markdown())
            }
            var outcome = JobOutcome(outputDirectory: outDirectory)
            outcome.evaluation = summary
            print(SummaryTable.render(outcome))
            if failOnRegression, let comparison = options.comparison, comparison.regressions > 0 { return ExitStatus.failed }
            return outcome.exitStatus
        }
    }

    /// The `--config` file, else the config recorded in the run's job.json, else none.
    func loadConfig(_ runDirectory: URL) throws -> ConfigDocument? {
        if let config { return try ConfigDocument.load(contentsOf: URL(fileURLWithPath: config), environment: ProcessInfo.processInfo.environment) }
        let record = runDirectory.appendingPathComponent("job.json")
        guard let data = try? Data(contentsOf: record), let value = try? JSONDecoder().decode(JSONValue.self, from: data),
            let config = value["config"]
        else { return nil }
        // `${VAR}` expansions are recorded unexpanded: expand them here, or keep them as written.
        return (try? ConfigDocument.recorded(value, source: record.path)) ?? ConfigDocument(value: config, source: record.path)
    }
}
