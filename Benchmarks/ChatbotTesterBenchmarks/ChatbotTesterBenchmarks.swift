import Benchmark
import ChatbotTester
import ChatbotTesterTesting
import Foundation

/// The hot paths of chatbot-tester, measured with ordo-one/benchmark (see docs/performance.md).
///
/// Allocation counts (`mallocCountTotal`) are the stable signal on virtual machines without
/// hardware counters; wall-clock medians come second. Allocation thresholds live in
/// `Benchmarks/Thresholds/` (`Benchmarks/allocations.py record|check`). `BENCHMARK_SHORT=1` runs every benchmark a
/// few times on small inputs (CI: the suite compiles and runs, so it cannot rot).
let benchmarks: @Sendable () -> Void = {
    let short = ProcessInfo.processInfo.environment["BENCHMARK_SHORT"] != nil
    Benchmark.defaultConfiguration = .init(
        // Short mode (CI) checks allocation counts only; the resident-memory metric samples the
        // process from a thread of the harness, whose allocations were counted with the measured
        // code's, more of them the longer a benchmark ran (+30 per benchmark on a loaded machine).
        metrics: short ? [.wallClock, .cpuTotal, .mallocCountTotal] : [.wallClock, .cpuTotal, .mallocCountTotal, .throughput, .peakMemoryResident],
        timeUnits: .microseconds,
        warmupIterations: short ? 0 : 1,
        scalingFactor: .one,
        maxDuration: short ? .milliseconds(200) : .seconds(3),
        maxIterations: short ? 2 : 50,
        thresholds: [
            .mallocCountTotal: .init(relative: [.p50: 5.0], absolute: [.p50: 2_000]),
            .wallClock: .init(relative: [.p50: 35.0]),
        ]
    )
    let fixtures = Fixtures(short: short)

    // MARK: JSONL read and write

    Benchmark("JSONL/lines of \(fixtures.datasetLines) cases") { benchmark in
        for _ in benchmark.scaledIterations {
            var count = 0
            for try await _ in JSONL.lines(of: fixtures.dataset) { count += 1 }
            blackHole(count)
        }
    }
    Benchmark("JSONL/read TestSample x\(fixtures.datasetLines)") { benchmark in
        for _ in benchmark.scaledIterations {
            var count = 0
            for try await entry in JSONL.read(TestSample.self, from: fixtures.dataset) where (try? entry.result.get()) != nil { count += 1 }
            blackHole(count)
        }
    }
    Benchmark("Validate/dataset of \(fixtures.datasetLines) cases") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try await FileValidation.validate(TestSample.self, at: fixtures.dataset)) }
    }
    Benchmark("JSONL/write RunRecord x\(fixtures.records.count)") { benchmark in
        let url = fixtures.scratch("write.jsonl")
        for _ in benchmark.scaledIterations {
            let writer = try JSONLWriter(url: url)
            for record in fixtures.records { try writer.write(record) }
            try writer.close()
        }
    }

    // MARK: Strict decode and encode of every record type

    let decoder = JSONCoding.decoder()
    let encoder = JSONCoding.encoder()
    Benchmark("Schema/decode TestSample") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(JSONL.decode(TestSample.self, from: fixtures.sampleBytes, source: nil, line: 1, decoder: decoder)) }
    }
    Benchmark("Schema/decode RunRecord") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(JSONL.decode(RunRecord.self, from: fixtures.recordBytes, source: nil, line: 1, decoder: decoder)) }
    }
    Benchmark("Schema/decode EvalRecord") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(JSONL.decode(EvalRecord.self, from: fixtures.evalBytes, source: nil, line: 1, decoder: decoder)) }
    }
    Benchmark("Schema/encode TestSample") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try encoder.encode(fixtures.records[0].sample)) }
    }
    Benchmark("Schema/encode RunRecord") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try encoder.encode(fixtures.records[0])) }
    }
    Benchmark("Schema/encode EvalRecord") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try encoder.encode(fixtures.evals[0])) }
    }
    Benchmark("Schema/encode EvalRecord, byte writer") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(FastRecordEncoding.line(fixtures.evals[0])) }
    }
    Benchmark("Schema/byte parser RunRecord") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try JSONByteParser.parse(fixtures.recordBytes)) }
    }

    // MARK: Runner against an in-process backend

    Benchmark("Runner/\(fixtures.runCount) samples, c32, in-process echo backend", configuration: .init(scalingFactor: .one)) { benchmark in
        let backend = MockChatBackend()
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 32))
        for _ in benchmark.scaledIterations {
            blackHole(try await runner.runAll(SyntheticSamples(count: fixtures.runCount)))
        }
    }

    // MARK: One HTTP round trip through the full middleware stack

    Benchmark("HTTP/round trip, openai backend + middleware, mock server") { benchmark in
        try await withMockLLMServer { server in
            let job = try await fixtures.httpJob(baseURL: server.openAIBaseURL)
            let bot = try await job.backends.chat("bot")
            let request = ChatRequest(messages: [Message(role: .user, content: "MOCK_REPLY: refunds take 30 days")])
            _ = try await bot.send(request)  // the connection is open before measuring
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try await bot.send(request)) }
            benchmark.stopMeasurement()
            await job.events.shutdown()
        }
    }

    // A streamed reply of 200 content chunks (`stream: true`): the SSE scan, one JSON parse per
    // chunk and the reply's assembly, against one unstreamed round trip above. The mock sends the
    // events in one write (`MOCK_STREAM: one-write`): flushed one by one, the client's reads (and
    // with them its allocations) follow the timing — 10,391 to 11,399 over 150 requests, against
    // 10,495 to 10,623 in one write.
    Benchmark("HTTP/streamed round trip, 200 chunks in one write, openai backend + middleware, mock server") { benchmark in
        try await withMockLLMServer { server in
            let job = try await fixtures.httpJob(baseURL: server.openAIBaseURL, stream: true)
            let bot = try await job.backends.chat("bot")
            let words = (0..<200).map { "tok\($0)" }.joined(separator: " ")
            let request = ChatRequest(messages: [Message(role: .user, content: "MOCK_STREAM: one-write\nMOCK_REPLY: \(words)")])
            let first = try await bot.send(request)  // the connection is open before measuring
            precondition(first.content == words && first.streaming != nil, "the mock server did not stream the reply")
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try await bot.send(request)) }
            benchmark.stopMeasurement()
            await job.events.shutdown()
        }
    }

    // MARK: Each deterministic metric

    for (name, spec) in Fixtures.deterministicMetrics {
        Benchmark("Metric/\(name)") { benchmark in
            let evaluator = try await Evaluator(specs: [spec])
            let metric = evaluator.metrics[0]
            let record = fixtures.records[1]
            for _ in benchmark.scaledIterations { blackHole(try await metric.evaluate(record)) }
        }
    }

    for (name, spec) in Fixtures.deterministicMetrics {
        Benchmark("Metric/\(name), inline x1000") { benchmark in
            let evaluator = try await Evaluator(specs: [spec])
            let record = fixtures.records[1]
            for _ in benchmark.scaledIterations {
                for _ in 0..<1000 { blackHole(evaluator.evaluateNow(record)) }
            }
        }
    }

    // MARK: The evaluator over many records, and report writing

    Benchmark("Evaluator/evaluate a file of \(fixtures.resultLines) records, 6 deterministic metrics, every report") { benchmark in
        let evaluator = try await Evaluator(specs: Fixtures.deterministicMetrics.map(\.1))
        let directory = fixtures.scratch("evaluate-out", directory: true)
        for _ in benchmark.scaledIterations {
            blackHole(try await evaluator.evaluateFile(results: fixtures.results, outputDirectory: directory))
        }
    }

    Benchmark("Evaluator/\(fixtures.evaluateCount) records, 6 deterministic metrics") { benchmark in
        let evaluator = try await Evaluator(specs: Fixtures.deterministicMetrics.map(\.1))
        let records = fixtures.records
        let count = fixtures.evaluateCount
        for _ in benchmark.scaledIterations {
            let input = RecordSequence(records: records, count: count)
            blackHole(try await evaluator.evaluate(input))
        }
    }
    Benchmark("Reports/write every report for \(fixtures.records.count) samples") { benchmark in
        let directory = fixtures.scratch("reports", directory: true)
        let samples = zip(fixtures.records, fixtures.evals).map { SampleEvaluation(run: $0, evals: [$1]) }
        for _ in benchmark.scaledIterations {
            let output = try await EvaluationOutput(directory: directory, descriptors: [MetricCommon(name: "contains", type: "contains", threshold: nil)])
            for sample in samples { try output.add(sample) }
            blackHole(try output.finish())
        }
    }

    // MARK: The cluster codec and journal

    Benchmark("Cluster/encode and scan a record frame") { benchmark in
        let record = ClusterRecord(sampleId: fixtures.records[0].sampleId, index: 7, run: fixtures.records[0], evals: [fixtures.evals[0]])
        for _ in benchmark.scaledIterations {
            let envelope = try ClusterRecordEnvelope(encoding: record)
            blackHole(ClusterFrameDecoder.frame(envelope.bytes))
        }
    }
    Benchmark("Cluster/frame decoder, \(fixtures.records.count) frames") { benchmark in
        var stream = Data()
        for record in fixtures.records { ClusterFrameDecoder.appendFrame(try encoder.encode(record), to: &stream) }
        for _ in benchmark.scaledIterations {
            var decoder = ClusterFrameDecoder()
            blackHole(try decoder.feed(stream).count)
        }
    }
    Benchmark("Journal/append \(fixtures.records.count) lines + sync") { benchmark in
        let lines = try fixtures.records.enumerated().map { try JournalLine.encode($1, index: $0, encoder: encoder) }
        let url = fixtures.scratch("journal.jsonl")
        for _ in benchmark.scaledIterations {
            try? FileManager.default.removeItem(at: url)
            let journal = try FileJournal(url: url)
            for line in lines { try journal.appendNow(line) }
            try journal.closeNow()
        }
    }
    Benchmark("Journal/results.jsonl from a journal of \(fixtures.records.count)") { benchmark in
        let directory = fixtures.scratch("results", directory: true)
        let store = FileArtifactStore(root: directory)
        let journal = RunJournal(store: store)
        try await journal.open(resume: false)
        for (index, record) in fixtures.records.enumerated().reversed() { try await journal.append(record, index: index) }
        try await journal.close()
        for _ in benchmark.scaledIterations { blackHole(try await ResultsWriter.write(store: store)) }
    }
}

