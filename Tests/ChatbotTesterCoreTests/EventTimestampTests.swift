import Foundation
import Testing

@testable import ChatbotTesterCore

/// `events.jsonl` times are written without `gmtime_r`; `gmtime_r` is the reference.
@Suite struct EventTimestampTests {
    static func text(_ date: Date, _ append: (Date, inout [UInt8]) -> Void) -> String {
        var bytes: [UInt8] = []
        append(date, &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func timesAreWrittenAsGmtimeWritesThem() {
        var generator = SystemRandomNumberGenerator()
        var dates = [0, 0.001, 59.999, 86_399.999, 86_400, 951_782_400, 951_868_799.5, 4_107_542_400, 1_798_761_599.123, 253_402_300_799.999]
            .map(Date.init(timeIntervalSince1970:))
        // Every day boundary of a few leap-year cycles, and random instants up to 9999.
        dates += stride(from: 0.0, to: 4 * 1461 * 86_400, by: 86_400).flatMap { [Date(timeIntervalSince1970: $0), Date(timeIntervalSince1970: $0 - 0.001)] }
        dates += (0..<20_000).map { _ in Date(timeIntervalSince1970: Double.random(in: 0..<253_402_300_800, using: &generator)) }
        var mismatches: [String] = []
        for date in dates {
            let fast = Self.text(date) { JSONLEventLogSink.appendTimestamp($0, to: &$1) }
            let reference = Self.text(date) { JSONLEventLogSink.appendTimestampByGmtime($0, to: &$1) }
            if fast != reference, mismatches.count < 5 { mismatches.append("\(date.timeIntervalSince1970): \(fast) != \(reference)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        #expect(JSONLEventLogSink.timestamp(Date(timeIntervalSince1970: 1_795_892_341.123)) == "2026-11-28T18:59:01.123Z")
        #expect(JSONLEventLogSink.timestamp(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
    }
}
