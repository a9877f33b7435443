import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

@Suite struct AggregateTests {
    /// A deterministic generator, so the test data is the same on every run.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func dataset(_ count: Int) -> [(RunRecord, [EvalRecord])] {
        var rng = SplitMix(state: 42)
        let tags = ["billing", "support", "smalltalk"]
        return (0..<count).map { index in
            let sampleTags = [tags[index % 3]] + (index % 7 == 0 ? ["edge"] : [])
            let errored = index % 23 == 0
            let run = Fixtures.run(
                "s\(index)", reply: errored ? nil : "reply \(index)", tags: sampleTags, latencyMs: Double.random(in: 5...30_000, using: &rng),
                costUSD: Double.random(in: 0...0.01, using: &rng), status: errored ? .error : .ok)
            let judgeScore = Double(Int.random(in: 1...5, using: &rng) - 1) / 4
            let votes = [judgeScore, min(1, judgeScore + 0.25)]
            var evals = [
                EvalRecord(sampleId: run.sampleId, metric: "contains", type: "contains", score: index % 4 == 0 ? 0 : 1, passed: index % 4 != 0, threshold: 1, tags: sampleTags),
                EvalRecord(
                    sampleId: run.sampleId, metric: "judge", type: "llm-judge", score: judgeScore, passed: judgeScore >= 0.7, threshold: 0.7,
                    votes: votes, spread: 0.25, straddlesThreshold: votes.contains { $0 >= 0.7 } && votes.contains { $0 < 0.7 },
                    usage: Usage(promptTokens: 120, completionTokens: 9), costUSD: Double.random(in: 0...0.002, using: &rng), tags: sampleTags),
                EvalRecord(sampleId: run.sampleId, metric: "rouge", type: "rouge-l", score: Double.random(in: 0...1, using: &rng), tags: sampleTags),
            ]
            if index % 9 == 0 {
                evals[1] = EvalRecord(sampleId: run.sampleId, metric: "judge", type: "llm-judge", status: .unmeasured, threshold: 0.7, reason: "unreadable", tags: sampleTags)
            }
            return (run, evals)
        }
    }

    static func aggregate<S: Sequence>(_ items: S) -> EvalAggregate where S.Element == (RunRecord, [EvalRecord]) {
        var aggregate = EvalAggregate()
        for (run, evals) in items { aggregate.add(run, evals: evals) }
        return aggregate
    }

    @Test(arguments: [1, 2, 3, 7])
    func shardsMergeToExactlyTheWhole(shards: Int) throws {
        let data = Self.dataset(500)
        let whole = Self.aggregate(data)
        // Round-robin shards, merged in reverse order, through JSON (as a coordinator would receive them).
        var parts: [EvalAggregate] = []
        for shard in 0..<shards {
            let part = Self.aggregate(data.enumerated().filter { $0.offset % shards == shard }.map(\.element))
            let wire = try JSONCoding.encoder().encode(part)
            parts.append(try JSONCoding.decoder().decode(EvalAggregate.self, from: wire))
        }
        var merged = EvalAggregate()
        for part in parts.reversed() { merged.merge(part) }
        #expect(merged == whole)
        #expect(merged.metrics["judge"]?.mean == whole.metrics["judge"]?.mean)
        #expect(merged.metrics["rouge"]?.p90 == whole.metrics["rouge"]?.p90)
        #expect(merged.runs.latencyMs.quantile(0.99) == whole.runs.latencyMs.quantile(0.99))
        #expect(try JSONCoding.encoder().encode(merged) == JSONCoding.encoder().encode(whole))  // byte-identical summary
    }

    @Test func contiguousSplitAlsoMerges() {
        let data = Self.dataset(301)
        let whole = Self.aggregate(data)
        let merged = Self.aggregate(data[0..<100]).merged(Self.aggregate(data[100..<250])).merged(Self.aggregate(data[250...]))
        #expect(merged == whole)
    }

    @Test func countsAndStatistics() throws {
        let data = Self.dataset(500)
        let aggregate = Self.aggregate(data)
        let judge = try #require(aggregate.metrics["judge"])
        let unmeasured = data.filter { $0.1[1].status == .unmeasured }.count
        #expect(judge.unmeasured == unmeasured)
        #expect(judge.scored == 500 - unmeasured)
        #expect(judge.passed + judge.failed == judge.scored)
        let scores = data.compactMap { $0.1[1].score }
        let mean = scores.reduce(0, +) / Double(scores.count)
        #expect(abs((judge.mean ?? 0) - mean) < 1e-9)  // no NaN from unmeasured, and exact to 1e-9
        let sorted = scores.sorted()
        #expect(judge.p50 == sorted[Int((0.5 * Double(sorted.count)).rounded(.up)) - 1])  // judge scores sit on the 0.001 grid
        #expect(aggregate.runs.samples == 500)
        #expect(aggregate.runs.errored == data.filter { $0.0.status == .error }.count)
        #expect(aggregate.byTag["billing"]?["contains"]?.total == data.filter { $0.0.sample.tags.contains("billing") }.count)
        #expect(judge.judgeUsage.promptTokens == 120 * (500 - unmeasured))
    }

    @Test func percentilesFromTheHistogram() {
        var histogram = ScoreHistogram(.linear)
        for i in 1...100 { histogram.add(Double(i) / 100) }
        #expect(histogram.quantile(0.5) == 0.5)
        #expect(histogram.quantile(0.9) == 0.9)
        #expect(histogram.quantile(0.99) == 0.99)
        var latency = ScoreHistogram(.log)
        for ms in [10.0, 100, 1000, 10_000] { latency.add(ms) }
        let p50 = latency.quantile(0.5)!
        #expect(abs(p50 - 100) / 100 < 0.025)  // log buckets: within 2.5 %
    }

    @Test func gatesDecideTheVerdict() {
        var aggregate = EvalAggregate(metrics: [
            MetricCommon(name: "contains", type: "contains", threshold: 1),  // default gate: passRate 1
            MetricCommon(name: "judge", type: "llm-judge", threshold: 0.7, gate: MetricGate(passRate: 0.5, mean: 0.6, maxUnmeasured: 0.25)),
            MetricCommon(name: "rouge", type: "rouge-l", threshold: nil),  // informational
        ])
        let run = Fixtures.run("a")
        for (i, score) in [1.0, 0.75, 0.5, 1.0].enumerated() {
            aggregate.add(EvalRecord(sampleId: "s\(i)", metric: "judge", type: "llm-judge", score: score, passed: score >= 0.7, threshold: 0.7))
            aggregate.add(EvalRecord(sampleId: "s\(i)", metric: "contains", type: "contains", score: 1, passed: true, threshold: 1))
            aggregate.add(EvalRecord(sampleId: "s\(i)", metric: "rouge", type: "rouge-l", score: 0.1))
        }
        aggregate.add(run)
        #expect(aggregate.passed)
        #expect(aggregate.gateResults.map(\.condition) == ["passRate", "passRate", "mean", "maxUnmeasured"])
        aggregate.add(EvalRecord(sampleId: "s9", metric: "judge", type: "llm-judge", status: .unmeasured, threshold: 0.7))
        aggregate.add(EvalRecord(sampleId: "s10", metric: "judge", type: "llm-judge", status: .unmeasured, threshold: 0.7))
        #expect(!aggregate.passed)  // 2 of 6 unmeasured > 25 %
        #expect(aggregate.gateResults.first { $0.condition == "maxUnmeasured" }?.passed == false)
        aggregate.add(EvalRecord(sampleId: "s11", metric: "contains", type: "contains", score: 0, passed: false, threshold: 1))
        #expect(aggregate.gateResults.first { $0.metric == "contains" }?.passed == false)
        #expect(aggregate.metrics["judge"]?.mean == 0.8125)  // unmeasured never enters the mean
    }

    @Test func summaryJSONShowsComputedFieldsAndRoundTrips() throws {
        let aggregate = Self.aggregate(Self.dataset(50))
        let data = try JSONCoding.encoder(pretty: true).encode(EvalSummary(aggregate: aggregate))
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"passRate\"", "\"p50\"", "\"p90\"", "\"p99\"", "\"mean\"", "\"unmeasured\"", "\"gates\""] {
            #expect(text.contains(key), "summary.json lacks \(key)")
        }
        let back = try JSONCoding.decoder().decode(EvalSummary.self, from: data)
        #expect(back.aggregate == aggregate)
    }
}