/// `count` records cycled from `records`, as the evaluator's input stream.
struct RecordSequence: AsyncSequence, Sendable {
    typealias Element = RunRecord
    let records: [RunRecord]
    let count: Int

    func makeAsyncIterator() -> Iterator { Iterator(records: records, count: count) }

    struct Iterator: AsyncIteratorProtocol {
        let records: [RunRecord]
        let count: Int
        var next = 0

        mutating func next() async -> RunRecord? {
            guard next < count else { return nil }
            defer { next += 1 }
            return records[next % records.count]
        }
    }
}

/// Inputs made once per process: a dataset file, played records and their evaluations.
final class Fixtures: Sendable {
    let directory: URL
    let dataset: URL
    let datasetLines: Int
    /// A `results.jsonl` of `resultLines` records (the played records, cycled).
    let results: URL
    let resultLines: Int
    let runCount: Int
    let evaluateCount: Int
    let records: [RunRecord]
    let evals: [EvalRecord]
    let sampleBytes: Data
    let recordBytes: Data
    let evalBytes: Data

    /// Six deterministic metrics (the issue's `evaluate` goal uses all six).
    static let deterministicMetrics: [(String, ComponentSpec)] = [
        ("contains", ComponentSpec(type: "contains", options: ["value": "30 days"])),
        ("equals", ComponentSpec(type: "equals", options: ["value": "Refunds take 30 days."])),
        ("regex", ComponentSpec(type: "regex", options: ["pattern": "[0-9]+ days"])),
        ("starts-with", ComponentSpec(type: "starts-with", options: ["value": "Refunds"])),
        ("length", ComponentSpec(type: "length", options: ["max": 400])),
        ("latency", ComponentSpec(type: "latency", options: ["max": 2000])),
    ]

