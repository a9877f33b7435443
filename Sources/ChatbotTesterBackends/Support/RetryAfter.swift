import Foundation

/// Parses an HTTP `Retry-After` header value: delay-seconds (`"2"`, `"1.5"`) or an HTTP date.
public enum RetryAfter {
    /// The delay in seconds the header asks for, never negative; `nil` when the value is not understood.
    /// - Parameter now: the reference time for HTTP dates.
    public static func seconds(from value: String, now: Date = Date()) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed), seconds.isFinite {
            return max(0, seconds)
        }
        for pattern in patterns {
            if let date = formatter(pattern).date(from: trimmed) {
                return max(0, date.timeIntervalSince(now))
            }
        }
        return nil
    }

    /// IMF-fixdate, RFC 850 and asctime, as RFC 9110 requires recipients to accept.
    private static let patterns = [
        "EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy",
    ]

    /// A fresh formatter per use: this path runs only on rate-limit replies, and formatters are not `Sendable`.
    private static func formatter(_ pattern: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = pattern
        return formatter
    }

    /// Formats a date as an IMF-fixdate (for servers and tests).
    public static func httpDate(_ date: Date) -> String {
        formatter(patterns[0]).string(from: date)
    }
}
