import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester calibrate`: how well a judge agrees with human labels.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Compare an LLM judge with human labels: agreement, Cohen's kappa, confusion table.",
        discussion: """
            LABELS is JSONL of {"id": "...", "label": true|false|number}; EVALS is the evals.jsonl of \
            a run that scored the same ids with the judge. Numbers are read on --label-min..--label-max.
            """
    )

    @Option(help: "Human labels (JSONL: id, label).") var labels: String
    @Option(help: "The run's evals.jsonl (or its run directory).") var evals: String
    @Option(help: "The judge metric to check (default: the only model-graded metric).") var metric: String?
    @Option(help: "Judge score at or above which a sample passes (default: the metric's threshold).") var threshold: Double?
    @Option(help: "Lowest numeric label.") var labelMin: Double = 0
    @Option(help: "Highest numeric label.") var labelMax: Double = 1
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await withExitCodes {
            var evalsURL = URL(fileURLWithPath: evals)
            if evalsURL.pathExtension != "jsonl" { evalsURL.appendPathComponent("evals.jsonl") }
            let report = try await JudgeCalibration.calibrate(
                labels: URL(fileURLWithPath: labels), evals: evalsURL, metric: metric, threshold: threshold,
                labelScale: JudgeScale(min: labelMin, max: labelMax))
            if json {
                print(String(decoding: try JSONCoding.encoder(pretty: true).encode(report), as: UTF8.self))
            } else {
                print(report.markdown)
            }
            return ExitStatus.ok
        }
    }
}
