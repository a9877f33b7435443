/// A sum kept in fixed-point integer units so that adding and merging are exact and associative:
/// shards summed in any order give bit-identical totals.
public struct ExactSum: Sendable, Hashable, Codable {
    /// The sum in units of `1 / scale`.
    public private(set) var units: Int64
    /// Units per 1.0 (1e9: nano-units, so scores, dollars and milliseconds keep 9 decimals).
    public static let scale: Double = 1e9

    public init() { units = 0 }

    public mutating func add(_ value: Double) {
        guard value.isFinite else { return }
        units &+= Int64((value * Self.scale).rounded())
    }

    public mutating func merge(_ other: ExactSum) { units &+= other.units }

    /// The sum as a `Double`.
    public var value: Double { Double(units) / Self.scale }

    public init(from decoder: any Decoder) throws {
        units = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(units)
    }
}
