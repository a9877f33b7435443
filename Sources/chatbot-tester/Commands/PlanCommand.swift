import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester plan CONFIG --store URL --shards N [--parallelism P]`: the first step of an
/// indexed run — the spool written to a store for `worker --store` and `merge --store`.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Plan an indexed run: write the job's spool to a store for workers on any scheduler.",
        discussion: """
            Checks the job as `test` does, spools its dataset (or generates it) into N shards and writes \
            the spool, job.json and plan.json (digests of the config as written and of every ${VAR} \
            expansion — never their values) to the store (s3://bucket/prefix, file:///dir or a directory). \
            Then run `worker --store URL` once per index 0…N-1 (a Kubernetes Indexed Job, a Slurm array), \
            and `merge --store URL`. --parallelism is how many workers run at once: rate limits and \
            run.concurrency are split by it (see docs/cluster.md). Planning the same job again into the \
            same store does nothing. Exit status: 0 planned, 2 config/input error.
            """)

    @Argument(help: "The job config (YAML or JSON).") var config: String
    @Option(help: "The store: s3://bucket/prefix, file:///path or a directory.") var store: String
    @Option(help: "Shard indexes (the Job's completions, the array's size).") var shards: Int
    @Option(help: "Workers that run at once (the Job's parallelism); default: --shards.") var parallelism: Int?
    @Option(help: "Cases played at once for the whole run (overrides run.concurrency), split across the workers.") var concurrency: Int?
    @Flag(help: "Delete another run's plan, journals and outputs in the store first.") var overwrite = false

    func validate() throws {
        if shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let parallelism, parallelism < 1 { throw ValidationError("--parallelism must be at least 1") }
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        try await withExitCodes {
            let target = try IndexedStore(store)
            return try await IndexedStore.withScratch { scratch in
                let loaded = try JobConfig.load(contentsOf: URL(fileURLWithPath: config))
                let settings = JobSettings(outputDirectory: scratch.appendingPathComponent("out").path, concurrency: concurrency)
                let job = try await TestJob.prepare(config: loaded, components: .builtin(), settings: settings)
                let (plan, existing) = try await IndexedRun.plan(
                    job: job, store: target.store, name: target.name, shards: shards, parallelism: parallelism ?? shards, overwrite: overwrite,
                    scratch: scratch)
                let shape = "\(plan.sampleCount) cases in \(plan.shards) shards, parallelism \(plan.parallelism)"
                print(existing ? "already planned: run \(plan.runId) (\(shape)) at \(target.name)" : "planned run \(plan.runId): \(shape) at \(target.name)")
                return ExitStatus.ok
            }
        }
    }
}
