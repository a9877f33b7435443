import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// A run against a target that is down, through the binary: exactly the attempts the retry policy
/// allows, then the circuit breaker stops the run with exit 3, a clear message and the top error codes.
@Suite struct FailFastCLITests {
    private func job(url: String, directory: URL, cases: Int) throws -> URL {
        let dataset = directory.appendingPathComponent("cases.jsonl")
        try (1...cases).map { #"{"id": "q\#($0)", "input": "hello \#($0)"}"# }.joined(separator: "\n")
            .write(to: dataset, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("job.yaml")
        try """
            backends:
              bot:
                type: openai
                baseURL: "\(url)/v1"
                model: m
                retry: {attempts: 3, baseDelaySeconds: 0, maxDelaySeconds: 0}
                circuitBreaker: {consecutiveFailures: 7}
            dataset: \(dataset.path)
            run: {target: bot, concurrency: 1}
            """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    @Test func deadTargetStopsAfterTheBreakerThresholdWithExit3() async throws {
        let listener = try ClosingListener()
        defer { listener.stop() }
        let directory = try CLITests.temporaryDirectory()
        let out = directory.appendingPathComponent("out")
        let config = try job(url: listener.url, directory: directory, cases: 20)
        let result = try await CLITests.run(["test", config.path, "--out", out.path, "--no-progress"])
        #expect(result.status == 3, "\(result.stdout)\n\(result.stderr)")
        // q1 and q2: 3 attempts each; q3's first attempt is the 7th consecutive failure.
        #expect(listener.accepted == 7)
        #expect(
            result.stdout.contains(
                "Run aborted (target down): backend 'bot' at \(listener.url) is down: 7 consecutive connection failures"),
            "\(result.stdout)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let top = try #require(lines.firstIndex(of: "Top errors:"), "\(result.stdout)")
        #expect(top == lines.count - 2, "the summary ends with the top error codes")
        #expect(lines[top + 1].hasPrefix("  2 × connection_closed  e.g. backends.bot: \(listener.url)/v1/chat/completions: connection "))
        let results = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8)
        #expect(results.split(separator: "\n").count == 2, "q3 is left for --resume")
        let summary = try String(contentsOf: out.appendingPathComponent("run-summary.json"), encoding: .utf8)
        #expect(summary.contains(#""stopReason" : "targetDown""#))

        // --resume keeps the two errors and says so; the target is still down, so it stops again.
        let resumed = try await CLITests.run(["run", config.path, "--out", out.path, "--resume", "--no-progress"])
        #expect(resumed.status == 3)
        #expect(resumed.stdout.contains("Kept 2 errors recorded by an earlier session: --resume --retry-errors"), "\(resumed.stdout)")
        #expect(listener.accepted == 14)
    }

    @Test func retryErrorsNeedsResume() async throws {
        let result = try await CLITests.run(["run", "examples/quickstart.yaml", "--retry-errors"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--retry-errors needs --resume"))
    }
}
