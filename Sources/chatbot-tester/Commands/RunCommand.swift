import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester run CONFIG`: plays the dataset against the target, no evaluation.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Play a dataset against the target and write results.jsonl.",
        discussion: "Generates first when the config has a `generate:` section. Exit 3 when the run was aborted."
    )

    @OptionGroup var job: JobOptions
    @Option(help: "Play this JSONL dataset instead of the config's.") var dataset: String?

    func run() async throws {
        try await withExitCodes {
            let (prepared, events) = try await job.start()
            let stage = job.stage
            let dataset = dataset.map { URL(fileURLWithPath: $0) }
            let outcome = try await events.run { try await prepared.runOnly(dataset: dataset, stage: stage) }
            print(SummaryTable.render(outcome).replacingOccurrences(of: "/report.html", with: "/results.jsonl"))
            return outcome.exitStatus
        }
    }
}
