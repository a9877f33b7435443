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
            let workers = job.workers
            let dataset = dataset
            let outcome = try await events.run { try await prepared.withOutputLock {
                if workers > 0 {
                    // Workers play and score each shard; the run's evals come along.
                    return try await DistributedRun.test(job: prepared, workers: workers)
                }
                var outcome = JobOutcome(outputDirectory: prepared.outputDirectory)
                try prepared.writeJobRecord()
                let url: URL
                if let dataset {
                    url = URL(fileURLWithPath: dataset)
                } else {
                    (url, outcome.generation) = try await prepared.datasetToRun()
                }
                outcome.run = try await prepared.run(dataset: url)
                return outcome
            } }
            print(SummaryTable.render(outcome).replacingOccurrences(of: "/report.html", with: "/results.jsonl"))
            return outcome.exitStatus
        }
    }
}
