import Foundation

/// HTTP dates (RFC 9110 §5.6.7), read and written without `DateFormatter`: no locale, no
/// formatter per call, safe from any thread.
///
/// Reads the three forms RFC 9110 asks recipients to accept — IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`) — and writes IMF-fixdate. The weekday is checked for its form but
/// not against the date (a sender's wrong weekday does not make its date unreadable).
public enum HTTPDate {
    /// The date `text` names, or `nil` when it is not one of the three forms (or names no real
    /// time: 30 February, hour 24, a second past 60).
    /// - Parameter now: the reference for RFC 850's two-digit years: a year more than 50 years
    ///   after `now` is taken as the most recent past year with the same last two digits.
    public static func parse(_ text: String, now: Date = Date()) -> Date? {
        var bytes = Array(text.utf8)
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        var start = 0
        while start < bytes.count, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        var imf = Reader(bytes: bytes, position: start)
        if let date = imf.imfFixdate() { return date }
        var rfc850 = Reader(bytes: bytes, position: start)
        if let date = rfc850.rfc850(now: now) { return date }
        var asctime = Reader(bytes: bytes, position: start)
        return asctime.asctime()
    }

    /// `date` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), whole seconds (rounded down).
    public static func format(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = Int(seconds - days * 86_400)
        let (year, month, day) = CivilDate.date(daysSince1970: Int(days))
        let weekday = Int(((days % 7) + 7 + 4) % 7)  // 1970-01-01 was a Thursday (4).
        var text = weekdays[weekday] + ", " + two(day) + " " + months[month - 1] + " "
        text += year >= 0 && year < 10_000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        text += " " + two(inDay / 3600) + ":" + two(inDay / 60 % 60) + ":" + two(inDay % 60) + " GMT"
        return text
    }

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let longWeekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func two(_ value: Int) -> String { value < 10 ? "0" + String(value) : String(value) }

    private static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// A date from its fields, or `nil` when they name no real time.
    fileprivate static func date(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Date? {
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second <= 60
        else { return nil }
        let total = Int64(CivilDate.days(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return Date(timeIntervalSince1970: Double(total))
    }

    /// A cursor over the header value's bytes; each form is tried from the start with its own reader.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int

        var atEnd: Bool { position == bytes.count }

        mutating func literal(_ text: String) -> Bool {
            for byte in text.utf8 {
                guard position < bytes.count, bytes[position] == byte else { return false }
                position += 1
            }
            return true
        }

        /// One of `names` (case-sensitive, as RFC 9110 writes them); its index.
        mutating func name(in names: [String]) -> Int? {
            for (index, name) in names.enumerated() {
                let saved = position
                if literal(name) { return index }
                position = saved
            }
            return nil
        }

        /// Exactly `count` digits.
        mutating func digits(_ count: Int) -> Int? {
            guard position + count <= bytes.count else { return nil }
            var value = 0
            for offset in 0..<count {
                let byte = bytes[position + offset]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            position += count
            return value
        }

        mutating func time() -> (Int, Int, Int)? {
            guard let hour = digits(2), literal(":"), let minute = digits(2), literal(":"), let second = digits(2) else { return nil }
            return (hour, minute, second)
        }

        /// `Sun, 06 Nov 1994 08:49:37 GMT`
        mutating func imfFixdate() -> Date? {
            guard name(in: HTTPDate.weekdays) != nil, literal(", "), let day = digits(2), literal(" "),
                let month = name(in: HTTPDate.months), literal(" "), let year = digits(4), literal(" "),
                let (hour, minute, second) = time(), literal(" GMT"), atEnd
            else { return nil }
            return HTTPDate.date(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second)
        }

        /// `Sunday, 06-Nov-94 08:49:37 GMT`
        mutating func rfc850(now: Date) -> Date? {
            guard name(in: HTTPDate.longWeekdays) != nil, literal(", "), let day = digits(2), literal("-"),
                let month = name(in: HTTPDate.months), literal("-"), let short = digits(2), literal(" "),
                let (hour, minute, second) = time(), literal(" GMT"), atEnd
            else { return nil }
            let current = CivilDate.date(daysSince1970: Int((now.timeIntervalSince1970 / 86_400).rounded(.down))).year
            var year = current - current % 100 + short
            if year > current + 50 { year -= 100 }
            return HTTPDate.date(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second)
        }

        /// `Sun Nov  6 08:49:37 1994` (the day padded with a space, or two digits)
        mutating func asctime() -> Date? {
            guard name(in: HTTPDate.weekdays) != nil, literal(" "), let month = name(in: HTTPDate.months), literal(" ") else { return nil }
            let day: Int
            if literal(" ") {
                guard let one = digits(1) else { return nil }
                day = one
            } else {
                guard let both = digits(2) else { return nil }
                day = both
            }
            guard literal(" "), let (hour, minute, second) = time(), literal(" "), let year = digits(4), atEnd else { return nil }
            return HTTPDate.date(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second)
        }
    }
}
