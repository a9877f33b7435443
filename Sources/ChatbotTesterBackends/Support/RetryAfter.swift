import ChatbotTesterCore
import Foundation

/// Parses an HTTP `Retry-After` header value: delay-seconds (`"2"`, `"1.5"`) or an HTTP date (any of the three forms `HTTPDate` reads).
public enum RetryAfter {
    /// The delay in seconds the header asks for, never negative; `nil` when the value is not understood.
    /// - Parameter now: the reference time for HTTP dates.
    public static func seconds(from value: String, now: Date = Date()) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed), seconds.isFinite {
            return max(0, seconds)
        }
        if let date = HTTPDate.parse(trimmed, now: now) {
            return max(0, date.timeIntervalSince(now))
        }
        return nil
    }

    /// Formats a date as an IMF-fixdate (for servers and tests).
    public static func httpDate(_ date: Date) -> String {
        HTTPDate.format(date)
    }
}