    init(short: Bool) {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ct-bench-\(getpid())")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        datasetLines = short ? 1_000 : 100_000
        runCount = short ? 500 : 20_000
        evaluateCount = short ? 1_000 : 100_000
        dataset = directory.appendingPathComponent("cases.jsonl")
        var text = ""
        for n in 0..<datasetLines {
            text += #"{"id":"case-\#(n)","input":"MOCK_REPLY: Refunds take 30 days (\#(n)).","tags":["t\#(n % 4)"],"expected":"30 days"}"# + "\n"
        }
        try! text.write(to: dataset, atomically: true, encoding: .utf8)
        let count = short ? 100 : 2_000
        let started = Date(timeIntervalSince1970: 1_790_000_000)
        records = (0..<count).map { n in
            let sample = TestSample(id: "case-\(n)", input: "Refunds take 30 days (\(n)).")
            return RunRecord(
                sample: sample, target: "bot",
                transcript: [Message(role: .user, content: sample.input ?? ""), Message(role: .assistant, content: "Refunds take 30 days (\(n)).")],
                turns: [TurnRecord(index: 0, latencyMs: 12.5, usage: Usage(promptTokens: 12, completionTokens: 8))],
                usage: Usage(promptTokens: 12, completionTokens: 8), latencyMs: 12.5, attempts: 1, stopReason: "stop",
                startedAt: started, finishedAt: started)
        }
        evals = records.map {
            EvalRecord(sampleId: $0.sampleId, metric: "contains", type: "contains", status: .scored, score: 1, passed: true, threshold: nil)
        }
        let encoder = JSONCoding.encoder()
        resultLines = short ? 500 : 20_000
        results = directory.appendingPathComponent("results.jsonl")
        var lines = Data()
        for n in 0..<resultLines { lines.append(try! JSONL.encodeLine(records[n % records.count], encoder: encoder)) }
        try! lines.write(to: results)
        sampleBytes = try! encoder.encode(records[0].sample)
        recordBytes = try! encoder.encode(records[0])
        evalBytes = try! encoder.encode(evals[0])
    }

    /// A path in the scratch directory.
    func scratch(_ name: String, directory isDirectory: Bool = false) -> URL {
        let url = directory.appendingPathComponent(name)
        if isDirectory { try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        return url
    }

    /// A job whose `bot` is the openai backend at `baseURL` with the default middleware (retry,
    /// timeout, breaker, accounting), built as `test` builds it.
    func httpJob(baseURL: String, stream: Bool = false) async throws -> TestJob {
        let config = scratch(stream ? "http-stream-job.yaml" : "http-job.yaml")
        try """
        backends:
          bot: {type: openai, baseURL: "\(baseURL)", model: m, stream: \(stream)}
        dataset: cases.jsonl
        evaluate:
          metrics: [{type: contains, value: "30 days"}]
        """.write(to: config, atomically: true, encoding: .utf8)
        return try await TestJob.prepare(
            config: JobConfig.load(contentsOf: config), components: .builtin(),
            settings: JobSettings(outputDirectory: scratch(stream ? "http-stream-out" : "http-out", directory: true).path))
    }
}
