import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester test CONFIG`: the whole pipeline.
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the whole pipeline of a job config: dataset or generation, run, evaluate, reports.",
        discussion: """
            Writes results.jsonl, evals.jsonl, summary.json, report.html, report.md, junit.xml, \
            results.csv, run-summary.json, job.json and events.jsonl into the output directory. \
            Exit status: 0 every threshold passed, 1 a threshold failed, 2 config/input error, \
            3 run aborted (budget, failure policy, interrupt).
            """
    )

    @OptionGroup var job: JobOptions

    func run() async throws {
        try await withExitCodes {
            let (prepared, events) = try await job.start()
            let stage = job.stage
            let outcome = try await prepared.closing(events) { try await prepared.test(stage: stage) }
            print(SummaryTable.render(outcome))
            return outcome.exitStatus
        }
    }
}
