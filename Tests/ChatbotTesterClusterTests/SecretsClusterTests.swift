import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterTesting
import Foundation
import Testing

@testable import cluster_test_host

/// The secrets contract with workers: references travel as references, `${VAR}` unexpanded,
/// everything else exactly as written — so the bot receives the same bytes with and without
/// `--workers`.
@Suite(.serialized) struct SecretsClusterTests {
    static let key = "sk-cluster-SECRET-42xyz"

    static func config(target: String) -> String {
        """
        backends:
          bot:
            type: http
            url: "http://127.0.0.1:${CT_SECRETS_PORT}/chat"
            apiKey: {env: CT_SECRETS_KEY}
            headers: {Authorization: "Bearer {{apiKey}}", X-Auth-Mode: strict, X-Trace: "${CT_SECRETS_TRACE:-trace-default}"}
            body: {message: "{{input}}", auth_mode: "strict", password: "hunter2-as-written", token_count: 3}
            replyPath: $.reply
          relay:
            type: test-relay
            url: "http://127.0.0.1:${CT_SECRETS_PORT}/relay"
            password: "plain-option-value"
            authMode: "${CT_SECRETS_MODE:-lenient}"
        dataset: cases.jsonl
        run: {target: \(target), concurrency: 2, retries: 0}
        evaluate: {metrics: [{type: contains, value: ok}]}
        """
    }

    static func workspace(target: String) throws -> URL {
        let directory = try ClusterTestSupport.temporaryDirectory()
        try Data(config(target: target).utf8).write(to: directory.appendingPathComponent("job.yaml"))
        let cases = (0..<6).map { #"{"id": "case-\#($0)", "input": "question \#($0)"}"# }.joined(separator: "\n") + "\n"
        try Data(cases.utf8).write(to: directory.appendingPathComponent("cases.jsonl"))
        return directory
    }

    static func components() -> PipelineComponents {
        var components = PipelineComponents.builtin()
        TestRelayBackend.register(in: &components.backends)
        return components
    }

    /// Runs the job in this process and with 2 workers (`cluster-test-host worker`) against
    /// `server`; returns the requests each run made, in a stable order.
    static func runBothWays(
        directory: URL, server: LoopbackHTTPRecorder, environment: [String: String], workerEnvironment: [String: String]? = nil
    ) async throws -> (single: [LoopbackHTTPRecorder.Request], cluster: [LoopbackHTTPRecorder.Request]) {
        let config = try JobConfig.load(contentsOf: directory.appendingPathComponent("job.yaml"), environment: environment)
        let secrets = SecretResolver(environment: environment)
        let single = try await TestJob.prepare(
            config: config, components: components(),
            settings: JobSettings(outputDirectory: directory.appendingPathComponent("single").path, secrets: secrets))
        _ = try await withTimeout(120) { try await single.test() }
        let before = server.requests.count
        let clustered = try await TestJob.prepare(
            config: config, components: components(),
            settings: JobSettings(outputDirectory: directory.appendingPathComponent("cluster").path, secrets: secrets))
        let worker = ClusterRun.WorkerCommand(
            executable: ClusterTestSupport.hostPath, arguments: ["worker"],
            environment: ProcessInfo.processInfo.environment.merging(workerEnvironment ?? environment) { _, new in new })
        _ = try await withTimeout(180) {
            try await clustered.test(stage: ShardedRunStage(workers: 2, workerCommand: worker, samplesPerShard: 2))
        }
        let all = server.requests
        func ordered(_ requests: ArraySlice<LoopbackHTTPRecorder.Request>) -> [LoopbackHTTPRecorder.Request] {
            requests.sorted { $0.body.lexicographicallyPrecedes($1.body) }
        }
        return (ordered(all[..<before]), ordered(all[before...]))
    }

    @Test(arguments: ["bot", "relay"]) func botReceivesTheSameBytesWithAndWithoutWorkers(target: String) async throws {
        let server = try LoopbackHTTPRecorder { _ in .json(#"{"reply": "ok"}"#) }
        defer { server.close() }
        let directory = try Self.workspace(target: target)
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ["CT_SECRETS_PORT": "\(server.port)", "CT_SECRETS_KEY": Self.key]
        let (single, cluster) = try await Self.runBothWays(directory: directory, server: server, environment: environment)
        let clusterResults = (try? String(contentsOf: directory.appendingPathComponent("cluster/results.jsonl"), encoding: .utf8)) ?? "none"
        #expect(single.count == 6)
        #expect(cluster.count == 6, "cluster results: \(clusterResults.prefix(600))")
        #expect(single.map(\.raw) == cluster.map(\.raw))
        for request in single + cluster {
            let body = try JSONValue(parsing: String(decoding: request.body, as: UTF8.self))
            if target == "bot" {
                #expect(request.header("Authorization") == "Bearer \(Self.key)")
                #expect(request.header("X-Auth-Mode") == "strict")
                #expect(request.header("X-Trace") == "trace-default")
                #expect(body["auth_mode"] == "strict")
                #expect(body["password"] == "hunter2-as-written")
            } else {
                #expect(body["password"] == "plain-option-value")
                #expect(body["auth_mode"] == "lenient")
            }
        }
    }

    @Test func variablesTravelUnexpandedAndEachWorkerExpandsThem() async throws {
        let server = try LoopbackHTTPRecorder { _ in .json(#"{"reply": "ok"}"#) }
        defer { server.close() }
        let directory = try Self.workspace(target: "bot")
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ["CT_SECRETS_PORT": "\(server.port)", "CT_SECRETS_KEY": Self.key]
        var workers = environment
        workers["CT_SECRETS_TRACE"] = "set-on-the-worker"
        let (single, cluster) = try await Self.runBothWays(
            directory: directory, server: server, environment: environment, workerEnvironment: workers)
        #expect(single.allSatisfy { $0.header("X-Trace") == "trace-default" })
        let clusterResults = (try? String(contentsOf: directory.appendingPathComponent("cluster/results.jsonl"), encoding: .utf8)) ?? "none"
        #expect(cluster.count == 6, "cluster results: \(clusterResults.prefix(600))")
        #expect(cluster.allSatisfy { $0.header("X-Trace") == "set-on-the-worker" })

        for file in ["single/job.json", "cluster/job.json", "cluster/spool/setup.json"] {
            let url = directory.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                #expect(file == "cluster/job.json", "missing \(file)")  // the SDK cluster path may not write job.json
                continue
            }
            let text = try String(contentsOf: url, encoding: .utf8)
            #expect(text.contains("http://127.0.0.1:${CT_SECRETS_PORT}/chat"), "\(file)")
            #expect(text.contains("${CT_SECRETS_TRACE:-trace-default}"), "\(file)")
            #expect(!text.contains("127.0.0.1:\(server.port)"), "\(file)")
            #expect(text.contains(#""env""#) && text.contains("CT_SECRETS_KEY"), "\(file)")
            #expect(!text.contains(Self.key), "\(file)")
            #expect(text.contains("CT_SECRETS_PORT"), "\(file)")
        }
        let record = try JSONValue(parsing: String(contentsOf: directory.appendingPathComponent("single/job.json"), encoding: .utf8))
        #expect(record["environmentVariables"] == ["CT_SECRETS_MODE", "CT_SECRETS_PORT", "CT_SECRETS_TRACE"])
    }
}
