import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// One semantics, feature by feature: every example job (`examples/*.yaml` — scripted and
/// simulated conversations with transcript judges, generation then a run, the `http` and `exec`
/// backends with sessions, an agent with tools, RAG metrics, CI gates with a baseline, a budget and
/// a failure policy, an OpenAI-compatible server with a judge on it) runs through the CLI in one
/// process and with `--workers 2`, and both must exit the same way and write the same results,
/// verdicts, gates, statistics and row reports (times and latencies aside). The mock-server
/// examples run against a `MockLLMServer` started here. docs/cluster.md's parity table has the row.
@Suite(.serialized) struct ExamplesParityTests {
    typealias Mode = ParityTests.Mode

    /// One example run: its config, the environment its `${…}` variables expand from, and the exit
    /// status its comments promise.
    struct Example: Sendable, CustomTestStringConvertible {
        var config: String
        var environment: [String: String] = [:]
        var status: Int32 = 0
        /// A stop rule trips on the first records: each mode keeps at least one and at most this
        /// many (`run.concurrency`: what one process has in flight when the first record trips it),
        /// and how many depends on timing — a worker may join after the stop — so the two runs'
        /// records are compared id by id and their counts against this bound, not with each other.
        var stopsWithin: Int?
        /// Needs the mock server: its base URL goes into these variables (`/v1` or `/chatbot` appended).
        var openAIVariable: String?
        var chatbotVariable: String?

        var testDescription: String {
            ([config] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
        }
    }

    static let examples: [Example] = [
        Example(config: "quickstart.yaml"),
        Example(config: "multi-turn.yaml"),
        Example(config: "generate.yaml"),
        Example(config: "exec-bot.yaml"),
        Example(config: "rag.yaml"),
        Example(config: "ci-gates.yaml"),
        Example(config: "ci-gates.yaml", environment: ["MIN_PASS_RATE": "1"], status: 1),
        Example(config: "ci-gates.yaml", environment: ["BUDGET_USD": "0.0000001"], status: 3, stopsWithin: 4),
        Example(config: "agent-tools.yaml", openAIVariable: "OPENAI_BASE_URL"),
        Example(config: "openai-compatible.yaml", openAIVariable: "OPENAI_BASE_URL"),
        Example(config: "http-bot.yaml", chatbotVariable: "CHATBOT_URL"),
    ]

    /// Metrics whose verdicts time each case: their scores differ run to run, in either mode.
    static let timedMetricTypes: Set<String> = ["latency", "ttft"]

    @Test func everyExampleIsCovered() throws {
        let configs = try FileManager.default.contentsOfDirectory(atPath: CLITests.repository.appendingPathComponent("examples").path)
            .filter { $0.hasSuffix(".yaml") }
        #expect(Set(configs) == Set(Self.examples.map(\.config)))
    }

