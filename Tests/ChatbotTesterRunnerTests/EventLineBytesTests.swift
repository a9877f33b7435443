import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

/// The per-case events write their own `events.jsonl` fields; the line must be byte for byte the
/// line `JSONEncoder` gives (`JSONLEventLogSink.referenceLine`).
@Suite struct EventLineBytesTests {
    static let strings = ["", "s1", "quote \" backslash \\ slash /", "tab\tnl\ncr\r", "\u{0}\u{1F}\u{7F}", "é 😀 \u{2028}", "kind", "\"time\":1"]
    static let numbers: [Double] = [0, -0.0, 1, 12.5, 1.0 / 3, 1e-7, 1e16, 123_456_789.123, Double.greatestFiniteMagnitude, Double.leastNonzeroMagnitude]

    static func envelopes() -> [EventEnvelope] {
        var envelopes: [EventEnvelope] = []
        let times = [0, 1, 1_764_631_259.123_4, 1_764_631_259.999_9, 4_102_444_800.5].map { Date(timeIntervalSince1970: $0) }
        for (position, text) in strings.enumerated() {
            let number = numbers[position % numbers.count]
            let time = times[position % times.count]
            let sample = TestSample(id: text.isEmpty ? "x" : text, input: text)
            var record = RunRecord(
                sample: sample, target: "bot", turns: [TurnRecord(index: 0, latencyMs: number)], costUSD: position % 2 == 0 ? number : nil,
                latencyMs: number, stopReason: position % 3 == 0 ? text : nil)
            envelopes.append(EventEnvelope(event: RunSampleStartedEvent(sampleId: text, index: position * 1_000_003 - 7), time: time))
            envelopes.append(EventEnvelope(event: RunSampleCompletedEvent(record: record), time: time))
            record.status = .error
            record.error = ErrorInfo(code: text, message: text + " failed", status: position % 2 == 0 ? 500 + position : nil)
            envelopes.append(EventEnvelope(event: RunSampleFailedEvent(record: record), time: time))
        }
        return envelopes
    }

    @Test func perCaseEventLinesMatchJSONEncoder() {
        var fast = 0
        for envelope in Self.envelopes() {
            var bytes: [UInt8] = [0x41]
            if JSONLEventLogSink.appendLine(for: envelope, to: &bytes) { fast += 1 } else { #expect(bytes == [0x41]) }
            let reference = JSONLEventLogSink.referenceLine(for: envelope)
            let line = JSONLEventLogSink.line(for: envelope)
            #expect(line == reference, "\(String(decoding: line, as: UTF8.self)) != \(String(decoding: reference, as: UTF8.self))")
        }
        #expect(fast == Self.envelopes().count)
    }

    @Test func nonFiniteNumbersGoToTheEncoder() {
        var record = RunRecord(sample: TestSample(id: "s", input: "x"), target: "bot", latencyMs: .infinity)
        record.costUSD = .nan
        let envelope = EventEnvelope(event: RunSampleCompletedEvent(record: record))
        var bytes: [UInt8] = []
        #expect(!JSONLEventLogSink.appendLine(for: envelope, to: &bytes))
        #expect(bytes.isEmpty)
        #expect(JSONLEventLogSink.line(for: envelope) == JSONLEventLogSink.referenceLine(for: envelope))
    }

    @Test func theSinkMasksSecretsInBytePathLines() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("event-bytes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = "sk-runbytes-\(UUID().uuidString)"
        let masker = SecretMasker.shared
        masker.register(secret, name: "runbytes")
        let url = directory.appendingPathComponent("events.jsonl")
        let sink = try JSONLEventLogSink(url: url)
        var record = RunRecord(sample: TestSample(id: "s", input: "x"), target: "bot", status: .error)
        record.error = ErrorInfo(code: "http", message: "bad key \(secret)")
        await sink.receive(EventEnvelope(event: RunSampleFailedEvent(record: record)))
        await sink.finish()
        let written = try String(contentsOf: url, encoding: .utf8)
        #expect(written.contains("run.sample.failed"))
        #expect(!written.contains(secret))
    }
}
