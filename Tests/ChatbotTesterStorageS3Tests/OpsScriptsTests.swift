import ChatbotTesterTesting
import Foundation
import Testing

/// The Slurm array example and the runtime-stage check (`ops/runtime-check.sh`: the release binary
/// run under chroot in a debootstrap'ed Debian bookworm root, as the image's non-root user).
@Suite struct OpsScriptsTests {
    static let root = MotoServer.repositoryRoot

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The value of `--name` on a script's `chatbot-tester` command line (comments are skipped).
    static func option(_ name: String, in text: String) -> String? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && line.contains("chatbot-tester ") {
            let words = line.split(separator: " ")
            if let index = words.firstIndex(of: Substring(name)), index + 1 < words.count { return String(words[index + 1]) }
        }
        return nil
    }

    @Test func slurmStepsParseAndTheArrayMatchesThePlan() async throws {
        let scripts = ["plan.sbatch", "workers.sbatch", "merge.sbatch", "submit.sh"]
        for script in scripts {
            let result = try await DeploymentFilesTests.run(["bash", "-n", "ops/slurm/\(script)"])
            #expect(result.status == 0, "\(script): \(result.output)")
        }
        let plan = try Self.text("ops/slurm/plan.sbatch")
        let workers = try Self.text("ops/slurm/workers.sbatch")
        let shards = try #require(Int(Self.option("--shards", in: plan) ?? ""))
        let parallelism = try #require(Int(Self.option("--parallelism", in: plan) ?? ""))
        let array = try #require(workers.firstMatch(of: /#SBATCH --array=0-(\d+)%(\d+)/))
        #expect(Int(array.1) == shards - 1)
        #expect(Int(array.2) == parallelism)
        // The shard comes from SLURM_ARRAY_TASK_ID: no --shard on the worker's command line.
        #expect(workers.contains("chatbot-tester worker --store \"$STORE\""))
        #expect(!workers.contains("--shard "))
        #expect(try Self.text("ops/slurm/merge.sbatch").contains("chatbot-tester merge --store \"$STORE\""))
        let submit = try Self.text("ops/slurm/submit.sh")
        #expect(submit.contains("--dependency=\"afterok:$plan\" workers.sbatch"))
        #expect(submit.contains("--dependency=\"afterany:$workers\" merge.sbatch"))
    }

    /// The release binary as the Dockerfile's builder stage makes it (Swift runtime linked
    /// statically), when one is built and this process may debootstrap and chroot (root).
    static var staticReleaseBinary: URL? {
        let binary = root.appendingPathComponent(".build/release/chatbot-tester")
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: binary.path),
            let ldd = try? DeploymentFilesTests.runBlocking(["ldd", binary.path]), !ldd.output.contains("libswiftCore")
        else { return nil }
        return binary
    }

    /// `ops/test.sh` builds that binary (and runs the check once) before the suites; then this
    /// test runs it again against the cached root (seconds).
    @Test(.enabled(if: OpsScriptsTests.staticReleaseBinary != nil, "needs root and a release binary built with --static-swift-stdlib (ops/test.sh)"))
    func theRuntimeStageRunsTheReleaseBinary() async throws {
        let binary = try #require(Self.staticReleaseBinary)
        let result = try await DeploymentFilesTests.run(["env", "CHATBOT_TESTER_BINARY=\(binary.path)", "bash", "ops/runtime-check.sh"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("runtime-check: ok"))
        #expect(result.output.contains("libuv1"))
    }

    @Test func theRuntimeCheckReadsTheRuntimeStageFromTheDockerfile() async throws {
        let script = try Self.text("ops/runtime-check.sh")
        // The packages, the user and the suite come from the Dockerfile, so the check follows it.
        #expect(script.contains("sed -n '/^FROM debian:/,$p' Dockerfile"))
        #expect(script.contains("--variant=minbase"))
        #expect(script.contains("chroot --userspec=\"$user\""))
        #expect(script.contains("--static-swift-stdlib"))
        #expect(try await DeploymentFilesTests.run(["bash", "-n", "ops/runtime-check.sh"]).status == 0)
    }
}
