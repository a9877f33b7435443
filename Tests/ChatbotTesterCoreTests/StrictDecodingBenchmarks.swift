import ChatbotTesterCore
import Foundation
import Testing

/// Decoding throughput of results files, and the cost of the unknown-key check in it. Prints figures;
/// asserts only counts. Run with `CT_BENCH=1 swift test --filter StrictDecodingBenchmarks`
/// (`CT_BENCH_LINES` sets the line count, default 20,000).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CT_BENCH"] == "1"))
struct StrictDecodingBenchmarks {
    static let count = Int(ProcessInfo.processInfo.environment["CT_BENCH_LINES"] ?? "") ?? 20_000

    /// A typical `results.jsonl` line: a 3-turn transcript, tags, metadata, usage, timestamps.
    static func runLines(_ count: Int) throws -> [Data] {
        try (0..<count).map { i in
            let sample = TestSample(
                id: "case-\(i)", input: "How long do refunds take for order \(i)?", expected: "Five working days.",
                criteria: "Mentions five working days.", tags: ["refunds", "smoke"], metadata: ["source": "generated", "seed": .int(i)])
            let record = RunRecord(
                sample: sample, target: "bot",
                transcript: [.system("You are a helpful support bot."), .user(sample.input!), .assistant("Refunds take five working days.")],
                turns: [TurnRecord(index: 0, latencyMs: 412.5, usage: Usage(promptTokens: 31, completionTokens: 9), costUSD: 0.00002, finishReason: "stop")],
                usage: Usage(promptTokens: 31, completionTokens: 9), costUSD: 0.00002, latencyMs: 412.5, attempts: 1,
                stopReason: "completed", startedAt: Date(timeIntervalSince1970: 1_760_000_000), finishedAt: Date(timeIntervalSince1970: 1_760_000_001))
            return try JSONL.encodeLine(record)
        }
    }

    static func evalLines(_ count: Int) throws -> [Data] {
        try (0..<count).map { i in
            try JSONL.encodeLine(
                EvalRecord(
                    sampleId: "case-\(i)", metric: "judge", type: "llm-judge", score: 0.75, passed: true, threshold: 0.5,
                    reason: "Mentions the window.", votes: [0.75, 0.75, 1], spread: 0.25, straddlesThreshold: false,
                    usage: Usage(promptTokens: 120, completionTokens: 30), costUSD: 0.0001, tags: ["refunds"], details: ["repaired": 0]))
        }
    }

    func report(_ label: String, count: Int, _ elapsed: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("[bench] \(label): \(count) in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / max(seconds, 1e-9)))/s, \(String(format: "%.2f", seconds / Double(count) * 1e6)) µs each")
    }

    /// Decodes every line as `Value`, timing it; returns how many decoded.
    func decodeAll<Value: Decodable>(_ type: Value.Type, _ lines: [Data], label: String) -> Int {
        let decoder = JSONCoding.decoder()
        var decoded = 0
        let start = ContinuousClock.now
        for line in lines {
            if (try? decoder.decode(Value.self, from: line)) != nil { decoded += 1 }
        }
        report(label, count: lines.count, ContinuousClock.now - start)
        return decoded
    }

    @Test func runRecordLines() throws {
        let lines = try Self.runLines(Self.count)
        _ = decodeAll(RunRecord.self, Array(lines.prefix(500)), label: "warm-up")
        #expect(decodeAll(RunRecord.self, lines, label: "RunRecord lines decoded") == Self.count)
        #expect(decodeAll(TopLevelCheck.self, lines, label: "RunRecord top-level unknown-key check alone") == Self.count)
        #expect(decodeAll(TopLevelKeys.self, lines, label: "RunRecord top-level keyed container + allKeys alone (the floor)") == Self.count)
        #expect(decodeAll(ParseOnly.self, lines, label: "RunRecord line parsed, nothing decoded") == Self.count)
    }

    @Test func evalRecordLines() throws {
        let lines = try Self.evalLines(Self.count)
        _ = decodeAll(EvalRecord.self, Array(lines.prefix(500)), label: "warm-up")
        #expect(decodeAll(EvalRecord.self, lines, label: "EvalRecord lines decoded") == Self.count)
    }
}

/// Runs only the unknown-key check on a `RunRecord` line's top-level object.
private struct TopLevelCheck: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion, sampleId, target, status, sample, transcript, output, turns, usage, simulatorUsage, costUSD,
            latencyMs, attempts, stopReason, error, startedAt, finishedAt
    }

    init(from decoder: any Decoder) throws { try decoder.rejectUnknownKeys(CodingKeys.self) }
}

/// What any unknown-key check has to pay: a keyed container over every key, and its keys.
private struct TopLevelKeys: Decodable {
    init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyCodingKey.self).allKeys
        if keys.isEmpty { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "empty")) }
    }
}

/// Only the JSON parse every decode starts with.
private struct ParseOnly: Decodable {
    init(from decoder: any Decoder) throws {}
}
