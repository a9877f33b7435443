import ChatbotTester
import ChatbotTesterCluster
import Foundation
import Testing

@testable import ChatbotTesterClusterPipeline

/// The merge pass reads only a few members of a run whose sample no report keeps whole
/// (`ReportRunReader`): the reports it feeds must be those of the fully decoded run, byte for byte.
@Suite struct ReportRunReaderTests {
    /// Runs of every shape the reports distinguish: ok and failed, priced and not, tags, an error
    /// with an HTTP status and characters CSV and XML escape, a simulated conversation.
    static var samples: [SampleEvaluation] {
        let turn = TurnRecord(index: 0, latencyMs: 12.345, usage: Usage(promptTokens: 7, completionTokens: 5), costUSD: 0.0001)
        let runs = [
            RunRecord(
                sample: TestSample(id: "ok-1", input: "hi", tags: ["a", "b"]), target: "bot", transcript: [.user("hi"), .assistant("30 days")],
                turns: [turn], usage: Usage(promptTokens: 7, completionTokens: 5), costUSD: 0.0123, latencyMs: 12.345, attempts: 1,
                stopReason: "completed", startedAt: Date(timeIntervalSince1970: 1_000), finishedAt: Date(timeIntervalSince1970: 1_001)),
            RunRecord(
                sample: TestSample(id: "err,\"2\"", input: "<x>", tags: ["refunds"]), target: "bot", status: .error, latencyMs: 1500.25,
                attempts: 3, error: ErrorInfo(code: "target_down", message: "boom, \"quoted\"\n<tag> & more", status: 503)),
            RunRecord(
                sample: TestSample(id: "sim-3", scenario: Scenario(persona: "p", goal: "g")), target: "bot",
                transcript: [.user("a"), .assistant("b")], usage: Usage(promptTokens: 1, completionTokens: 2), latencyMs: 0.5),
        ]
        return runs.enumerated().map { position, run in
            let evals = [
                EvalRecord(
                    sampleId: run.sampleId, metric: "contains", type: "contains", score: position == 0 ? 1 : 0, passed: position == 0,
                    threshold: 1, reason: "found, or <not>", tags: run.sample.tags),
                EvalRecord(sampleId: run.sampleId, metric: "judge", type: "llm-judge", status: .unmeasured, reason: "no reply", tags: run.sample.tags),
            ]
            return SampleEvaluation(run: run, evals: evals)
        }
    }

    @Test func readsWhatTheReportsUse() throws {
        let encoder = JSONCoding.encoder()
        for sample in Self.samples {
            let full = try #require(sample.run)
            let light = try #require(ReportRunReader.read(encoder.encode(full)))
            #expect(light.sampleId == full.sampleId && light.target == full.target && light.status == full.status)
            #expect(light.latencyMs == full.latencyMs && light.costUSD == full.costUSD && light.usage == full.usage && light.error == full.error)
            #expect(light.sample.tags == full.sample.tags)
        }
    }

    /// `results.csv`, `junit.xml` and the aggregate from the light runs equal those from the full ones.
    @Test func lightRunsWriteTheSameReports() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let encoder = JSONCoding.encoder()
        let options = ReportOptions(formats: [.csv, .junit], htmlSampleCap: 0)
        var aggregates: [EvalAggregate] = []
        for (name, light) in [("full", false), ("light", true)] {
            let output = try await EvaluationOutput(
                directory: directory.appendingPathComponent(name), descriptors: [], options: options, writesEvals: false)
            for sample in Self.samples {
                var run = sample.run
                if light {
                    let read: RunRecord = try #require(ReportRunReader.read(encoder.encode(sample.run)))
                    run = read
                }
                let fed = SampleEvaluation(run: run, evals: sample.evals)
                try output.add(fed, prepared: EvaluationOutput.prepare(fed, for: output.preparing))
            }
            aggregates.append(output.aggregate)
            _ = try output.finish()
        }
        #expect(aggregates[0] == aggregates[1])
        for file in ["results.csv", "junit.xml"] {
            let full = try Data(contentsOf: directory.appendingPathComponent("full/\(file)"))
            let light = try Data(contentsOf: directory.appendingPathComponent("light/\(file)"))
            #expect(!full.isEmpty && full == light, "\(file) differs")
        }
    }

    /// Anything the reader does not expect sends the line to the full decoder (nil), never a
    /// guess: a newer schema, an unknown member, a member of another type.
    @Test func refusesWhatItDoesNotKnow() throws {
        let line = try String(decoding: JSONCoding.encoder().encode(#require(Self.samples[0].run)), as: UTF8.self)
        for edited in [
            line.replacingOccurrences(of: #""schemaVersion":2"#, with: #""schemaVersion":9"#),
            line.replacingOccurrences(of: #""latencyMs":12.345,"#, with: #""latencyMs":"12","#),
            line.replacingOccurrences(of: #""status":"ok""#, with: #""status":"maybe""#),
            line.replacingOccurrences(of: #""target":"bot""#, with: #""target":"bot","extra":1"#),
            line.replacingOccurrences(of: #""promptTokens":7"#, with: #""promptTokens":7.5"#),
            String(line.dropLast()),
        ] {
            #expect(edited != line)
            #expect(ReportRunReader.read(Data(edited.utf8)) == nil, "\(edited)")
        }
        #expect(ReportRunReader.read(Data(line.utf8)) != nil)
    }
}
