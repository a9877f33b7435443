import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

/// Builders shared by the evaluator tests.
enum Fixtures {
    static func run(
        _ id: String, reply: String? = "Hello", input: String = "Hi", expected: String? = nil, criteria: String? = nil,
        tags: [String] = [], latencyMs: Double = 100, costUSD: Double? = nil, status: RunRecord.Status = .ok, system: String? = nil,
        scenario: Scenario? = nil, context: [String]? = nil
    ) -> RunRecord {
        let sample = TestSample(
            id: id, input: scenario == nil ? input : nil, system: system, scenario: scenario, expected: expected, criteria: criteria,
            context: context, tags: tags)
        var transcript: [Message] = []
        if let system { transcript.append(.system(system)) }
        transcript.append(.user(input))
        if let reply { transcript.append(.assistant(reply)) }
        return RunRecord(
            sample: sample, target: "bot", status: status, transcript: transcript,
            turns: reply == nil ? [] : [TurnRecord(index: 0, latencyMs: latencyMs)], costUSD: costUSD, latencyMs: latencyMs,
            attempts: 1, error: status == .error ? ErrorInfo(code: "timeout", message: "deadline exceeded") : nil)
    }

    /// A backend set whose `judge` instance answers with `body` and `embed` instance embeds with `vectors`.
    static func backends(
        judge: @escaping @Sendable (ChatRequest) async throws -> ChatResponse = { _ in ChatResponse(content: #"{"score": 5, "reason": "ok"}"#) },
        embed: @escaping @Sendable ([String]) -> [[Double]] = { $0.map { _ in [1, 0] } }
    ) -> BackendSet {
        var registry = BackendRegistry()
        registry.register("test-judge") { _, _ in ClosureChatBackend(judge) }
        registry.register("test-embed") { _, _ in TestEmbedder(body: embed) }
        return BackendSet(
            config: RegistryConfig(["judge": ComponentSpec(type: "test-judge"), "embed": ComponentSpec(type: "test-embed")]), registry: registry)
    }

    /// Builds one metric through the registry, as a job config would.
    static func metric(_ options: [String: JSONValue], backends: BackendSet? = nil) async throws -> Evaluator {
        var options = options
        let type = options.removeValue(forKey: "type")!.stringValue!
        return try await Evaluator(specs: [ComponentSpec(type: type, options: options)], backends: backends)
    }

    /// Evaluates one record with one metric spec and returns the single record.
    static func evaluate(_ options: [String: JSONValue], _ record: RunRecord, backends: BackendSet? = nil) async throws -> EvalRecord {
        let evaluator = try await metric(options, backends: backends)
        let records = await evaluator.evaluate(record)
        guard records.count == 1 else { throw TestFailure("expected one record, got \(records.count)") }
        return records[0]
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evaluator-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func writeJSONL<T: Encodable>(_ values: [T], to url: URL) throws {
        var data = Data()
        for value in values { data.append(try JSONL.encodeLine(value)) }
        try data.write(to: url)
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// The path of an external tool a test needs. Absent on a developer machine, the check is
    /// skipped with a note; absent under CI (`CI=true`), the test fails, since CI must install it.
    static func requiredTool(_ names: String..., debianPackage: String) -> String? {
        if let path = names.lazy.compactMap(which).first { return path }
        let hint = "\(names[0]) is not installed (Debian: apt-get install -y \(debianPackage))"
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("\(hint); CI must install it (ops/setup.sh)")
        } else {
            print("skipping a check: \(hint)")
        }
        return nil
    }

    /// Runs a program (Core's `ProcessRunner`) and returns its exit status and output (stdout, then stderr).
    static func execute(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let outcome = try await ProcessRunner.run([path] + arguments, input: Data(), environment: nil, directory: nil, timeoutSeconds: 300)
        return (outcome.status, String(decoding: outcome.stdout + outcome.stderr, as: UTF8.self))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct TestEmbedder: EmbeddingBackend {
    var body: @Sendable ([String]) -> [[Double]]
    func embed(_ inputs: [String]) async throws -> EmbeddingResponse {
        EmbeddingResponse(vectors: body(inputs), usage: Usage(promptTokens: inputs.count, completionTokens: 0))
    }
}
