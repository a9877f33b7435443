import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterTesting
import Foundation
import Testing

/// The real pipeline (Runner + Evaluator) on workers versus a single-process `test` of the same
/// job: the quickstart example, built-in backends only.
@Suite(.serialized) struct PipelineClusterTests {
    static var quickstart: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/quickstart.yaml")
    }

    /// A JSON line without the wall-clock fields (timestamps and measured latencies differ run to run).
    static func normalized(_ line: Substring) throws -> JSONValue {
        func strip(_ value: JSONValue) -> JSONValue {
            switch value {
            case .object(let object):
                var out: [String: JSONValue] = [:]
                for (key, child) in object where !["startedAt", "finishedAt", "latencyMs", "durationMs"].contains(key) { out[key] = strip(child) }
                return .object(out)
            case .array(let array): return .array(array.map(strip))
            default: return value
            }
        }
        return strip(try JSONValue(parsing: String(line)))
    }

    static func lines(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(normalized)
    }

    /// Also with `htmlSampleCap: 1`, where `report.html` keeps one passing sample and the other
    /// samples only pass through the aggregate, `results.csv` and `junit.xml`.
    @Test(arguments: [nil, 1]) func clusterTestMatchesSingleProcessTest(htmlSampleCap: Int?) async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CT_KEEP"] == nil { try? FileManager.default.removeItem(at: directory) } }
        var configURL = Self.quickstart
        if let htmlSampleCap {
            let dataset = Self.quickstart.deletingLastPathComponent().appendingPathComponent("data/quickstart.jsonl").path
            let text = try String(contentsOf: Self.quickstart, encoding: .utf8)
                .replacingOccurrences(of: "dataset: data/quickstart.jsonl", with: "dataset: \(dataset)")
                .replacingOccurrences(of: "evaluate:\n", with: "evaluate:\n  htmlSampleCap: \(htmlSampleCap)\n")
            configURL = directory.appendingPathComponent("quickstart.yaml")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try text.write(to: configURL, atomically: true, encoding: .utf8)
        }
        let config = try JobConfig.load(contentsOf: configURL)
        let single = try await TestJob.prepare(
            config: config, components: .builtin(), settings: JobSettings(outputDirectory: directory.appendingPathComponent("single").path))
        let singleOutcome = try await withTimeout(120) { try await single.test() }
        let recorder = RecordingEventSink()
        let bus = EventBus()
        bus.subscribe(recorder)
        let clustered = try await TestJob.prepare(
            config: config, components: .builtin(), settings: JobSettings(outputDirectory: directory.appendingPathComponent("cluster").path),
            events: bus)
        let stage = ShardedRunStage(workers: 3, workerCommand: .init(executable: ClusterTestSupport.hostPath, arguments: ["worker"]), samplesPerShard: 4)
        let outcome = try await withTimeout(180) { try await clustered.test(stage: stage) }
        let summary = try #require(outcome.evaluation)
        #expect(outcome.run?.stopReason == .completed && outcome.exitStatus == singleOutcome.exitStatus)
        #expect(try Self.lines(single.output("results.jsonl")) == Self.lines(clustered.output("results.jsonl")))
        #expect(try Self.lines(single.output("evals.jsonl")) == Self.lines(clustered.output("evals.jsonl")))
        let singleSummary = try #require(singleOutcome.evaluation)
        let encoder = JSONCoding.encoder()
        #expect(try JSONValue(parsing: String(decoding: encoder.encode(singleSummary), as: UTF8.self)) == JSONValue(parsing: String(decoding: encoder.encode(summary), as: UTF8.self)))
        // Every report is the one a single process writes (the coordinator builds them in its
        // merge pass with the single-process report code), byte for byte but for measured times.
        for name in ["summary.json", "results.csv", "junit.xml", "report.md", "report.html"] {
            let expected = try Self.report(single.output(name)), actual = try Self.report(clustered.output(name))
            #expect(!expected.isEmpty && expected == actual, "\(name) differs from one process's")
        }
        // …from the records as they were merged: no evaluation stage reads results.jsonl back.
        await bus.shutdown()
        let stages = recorder.events(of: JobStageEvent.self).map(\.stage)
        #expect(stages == ["run", "run"], "\(stages)")
    }

    /// A report's text with what is measured or dated per run blanked: latencies, durations and
    /// the generation time.
    static func report(_ url: URL) throws -> String {
        var text = try String(contentsOf: url, encoding: .utf8)
        let patterns = [
            #"time="[0-9.]+""#, #"\d{4}-\d{2}-\d{2}T[0-9:.]+Z"#, #""(latencyMs|latencySeconds|meanMs|p50Ms|p90Ms|p99Ms|maxMs|durationSeconds)" : [0-9.e+-]+"#,
            #"[0-9.]+ ?ms\b"#,
        ]
        for pattern in patterns { text = text.replacingOccurrences(of: pattern, with: "#", options: .regularExpression) }
        if url.pathExtension == "csv" {
            // The latency column.
            text = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                var fields = line.split(separator: ",", omittingEmptySubsequences: false)
                if fields.count > 13 { fields[13] = "#" }
                return fields.joined(separator: ",")
            }.joined(separator: "\n")
        }
        return text
    }
}
