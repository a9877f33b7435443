import ChatbotTester
import ChatbotTesterClusterUV
import ChatbotTesterTesting
import Foundation
import Testing

/// The ops files, checked without a Docker engine or systemd running: structure in Swift, and the
/// Compose schema / unit syntax with the real tools when the machine has them
/// (`docker-compose config -q` and `jsonschema` against docker-compose's bundled compose-spec
/// schema; `systemd-analyze verify`).
@Suite(.serialized) struct OpsFilesTests {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs a tool and returns its exit status (stdout/stderr go to the test log).
    static func status(_ executable: String, _ arguments: [String]) async throws -> Int64 {
        try await withTimeout(120) {
            try await UVLoop.withLoop { loop in
                let process = try await UVProcess.spawn(executable: executable, arguments: arguments, loop: loop)
                let end = await process.waitForExit()
                return end.signal == 0 ? end.status : -1
            }
        }
    }

    static func strings(_ value: JSONValue?) -> [String] {
        if let text = value?.stringValue { return text.split(separator: " ").map(String.init) }
        return value?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    static func option(_ name: String, in command: [String]) -> String? {
        guard let index = command.firstIndex(of: name), index + 1 < command.count else { return nil }
        return command[index + 1]
    }

    @Test func composeFileWiresCoordinatorWorkersMockAndVolumes() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        let compose = try ConfigDocument.parse(text, source: "docker-compose.yml").value
        let services = try #require(compose["services"]?.objectValue)
        let coordinator = try #require(services["coordinator"])
        let worker = try #require(services["worker"])
        let mock = try #require(services["mock-llm"])
        #expect(Self.strings(mock["command"]).first == "mock-server")
        let coordinatorCommand = Self.strings(coordinator["command"])
        let workerCommand = Self.strings(worker["command"])
        #expect(coordinatorCommand.first == "coordinator")
        #expect(workerCommand.first == "worker")
        // The socket path the coordinator listens on is the one workers connect to, on a shared volume.
        let socket = try #require(Self.option("--socket", in: coordinatorCommand))
        #expect(Self.option("--connect", in: workerCommand) == socket)
        #expect(socket.utf8.count <= UVSocketPath.maxLength)
        func mounts(_ service: JSONValue) -> [(volume: String, path: String)] {
            Self.strings(service["volumes"]).map { entry in
                let parts = entry.split(separator: ":").map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }
        }
        let socketVolume = try #require(mounts(coordinator).first { socket.hasPrefix($0.path + "/") })
        #expect(mounts(worker).contains { $0.volume == socketVolume.volume && $0.path == socketVolume.path })
        // Results go to a named volume.
        let out = try #require(Self.option("--out", in: coordinatorCommand))
        let resultsVolume = try #require(mounts(coordinator).first { out == $0.path || out.hasPrefix($0.path + "/") })
        let volumes = try #require(compose["volumes"]?.objectValue)
        #expect(volumes[socketVolume.volume] != nil && volumes[resultsVolume.volume] != nil)
        // Workers see the spool where the coordinator keeps it, so they append their records to its
        // journal themselves (protocol 8) instead of sending them over the socket.
        #expect(mounts(worker).contains { $0.volume == resultsVolume.volume && $0.path == resultsVolume.path })
        #expect(worker["deploy"]?["replicas"]?.intValue ?? 0 >= 2)
        // Same uid in every container (SO_PEERCRED), and the mock's loopback is reachable.
        #expect(coordinator["user"] == worker["user"])
        #expect(coordinator["network_mode"]?.stringValue == "service:mock-llm")
        #expect(worker["network_mode"]?.stringValue == "service:mock-llm")
        // No secret values: only variable references.
        for service in [coordinator, worker] {
            for (key, value) in service["environment"]?.objectValue ?? [:] where key.contains("KEY") {
                #expect(value.stringValue?.hasPrefix("${") == true)
            }
        }
    }

    @Test func composeFileMatchesTheComposeSchema() async throws {
        let file = Self.root.appendingPathComponent("docker-compose.yml").path
        let schema = "/usr/lib/python3/dist-packages/compose/config/compose_spec.json"
        var checked = false
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/docker-compose") {
            #expect(try await Self.status("/usr/bin/docker-compose", ["-f", file, "config", "-q"]) == 0)
            checked = true
        }
        if FileManager.default.fileExists(atPath: schema), FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            let script = "import json,sys,yaml,jsonschema; jsonschema.validate(yaml.safe_load(open(sys.argv[1])), json.load(open(sys.argv[2])))"
            #expect(try await Self.status("/usr/bin/python3", ["-c", script, file, schema]) == 0)
            checked = true
        }
        if !checked {
            // Without the tools only the structural test above applies; say so in the log. CI
            // installs them (ops/setup.sh), so there their absence is a failure.
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("docker-compose is not installed; CI must install it (ops/setup.sh)")
            }
            print("OpsFilesTests: docker-compose (apt: docker-compose) not installed; compose schema not checked")
        }
    }

    @Test func systemdUnitsVerify() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("systemd-analyze is not installed; CI must install it (ops/setup.sh)")
            }
            return
        }
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = URL(fileURLWithPath: ClusterTestSupport.hostPath).deletingLastPathComponent().appendingPathComponent("chatbot-tester").path
        let executable = FileManager.default.isExecutableFile(atPath: binary) ? binary : "/bin/true"
        let units = Self.root.appendingPathComponent("ops/systemd")
        var paths: [String] = []
        for name in ["chatbot-tester-coordinator.service", "chatbot-tester-worker@.service", "chatbot-tester-nightly.timer"] {
            let text = try String(contentsOf: units.appendingPathComponent(name), encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/chatbot-tester", with: executable)
            let target = directory.appendingPathComponent(name.replacingOccurrences(of: "@.service", with: "@1.service"))
            try text.write(to: target, atomically: true, encoding: .utf8)
            paths.append(target.path)
        }
        #expect(try await Self.status("/usr/bin/systemd-analyze", ["verify"] + paths) == 0)
    }

    @Test func nightlyJobConfigIsValid() throws {
        let config = try JobConfig.load(contentsOf: Self.root.appendingPathComponent("ops/systemd/nightly-job.yaml"))
        #expect(config.backends["bot"]?.options["apiKey"] == ["env": "MOCK_LLM_KEY"])
        #expect(FileManager.default.fileExists(atPath: try #require(config.datasetURL()).path))
    }
}
