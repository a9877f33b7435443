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
    @Option(help: "Play this JSONL dataset (a path or s3://bucket/key) instead of the config's.") var dataset: String?

    func run() async throws {
        try await withExitCodes {
            let (prepared, events) = try await job.start()
            let stage = job.stage
            let given = dataset
            let outcome = try await prepared.closing(events) {
                var url = given.map { URL(fileURLWithPath: $0) }
                if let given, RemoteLocation.isRemote(given) { url = try await prepared.fetch(given, as: "run-dataset.jsonl") }
                return try await prepared.runOnly(dataset: url, stage: stage)
            }
            print(SummaryTable.render(outcome).replacingOccurrences(of: "/report.html", with: "/results.jsonl"))
            return outcome.exitStatus
        }
    }
}
