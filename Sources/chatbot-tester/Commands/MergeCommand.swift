import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester merge --store URL [--out DIR]`: the last step of an indexed run.
struct MergeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge an indexed run: results, evals, summaries and every report, into the store.",
        discussion: """
            Merges every worker attempt's journal (each case once: a success over an error) into \
            results.jsonl and evals.jsonl, then writes run-summary.json, summary.json and every report \
            as `test` does, into the store and into --out when given. Exit status as `test`'s: 0 every \
            threshold passed, 1 a threshold failed, 2 config/input error (or this environment expands \
            the config differently from the plan), 3 the run is incomplete (an index stopped on a \
            budget or the failure policy, or has not finished: see `status`).
            """)

    @Option(help: "The store: s3://bucket/prefix, file:///path or a directory.") var store: String
    @Option(name: .long, help: "Also write the outputs into this directory.") var out: String?
    @Flag(help: "No progress display on standard error.") var noProgress = false

    func run() async throws {
        try await withExitCodes {
            let target = try IndexedStore(store)
            return try await IndexedStore.withScratch { scratch in
                let plan = try await IndexedRun.readPlan(from: target.store, name: target.name)
                let spool = try await ClusterSpool.download(
                    from: target.store, prefix: IndexedRun.spoolPrefix, name: target.name, into: scratch.appendingPathComponent("spool"), shards: [])
                let output = out.map { URL(fileURLWithPath: $0) } ?? scratch.appendingPathComponent("out")
                let events = CommandEvents()
                let job: TestJob
                do {
                    job = try await IndexedRun.job(plan: plan, spool: spool, components: .builtin(), outputDirectory: output, events: events.bus)
                    try events.log(to: job.output("events.jsonl"))
                } catch {
                    await events.finish()
                    throw error
                }
                events.showProgress(!noProgress)
                let outcome = try await events.run {
                    try await IndexedRun.merge(job: job, plan: plan, spool: spool, store: target.store, name: target.name)
                }
                _ = try await IndexedRun.uploadOutputs(from: output, to: target.store)
                print(SummaryTable.render(outcome))
                return outcome.exitStatus
            }
        }
    }
}
