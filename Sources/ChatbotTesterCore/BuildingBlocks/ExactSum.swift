/// A sum kept in fixed-point integer units so that adding and merging are exact and associative:
/// the same values summed in any order, or split into shards and merged, give bit-identical totals.
///
/// Each value is rounded once, to the nearest unit, when it is added; after that only integers
/// are added (wrapping, so even an intermediate overflow cancels out when the final sum fits).
///
/// ```swift
/// var cost = ExactSum()                          // nano-units: dollars keep 9 decimals
/// cost.add(0.1); cost.add(0.2)
/// cost.value == 0.3                              // true (0.1 + 0.2 is not, in Double)
/// var latency = ExactSum(unitsPerOne: 1_000)      // milliseconds kept to the microsecond
/// ```
public struct ExactSum: Sendable, Hashable, Codable {
    /// The sum in units of `1 / unitsPerOne`.
    public private(set) var units: Int64
    /// Units per 1.0.
    public let unitsPerOne: Int64
    /// The default units per 1.0 (1e9: nano-units, so scores and dollars keep 9 decimals; ±9.2e9 fits).
    public static let nano: Int64 = 1_000_000_000
    /// `Double(nano)`, kept for callers that scale by hand.
    public static let scale: Double = 1e9

    /// An empty sum counting in units of `1 / unitsPerOne` (a power of ten, > 0).
    public init(unitsPerOne: Int64 = ExactSum.nano) {
        units = 0
        self.unitsPerOne = max(1, unitsPerOne)
    }

    /// A sum of `units` units.
    public init(units: Int64, unitsPerOne: Int64 = ExactSum.nano) {
        self.units = units
        self.unitsPerOne = max(1, unitsPerOne)
    }

    /// The sum whose value is `value` (rounded to the nearest unit): what a `Double` written by
    /// `value` reads back as.
    public init(value: Double, unitsPerOne: Int64 = ExactSum.nano) {
        self.init(unitsPerOne: unitsPerOne)
        add(value)
    }

    /// The units of one value, rounded to the nearest; non-finite values count 0 and values beyond
    /// ±9.2e18 units are clamped (no trap on hostile input).
    public static func units(of value: Double, unitsPerOne: Int64) -> Int64 {
        guard value.isFinite else { return 0 }
        let scaled = (value * Double(unitsPerOne)).rounded()
        guard abs(scaled) < 9.2e18 else { return scaled < 0 ? -9_200_000_000_000_000_000 : 9_200_000_000_000_000_000 }
        return Int64(scaled)
    }

    /// Adds one value.
    public mutating func add(_ value: Double) {
        units &+= Self.units(of: value, unitsPerOne: unitsPerOne)
    }

    /// Adds another sum in the same units (exact).
    public mutating func merge(_ other: ExactSum) {
        precondition(unitsPerOne == other.unitsPerOne, "cannot merge sums in different units")
        units &+= other.units
    }

    /// The sum as a `Double` (the nearest `Double` to the exact fixed-point value, the same on
    /// every machine and for every order of addition).
    public var value: Double { Double(units) / Double(unitsPerOne) }

    /// Decodes units written by `encode(to:)` (always nano-units).
    public init(from decoder: any Decoder) throws {
        units = try decoder.singleValueContainer().decode(Int64.self)
        unitsPerOne = Self.nano
    }

    /// Encodes the units alone (a bare integer); only nano-unit sums round-trip through `Codable`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(units)
    }
}
