import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester evaluate CONFIG --results FILE`: scores run records.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score results.jsonl with the config's metrics and write evals.jsonl and every report.",
        discussion: """
            With --results FILE, evals.jsonl and the reports are written next to FILE (its directory) \
            unless --out says otherwise; without it, the config's own run is scored in place. \
            Exit status: 0 every threshold passed, 1 a threshold failed.
            """
    )

    @OptionGroup var job: JobOptions
    @Option(help: "The results to score, a path or s3://bucket/key (default: results.jsonl in the output directory); the reports go next to them.")
    var results: String?

    func validate() throws {
        if job.workers > 0 { throw ValidationError("--workers applies to `test` and `run` (workers score their shards there)") }
    }

    func run() async throws {
        try await withExitCodes {
            // Write next to the results read, never over the config's own run.
            var job = self.job
            if job.out == nil, let results {
                job.out = try RemoteLocation.isRemote(results)
                    ? RemoteLocation.splitObject(results).store : URL(fileURLWithPath: results).deletingLastPathComponent().path
            }
            let (prepared, events) = try await job.start(claim: false)
            let given = results
            let summary = try await prepared.closing(events) {
                // Remote results (given, or the remote output's own) are scored from a local copy.
                let remote = given.flatMap { RemoteLocation.isRemote($0) ? $0 : nil }
                    ?? (given == nil ? prepared.remote.map { RemoteLocation.join($0.url, "results.jsonl") } : nil)
                var resultsURL = given.map { URL(fileURLWithPath: $0) } ?? prepared.output("results.jsonl")
                if let remote { resultsURL = try await prepared.fetch(remote, as: "results.jsonl") }
                guard FileManager.default.fileExists(atPath: resultsURL.path) else {
                    throw ChatbotTesterError(
                        .invalidInput, "no results file (run `chatbot-tester run` first, or pass --results)",
                        location: SourceLocation(source: resultsURL.path))
                }
                let summary = try await prepared.evaluate(results: resultsURL)
                try await prepared.publishOutputs()
                return summary
            }
            var outcome = JobOutcome(outputDirectory: prepared.outputDirectory)
            outcome.location = prepared.remote?.url
            outcome.evaluation = summary
            print(SummaryTable.render(outcome))
            return outcome.exitStatus
        }
    }
}
