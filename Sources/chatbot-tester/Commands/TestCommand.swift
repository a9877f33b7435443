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
            let events = CommandEvents()
            let prepared: TestJob
            do {
                prepared = try await job.prepare(events: events.bus)
            } catch {
                await events.finish()
                throw error
            }
            try events.log(to: prepared.output("events.jsonl"))
            events.showProgress(!job.noProgress)
            let outcome: JobOutcome
            do {
                outcome = try await withInterruptCancellation {
                    job.workers > 0 ? try await DistributedRun.test(job: prepared, workers: job.workers) : try await prepared.test()
                }
            } catch {
                await events.finish()
                throw error
            }
            await events.finish()
            print(SummaryTable.render(outcome))
            return outcome.exitStatus
        }
    }
}
