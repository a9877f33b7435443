import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterEvaluator

/// `evaluateFile` with deterministic metrics reads the results in chunks, scores each on its own
/// task and writes the chunks strictly in file order: the outputs must not depend on how the file
/// was cut, and rejected lines must come in line order whichever chunk finished first.
@Suite struct EvaluateChunksTests {
    static let specs = [
        ComponentSpec(type: "contains", options: ["value": "30 days"]), ComponentSpec(type: "equals"),
        ComponentSpec(type: "regex", options: ["pattern": "[Rr]efunds? take [0-9]+ days"]), ComponentSpec(type: "starts-with", options: ["value": "Refunds"]),
        ComponentSpec(type: "length", options: ["max": 30]), ComponentSpec(type: "latency", options: ["max": 150]),
        ComponentSpec(type: "icontains", options: ["values": ["REFUNDS", "café"], "tags": ["t1"]]),
    ]
    static let replies = ["Refunds take 30 days.", "refunds TAKE 30 DAYS", "café", "", "Refunds take 14 days", "x <&> \"q\", y"]

    /// Results with every kind of sample (passing, failing, errored, no reply, two tags) and a few broken lines.
    static func results(in directory: URL, count: Int) throws -> URL {
        var lines: [String] = []
        let encoder = JSONCoding.encoder()
        for index in 0..<count {
            let reply = replies[index % replies.count]
            let run = Fixtures.run(
                "s\(index)", reply: index % 97 == 0 ? nil : reply, expected: index % 3 == 0 ? reply : "Refunds take 14 days.",
                tags: index % 2 == 0 ? ["t1"] : ["t2", "t\"<&>"], latencyMs: Double(index % 300) + 0.125 * Double(index % 7),
                costUSD: index % 5 == 0 ? 0.0001 * Double(index % 13) : nil, status: index % 101 == 0 ? .error : .ok)
            lines.append(String(decoding: try encoder.encode(run), as: UTF8.self))
            if index % 400 == 7 { lines.append(#"{"sampleId": "broken"#) }
            if index % 250 == 3 { lines.append("  ") }
        }
        let url = directory.appendingPathComponent("results.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        return url
    }

    /// A file's bytes, with `report.html`'s generation time taken out.
    static func contents(_ url: URL) throws -> String {
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        return text.replacingOccurrences(of: #"Generated [0-9T:Z-]+ by"#, with: "Generated - by", options: .regularExpression)
    }

    @Test(.cpuBound) func manyChunksWriteWhatOneChunkWrites() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let results = try Self.results(in: directory, count: 2_500)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: results.path)[.size] as? Int)
        let evaluator = try await Evaluator(specs: Self.specs)
        #expect(evaluator.isSynchronous)
        // A small HTML cap: which samples the reports keep is decided across many chunks.
        for cap in [7, 1000] {
            let options = ReportOptions(title: "chunks", htmlSampleCap: cap)
            let whole = try await evaluator.evaluateFile(
                results: results, outputDirectory: directory.appendingPathComponent("one-\(cap)"), options: options, baselineEvals: nil,
                chunkBytes: size + 1)
            #expect(whole.rejected.count == 7)
            #expect(whole.summary.aggregate.runs.samples == 2_500)
            for chunk in [300, 4_096, 65_536] {
                let name = "chunks-\(cap)-\(chunk)"
                let cut = try await evaluator.evaluateFile(
                    results: results, outputDirectory: directory.appendingPathComponent(name), options: options, baselineEvals: nil,
                    chunkBytes: chunk)
                #expect(cut.rejected.map(\.description) == whole.rejected.map(\.description))
                #expect(cut.summary.aggregate == whole.summary.aggregate)
                for file in ["evals.jsonl", "results.csv", "junit.xml", "summary.json", "report.md", "report.html"] {
                    let left = try Self.contents(directory.appendingPathComponent("one-\(cap)/\(file)"))
                    let right = try Self.contents(directory.appendingPathComponent("\(name)/\(file)"))
                    #expect(left == right, "\(file) differs with chunks of \(chunk) bytes, HTML cap \(cap)")
                }
            }
        }
    }

    /// A baseline comparison reads every evaluation of every chunk.
    @Test func manyChunksCompareWithABaselineAsOneChunkDoes() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let results = try Self.results(in: directory, count: 600)
        let evaluator = try await Evaluator(specs: Self.specs)
        let baseline = try await evaluator.evaluateFile(results: results, outputDirectory: directory.appendingPathComponent("base"))
        let options = ReportOptions(title: "chunks", htmlSampleCap: 5)
        let one = try await evaluator.evaluateFile(
            results: results, outputDirectory: directory.appendingPathComponent("one/run"), options: options, baselineEvals: baseline.evals,
            chunkBytes: 1 << 24)
        let many = try await evaluator.evaluateFile(
            results: results, outputDirectory: directory.appendingPathComponent("many/run"), options: options, baselineEvals: baseline.evals,
            chunkBytes: 500)
        #expect(one.comparison != nil)
        #expect(one.comparison == many.comparison)
        for file in ["report.md", "report.html", "summary.json"] {
            #expect(try Self.contents(directory.appendingPathComponent("one/run/\(file)")) == Self.contents(directory.appendingPathComponent("many/run/\(file)")))
        }
    }

    /// The first chunk holds a long record (slow to decode and score) and then a broken line; a
    /// later, quick chunk holds another broken line. The first broken line is reported first, and
    /// every event comes in line order.
    @Test func rejectedLinesComeInLineOrderWhicheverChunkFinishesFirst() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let encoder = JSONCoding.encoder()
        var lines: [String] = []
        lines.append(String(decoding: try encoder.encode(Fixtures.run("long", reply: String(repeating: "Refunds take 30 days. ", count: 40_000))), as: UTF8.self))
        lines.append(#"{"sampleId": "first broken"#)
        for index in 0..<200 { lines.append(String(decoding: try encoder.encode(Fixtures.run("s\(index)", reply: "ok")), as: UTF8.self)) }
        lines.append("not json at all")
        for index in 200..<260 { lines.append(String(decoding: try encoder.encode(Fixtures.run("s\(index)", reply: "ok")), as: UTF8.self)) }
        let results = directory.appendingPathComponent("results.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: results)

        for chunk in [1_024, 4_096] {
            let bus = EventBus()
            let sink = RecordingEventSink()
            bus.subscribe(sink)
            let evaluator = try await Evaluator(specs: Self.specs, events: bus)
            let outcome = try await evaluator.evaluateFile(
                results: results, outputDirectory: directory.appendingPathComponent("out-\(chunk)"), options: ReportOptions(),
                baselineEvals: nil, chunkBytes: chunk)
            await bus.shutdown()
            #expect(outcome.rejected.map { $0.location?.line } == [2, 203])
            #expect(outcome.rejected.first?.location?.source == results.path)
            #expect(sink.events(of: EvalInputRejected.self).map(\.line) == [2, 203])
            let completed = sink.events(of: EvalSampleCompleted.self).map(\.sampleId)
            #expect(completed == ["long"] + (0..<260).map { "s\($0)" })
            // Progress and rejections interleave in line order too.
            let order = sink.kinds.filter { $0 == EvalSampleCompleted.kind || $0 == EvalInputRejected.kind }
            #expect(order[1] == EvalInputRejected.kind)
            #expect(order[202] == EvalInputRejected.kind)
            #expect(outcome.summary.aggregate.runs.samples == 261)
        }
    }
}
