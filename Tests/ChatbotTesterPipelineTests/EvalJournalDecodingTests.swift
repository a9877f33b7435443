import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@testable import ChatbotTesterPipeline

/// `test`'s final pass decodes every journaled evaluation group through the byte parser; the
/// `Codable` decoder is the reference: both must give the same entry, and anything unusual falls back.
@Suite struct EvalJournalDecodingTests {
    static let started = Date(timeIntervalSince1970: 1_795_000_000)

    static var entries: [EvalJournalEntry] {
        let judged = EvalRecord(
            sampleId: "s-2", metric: "helpful", type: "llm-judge", score: 0.75, passed: true, threshold: 0.5,
            reason: "mostly \"right\"\n\u{1F600}", votes: [0.5, 1, 0.75], spread: 0.5, straddlesThreshold: true,
            usage: Usage(promptTokens: 120, completionTokens: 7), costUSD: 0.000125, tags: ["billing", "é"],
            details: ["found": ["30 days"], "missing": [], "nested": ["n": 1, "x": 2.5, "b": true, "z": .null]])
        let unmeasured = EvalRecord(sampleId: "s-2", metric: "faithful", type: "faithfulness", status: .unmeasured, reason: "no contexts")
        let contains = EvalRecord(
            sampleId: "s-1", metric: "contains", type: "contains", score: 1, passed: true, threshold: 1, reason: "found '30 days'",
            details: ["found": ["30 days"], "missing": []])
        return [
            EvalJournalEntry(sampleId: "s-1", status: .ok, startedAt: started, latencyMs: 36.300351, evals: [contains]),
            EvalJournalEntry(sampleId: "s-2", status: .ok, startedAt: started, latencyMs: 12, evals: [judged, unmeasured]),
            EvalJournalEntry(sampleId: "s-3", status: .error, startedAt: nil, latencyMs: 0.1 + 0.2, evals: []),
            EvalJournalEntry(sampleId: "ü \"q\"", status: .ok, startedAt: started.addingTimeInterval(86_400 * 400), latencyMs: 1e-7, evals: [contains]),
        ]
    }

    @Test func theFastPathGivesWhatTheDecoderGivesForEveryEntryJournaled() throws {
        let encoder = JSONCoding.encoder()
        let decoder = JSONCoding.decoder()
        for entry in Self.entries {
            let bytes = try encoder.encode(entry)
            let reference = try decoder.decode(EvalJournalEntry.self, from: bytes)
            let fast = try #require(EvalJournalEntry.fast(bytes), "the fast path declined \(String(decoding: bytes, as: UTF8.self))")
            #expect(fast == reference)
            #expect(try EvalJournalEntry.decode(bytes, decoder: decoder) == reference)
        }
    }

    @Test func unusualShapesFallBackToTheDecoder() throws {
        let decoder = JSONCoding.decoder()
        let lines = [
            // A member the fast path does not know (a newer journal): the decoder ignores it.
            #"{"evals":[],"latencyMs":1,"sampleId":"a","status":"ok","extra":1}"#,
            // Another date form.
            #"{"evals":[],"latencyMs":1,"sampleId":"a","startedAt":"2026-12-01T20:23:45.123Z","status":"ok"}"#,
            // An evaluation with a member the fast path does not read.
            #"{"evals":[{"metric":"m","sampleId":"a","status":"scored","type":"t","tags":[],"future":true}],"latencyMs":1,"sampleId":"a","status":"ok"}"#,
        ]
        for line in lines {
            let bytes = Data(line.utf8)
            #expect(EvalJournalEntry.fast(bytes) == nil)
            let reference = try? decoder.decode(EvalJournalEntry.self, from: bytes)
            #expect((try? EvalJournalEntry.decode(bytes, decoder: decoder)) == reference)
        }
        // Broken entries still fail, with the decoder's error.
        for line in [#"{"evals":[],"sampleId":"a","status":"ok"}"#, #"{"evals":[],"latencyMs":1,"sampleId":"a","status":"lost"}"#] {
            #expect(EvalJournalEntry.fast(Data(line.utf8)) == nil)
            #expect(throws: DecodingError.self) { try EvalJournalEntry.decode(Data(line.utf8), decoder: decoder) }
        }
    }
}