    @Test(arguments: ExamplesParityTests.examples)
    func anExampleGivesTheSameOutcomeEitherWay(_ example: Example) async throws {
        try await withMockLLMServer { server in
            var environment = [
                "EXAMPLES_DIR": CLITests.repository.appendingPathComponent("examples").path, "MODEL": "mock", "JUDGE_MODEL": "mock-judge",
                "MIN_PASS_RATE": "0.8", "BUDGET_USD": "0.50", "BASELINE": "baselines/ci-gates", "OPENAI_API_KEY": "sk-parity-test",
                "OPENAI_BASE_URL": server.openAIBaseURL, "CHATBOT_URL": server.baseURL + "/chatbot",
            ]
            environment.merge(example.environment) { _, new in new }
            var outs: [Mode: URL] = [:]
            for mode in Mode.allCases {
                let out = try CLITests.temporaryDirectory().appendingPathComponent("out")
                let result = try await CLITests.run(
                    ["test", "examples/\(example.config)", "--out", out.path, "--no-progress"] + mode.flags, environment: environment)
                #expect(result.status == example.status, "\(mode): \(result.stderr)")
                outs[mode] = out
            }
            let single = outs[.single]!, sharded = outs[.sharded]!
            let timed = Self.timedMetrics(in: single)
            if let bound = example.stopsWithin {
                return try Self.compareEarlyStops(single, sharded, bound: bound, timed: timed)
            }
            for name in ["results.jsonl", "evals.jsonl"] {
                let expected = ParityTests.lines(single.appendingPathComponent(name)).map { Self.normalized($0, timed: timed) }
                let actual = ParityTests.lines(sharded.appendingPathComponent(name)).map { Self.normalized($0, timed: timed) }
                #expect(!expected.isEmpty && expected == actual, "\(name)")
            }
            // Gates (with what they measured), metric summaries, the baseline comparison.
            let summaries = [single, sharded].map { ParityTests.json($0.appendingPathComponent("summary.json")).map { Self.untimedSummary($0, timed: timed) } }
            #expect(summaries[0] != nil && summaries[0] == summaries[1])
            let runSummaries = [single, sharded].map { ParityTests.json($0.appendingPathComponent("run-summary.json")) }
            #expect(runSummaries[0]?["stopReason"] != nil && runSummaries[0]?["stopReason"] == runSummaries[1]?["stopReason"])
            #expect(runSummaries[0]?["statistics"].map(ParityTests.stripped) == runSummaries[1]?["statistics"].map(ParityTests.stripped))
            for key in ParityTests.summaryCounts {
                #expect(runSummaries[0]?[key] == runSummaries[1]?[key], "run-summary.json \(key)")
            }
            if timed.isEmpty {
                for name in ["results.csv", "junit.xml"] {
                    let rows = ParityTests.untimed(single.appendingPathComponent(name))
                    #expect(rows != nil && rows == ParityTests.untimed(sharded.appendingPathComponent(name)), "\(name)")
                }
            }
        }
    }

