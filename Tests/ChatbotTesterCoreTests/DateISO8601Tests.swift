import ChatbotTesterCore
import Foundation
import Testing

/// `Date.iso8601String` writes what `ISO8601DateFormatter()` writes, without creating one.
@Suite struct DateISO8601Tests {
    @Test func theSameTextAsTheFormatter() {
        let formatter = ISO8601DateFormatter()
        var generator = SystemRandomNumberGenerator()
        var dates: [Date] = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 0.999), Date(timeIntervalSince1970: -0.5),
            Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: 1_764_806_399.9999),  // the next second, to the formatter
            Date(timeIntervalSince1970: 1_764_806_399.9994), Date(timeIntervalSince1970: 1_764_806_399.0005),
            Date(timeIntervalSince1970: 253_402_300_799),  // 9999-12-31T23:59:59Z
            Date(timeIntervalSince1970: 253_402_300_800),  // 10000: the formatter's way
            Date(timeIntervalSince1970: -86_400 * 365),  // 1969: the formatter's way
            Date(),
        ]
        for _ in 0..<20_000 { dates.append(Date(timeIntervalSince1970: Double.random(in: 0..<253_402_300_800, using: &generator))) }
        for date in dates {
            #expect(date.iso8601String == formatter.string(from: date), "\(date.timeIntervalSince1970)")
        }
        #expect(Date(timeIntervalSince1970: 1_764_825_257).iso8601String == "2025-12-04T05:14:17Z")
    }
}