@Suite struct RunErrorGateTests {
    @Test func maxErrorRateGatesTheRun() async throws {
        let evaluator = try await Evaluator(specs: [ComponentSpec(type: "length", options: ["max": 100])], maxErrorRate: 0.25)
        let runs = (0..<4).map { Fixtures.run("s\($0)", status: $0 == 0 ? .error : .ok) }
        let stream = AsyncStream<RunRecord> { c in
            for run in runs { c.yield(run) }
            c.finish()
        }
        let aggregate = try await evaluator.evaluate(stream)
        #expect(aggregate.gateResults.first == GateResult(metric: "(runs)", condition: "maxErrorRate", limit: 0.25, actual: 0.25, passed: true))
        #expect(aggregate.passed)
        var worse = aggregate
        worse.add(Fixtures.run("s9", status: .error))
        #expect(!worse.passed)  // 2 of 5 errored
        // Merging keeps the limit, and so does the JSON form.
        var merged = EvalAggregate()
        merged.merge(aggregate)
        #expect(merged == aggregate)
        let config = try JSONCoding.decoder().decode(EvaluationConfig.self, from: Data(#"{"metrics": ["json-valid"], "maxErrorRate": 0.1}"#.utf8))
        #expect(config.maxErrorRate == 0.1)
        #expect(config.metrics == [ComponentSpec(type: "json-valid")])
        let fromConfig = try await Evaluator(config: config)
        #expect(fromConfig.maxErrorRate == 0.1)
        #expect(fromConfig.concurrency == 8)
        #expect(fromConfig.emptyAggregate().gateResults.first?.condition == "maxErrorRate")
        #expect(throws: (any Error).self) {
            try JSONCoding.decoder().decode(EvaluationConfig.self, from: Data(#"{"metrics": [], "maxErrors": 1}"#.utf8))
        }
    }
}