    /// The run options that shape what the bot is sent (`systemPrompt`, `temperature`, `maxTokens`,
    /// `timeoutSeconds`, `retries`) and scripted multi-turn cases, against an `openai` backend with a
    /// key and headers: the bot receives the same bytes, request by request, in one process and
    /// through workers (recorded by a loopback server of the test's own), and the records agree.
    @Test func runOptionsReachTheBotAsTheSameBytesEitherWay() async throws {
        let reply = #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok, noted"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#
        let server = try LoopbackHTTPRecorder { _ in .json(reply) }
        defer { server.close() }
        let cases =
            (0..<4).map { #"{"id":"single-\#($0)","input":"question \#($0) with \"quotes\" and ünïcode"}"# }
            + (0..<3).map { #"{"id":"turns-\#($0)","turns":["hello \#($0)","and a follow-up","one more"]}"# }
        let directory = try ParityTests.job(
            """
            backends:
              bot:
                type: openai
                baseURL: "http://127.0.0.1:\(server.port)/v1"
                model: parity-model
                apiKey: {env: PARITY_BOT_KEY}
                headers: {X-Team: qa, X-Trace: "${PARITY_TRACE:-from-config}"}
            dataset: cases.jsonl
            run: {concurrency: 3, systemPrompt: "You are terse.", temperature: 0.25, maxTokens: 77, timeoutSeconds: 9, retries: 2}
            evaluate: {metrics: [{type: contains, value: noted}]}
            """, cases: cases.joined(separator: "\n") + "\n")
        var requests: [Mode: [Data]] = [:]
        var outs: [Mode: URL] = [:]
        for mode in Mode.allCases {
            let before = server.requests.count
            let out = directory.appendingPathComponent("out-\(mode)")
            let result = try await CLITests.run(
                ["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags,
                environment: ["PARITY_BOT_KEY": "sk-parity-key"])
            #expect(result.status == 0, "\(mode): \(result.stderr)")
            requests[mode] = server.requests[before...].map(\.raw).sorted { $0.lexicographicallyPrecedes($1) }
            outs[mode] = out
        }
        // Four single turns and three conversations of three turns: 13 requests each way.
        #expect(requests[.single]?.count == 13)
        #expect(requests[.single] == requests[.sharded])
        let sample = try #require(requests[.single]?.first.map { String(decoding: $0, as: UTF8.self) })
        for expected in ["\"temperature\":0.25", "77", "You are terse.", "X-Team: qa", "X-Trace: from-config", "Bearer sk-parity-key"] {
            #expect(sample.contains(expected), "the request lacks \(expected): \(sample)")
        }
        for name in ["results.jsonl", "evals.jsonl"] {
            #expect(
                ParityTests.lines(outs[.single]!.appendingPathComponent(name)).map { Self.normalized($0, timed: []) }
                    == ParityTests.lines(outs[.sharded]!.appendingPathComponent(name)).map { Self.normalized($0, timed: []) }, "\(name)")
        }
    }

    /// Two runs a stop rule ended on their first records: the same stop reason, at least one and at
    /// most `bound` results each, and every sample both recorded with the same record and verdicts.
    static func compareEarlyStops(_ single: URL, _ sharded: URL, bound: Int, timed: Set<String>) throws {
        let runSummaries = [single, sharded].map { ParityTests.json($0.appendingPathComponent("run-summary.json")) }
        #expect(runSummaries[0]?["stopReason"] != nil && runSummaries[0]?["stopReason"] == runSummaries[1]?["stopReason"])
        func bySample(_ out: URL, _ name: String) -> [String: [JSONValue]] {
            var kept: [String: [JSONValue]] = [:]
            for line in ParityTests.lines(out.appendingPathComponent(name)) {
                let value = Self.normalized(line, timed: timed)
                kept[value["sampleId"]?.stringValue ?? "", default: []].append(value)
            }
            return kept
        }
        let results = [single, sharded].map { bySample($0, "results.jsonl") }
        for (mode, kept) in zip(Mode.allCases, results) {
            #expect((1...bound).contains(kept.count), "\(mode): \(kept.count) results")
            #expect(runSummaries[mode == .single ? 0 : 1]?["played"] == .int(kept.count), "\(mode)")
        }
        let evals = [single, sharded].map { bySample($0, "evals.jsonl") }
        for id in Set(results[0].keys).intersection(results[1].keys) {
            #expect(results[0][id] == results[1][id], "results of \(id)")
            #expect(evals[0][id] == evals[1][id], "verdicts of \(id)")
        }
    }

    /// The names of the run's metrics that time each case (from its `evals.jsonl`).
    static func timedMetrics(in out: URL) -> Set<String> {
        var names: Set<String> = []
        for line in ParityTests.lines(out.appendingPathComponent("evals.jsonl")) {
            guard let value = try? JSONValue(parsing: line), let type = value["type"]?.stringValue, timedMetricTypes.contains(type),
                let metric = value["metric"]?.stringValue
            else { continue }
            names.insert(metric)
        }
        return names
    }

    /// A record or verdict without its times; a timed metric's verdict keeps only whom it is for.
    static func normalized(_ line: String, timed: Set<String>) -> JSONValue {
        let value = Self.untimed(ParityTests.normalized(line))
        guard case .object(var object) = value, let metric = object["metric"]?.stringValue, timed.contains(metric) else { return value }
        for key in ["score", "passed", "reason", "details", "status", "value"] { object[key] = nil }
        return .object(object)
    }

    /// Members that hold times, besides those `ParityTests.stripped` drops: a streamed turn's timings
    /// and `summary.json`'s total latency.
    static let untimedKeys: Set<String> = ["latencyMs", "latencySeconds", "timeToFirstTokenMs", "tokensPerSecond"]

    /// `value` without `untimedKeys`, at any depth.
    static func untimed(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var kept: [String: JSONValue] = [:]
            for (key, item) in object where !untimedKeys.contains(key) { kept[key] = untimed(item) }
            return .object(kept)
        case .array(let items):
            return .array(items.map(untimed))
        default:
            return value
        }
    }

    /// `summary.json` without its times, and without what the timed metrics measured.
    static func untimedSummary(_ value: JSONValue, timed: Set<String>) -> JSONValue {
        func drop(_ value: JSONValue) -> JSONValue {
            switch value {
            case .object(let object):
                if let metric = object["metric"]?.stringValue, timed.contains(metric) { return .string("timed metric \(metric)") }
                var kept: [String: JSONValue] = [:]
                    for (key, item) in object where !timed.contains(key) && !untimedKeys.contains(key) { kept[key] = drop(item) }
                return .object(kept)
            case .array(let items):
                return .array(items.map(drop))
            default:
                return value
            }
        }
        return drop(ParityTests.stripped(value))
    }
}
