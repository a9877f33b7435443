import ChatbotTesterCore
import Foundation
import Testing

@Suite("HTTP dates")
struct HTTPDateTests {
    private func formatter(_ pattern: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = pattern
        return formatter
    }

    @Test func writesWhatDateFormatterWritesAndReadsItBack() {
        let reference = formatter("EEE, dd MMM yyyy HH:mm:ss 'GMT'")
        var generator = SeededGenerator(seed: 7)
        // 1 January 1900 to 31 December 2199, plus the edges of the epoch and of leap days.
        var dates = (0..<3000).map { _ in Date(timeIntervalSince1970: Double(Int64.random(in: -2_208_988_800...7_258_118_399, using: &generator))) }
        dates += [0, -1, 86_399, 86_400, 951_782_400, 951_868_799, 4_107_542_400].map { Date(timeIntervalSince1970: $0) }
        for date in dates {
            let text = HTTPDate.format(date)
            #expect(text == reference.string(from: date), "\(date.timeIntervalSince1970)")
            #expect(HTTPDate.parse(text) == date, "\(text)")
        }
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 784_111_777.9)) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test func readsTheThreeFormsOfRFC9110() {
        let expected = Date(timeIntervalSince1970: 784_111_777)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == expected)
        #expect(HTTPDate.parse("  Sun, 06 Nov 1994 08:49:37 GMT \t") == expected)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: Date(timeIntervalSince1970: 1_780_000_000)) == expected)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == expected)
        #expect(HTTPDate.parse("Sun Nov 06 08:49:37 1994") == expected)
        // RFC 850's two-digit year: more than 50 years ahead of now means the previous century.
        let now = Date(timeIntervalSince1970: 1_780_000_000)  // 2026
        #expect(HTTPDate.parse("Thursday, 01-Jan-76 00:00:00 GMT", now: now) == Date(timeIntervalSince1970: 3_345_062_400))
        #expect(HTTPDate.parse("Monday, 01-Jan-77 00:00:00 GMT", now: now) == Date(timeIntervalSince1970: 220_924_800))
    }

    @Test func refusesWhatIsNotAnHTTPDate() {
        for text in [
            "", "soon", "12", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 29 Feb 1900 00:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 06 Nov 1994 08:49:37 GMT x",
            "Sun, 00 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
            "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:3 GMT", "Sun, 06 Nov 1994 08:49:37 GMT\u{0}",
        ] {
            #expect(HTTPDate.parse(text) == nil, "\(text)")
        }
        #expect(HTTPDate.parse("Tue, 29 Feb 2000 00:00:00 GMT") == Date(timeIntervalSince1970: 951_782_400))
    }
}
