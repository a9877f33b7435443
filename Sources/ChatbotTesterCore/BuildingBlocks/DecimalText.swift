import Foundation

/// Decimal text of numbers without `String(format:)`, which goes through Foundation's formatter
/// (locale, C varargs): tens of microseconds a call, where reports format every row, metrics every
/// reason and the coordinator every progress line.
public enum DecimalText {
    /// `String(format: "%.<digits>f", value)`, byte for byte, without `String(format:)`. Values the
    /// integer shortcut cannot place exactly — negative, huge, non-finite, or within a hair of a
    /// rounding tie, where only the exact decimal expansion decides — go to `String(format:)`.
    public static func fixed(_ value: Double, digits: Int) -> String {
        guard (0...9).contains(digits), value.sign == .plus, value < 1e9 else { return String(format: "%.\(digits)f", value) }
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = value * Double(scale)
        let whole = scaled.rounded(.down)
        // Below 1e9 the product is off the exact one by less than 2e-7: away from a tie, rounding
        // it rounds the exact value as printf does.
        guard scaled < 1e9, abs(scaled - whole - 0.5) > 1e-6 else { return String(format: "%.\(digits)f", value) }
        let units = Int(scaled.rounded(.toNearestOrAwayFromZero))
        var out = String(units / scale)
        guard digits > 0 else { return out }
        let fraction = String(units % scale)
        out.append(".")
        for _ in fraction.utf8.count..<digits { out.append("0") }
        out.append(fraction)
        return out
    }
}
