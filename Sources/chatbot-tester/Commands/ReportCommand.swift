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

    @Argument(help: "The run directory or store URL s3://bucket/prefix (holding results.jsonl and evals.jsonl).") var directory: String
    @Option(help: "The job config, for metric thresholds and gates (default: the run's job.json).") var config: String?
    @Option(help: "A baseline run directory or evals.jsonl (a path or s3:// URL) to compare against.") var compare: String?
    @Option(help: "Where to write the reports, a directory or s3://bucket/prefix (default: the run directory).") var out: String?
    @Option(help: "Score change that counts as a regression or improvement.") var tolerance: Double = 0.1
    @Flag(help: "Exit 1 when any sample regressed against the baseline.") var failOnRegression = false

    func run() async throws {
        try await withExitCodes {
            // Remote runs and baselines are read from local copies in a private scratch directory;
            // reports for a remote --out (or run) are written there and uploaded.
            let stores = PipelineComponents.builtin().stores
            let scratch = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-report")
            defer { try? FileManager.default.removeItem(at: scratch) }
            var runDirectory = URL(fileURLWithPath: directory)
            if RemoteLocation.isRemote(directory) {
                runDirectory = scratch.appendingPathComponent("run")
                let store = try RemoteLocation.open(directory, opener: stores)
                for name in ["results.jsonl", "evals.jsonl", "job.json"] {
                    if name == "job.json", !(await store.exists(name)) { continue }
                    try await RemoteLocation.download(name, from: store, to: runDirectory.appendingPathComponent(name))
                }
            }
            let results = runDirectory.appendingPathComponent("results.jsonl")
            let evals = runDirectory.appendingPathComponent("evals.jsonl")
            for file in [results, evals] where !FileManager.default.fileExists(atPath: file.path) {
                throw ChatbotTesterError(.invalidInput, "not found (is this a run directory?)", location: SourceLocation(source: file.path))
            }
            let target = out ?? directory
            let publish = try RemoteLocation.isRemote(target) ? RemoteOutput(url: target, opener: stores) : nil
            defer { publish?.discardStaging() }
            let document = try loadConfig(runDirectory)
            let evaluation = try document.flatMap { try JobConfig(document: $0).section("evaluate", as: EvaluationConfig.self) }
            let descriptors = try Evaluator.descriptors(for: evaluation?.metrics ?? [])
            let title = RemoteLocation.isRemote(directory) ? URL(fileURLWithPath: directory).lastPathComponent : runDirectory.lastPathComponent
            var options = ReportOptions(title: (document?.value["name"]?.stringValue) ?? title)
            if let compare {
                var baseline = URL(fileURLWithPath: compare)
                if baseline.pathExtension != "jsonl" { baseline.appendPathComponent("evals.jsonl") }
                if RemoteLocation.isRemote(compare) {
                    let object = compare.hasSuffix(".jsonl") ? compare : RemoteLocation.join(compare, "evals.jsonl")
                    baseline = scratch.appendingPathComponent("baseline/evals.jsonl")
                    try await RemoteLocation.download(object, opener: stores, to: baseline)
                }
                options.comparison = try await RunComparison.compare(baselineEvals: baseline, candidateEvals: evals, tolerance: tolerance)
            }
            let outDirectory = publish?.staging ?? out.map { URL(fileURLWithPath: $0) } ?? runDirectory
            let summary = try await EvalReports.write(results: results, evals: evals, to: outDirectory, descriptors: descriptors, options: options,
                maxErrorRate: evaluation?.maxErrorRate)
            if let comparison = options.comparison {
                try comparison.write(to: outDirectory)
                print(comparison.markdown())
            }
            try await publish?.publish()
            var outcome = JobOutcome(outputDirectory: outDirectory)
            outcome.location = publish?.url
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
        guard let data = try? Data(contentsOf: record), let value = try? JSONCoding.decoder().decode(JSONValue.self, from: data),
            let config = value["config"]
        else { return nil }
        // `${VAR}` expansions are recorded unexpanded: expand them here, or keep them as written.
        return (try? ConfigDocument.recorded(value, source: record.path)) ?? ConfigDocument(value: config, source: record.path)
    }
}
