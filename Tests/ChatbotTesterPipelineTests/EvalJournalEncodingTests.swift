import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@testable import ChatbotTesterPipeline

/// `test` journals each record's evaluations as bytes (`EvalJournalEntry.encoded`); `JSONEncoder`
/// is the reference: the same bytes, and what the byte path cannot vouch for goes to the encoder.
@Suite struct EvalJournalEncodingTests {
    @Test func entriesAreWrittenAsTheEncoderWritesThem() throws {
        let encoder = JSONCoding.encoder()
        var entries = EvalJournalDecodingTests.entries
        entries.append(EvalJournalEntry(sampleId: "\u{0}\t/", status: .error, startedAt: Date(timeIntervalSince1970: 0.5), latencyMs: -0.0, evals: []))
        for entry in entries {
            var bytes: [UInt8] = []
            #expect(entry.appendJSON(to: &bytes))
            let reference = try encoder.encode(entry)
            #expect(Data(bytes) == reference, "\(String(decoding: bytes, as: UTF8.self)) != \(String(decoding: reference, as: UTF8.self))")
            #expect(try entry.encoded(with: encoder) == reference)
            // Its journal line, written in one buffer, is the line of the encoder's bytes.
            #expect(try entry.journalLine(index: 417, encoder: encoder) == JournalLine.line(index: 417, json: reference))
            let line = try entry.journalLine(index: 417, encoder: encoder)
            #expect(JournalLine.recordBytes(of: line, index: 417) == [UInt8](reference))
            #expect(JournalLine.recordBytes(of: line, index: 41) == nil || JournalLine.recordBytes(of: line, index: 41) != [UInt8](reference))
        }
    }

    @Test func whatTheBytePathCannotVouchForGoesToTheEncoder() throws {
        let encoder = JSONCoding.encoder()
        let odd = [
            EvalJournalEntry(sampleId: "s", status: .ok, startedAt: nil, latencyMs: .infinity, evals: []),
            EvalJournalEntry(sampleId: "s", status: .ok, startedAt: Date(timeIntervalSince1970: -10), latencyMs: 1, evals: []),
            EvalJournalEntry(
                sampleId: "s", status: .ok, startedAt: nil, latencyMs: 1, evals: [EvalRecord(sampleId: "s", metric: "m", type: "t", details: ["é": 1])]),
        ]
        for entry in odd {
            var bytes: [UInt8] = []
            #expect(!entry.appendJSON(to: &bytes))
            if entry.latencyMs.isFinite {
                #expect(try entry.encoded(with: encoder) == (try encoder.encode(entry)))
                #expect(try entry.journalLine(index: 3, encoder: encoder) == JournalLine.line(index: 3, json: try encoder.encode(entry)))
            }
        }
    }
}
