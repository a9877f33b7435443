/// The ids of a run's input, by position: what a resume checks each journaled record against (a
/// record is kept only when its sample id is the one the input has at the record's position).
///
/// Each id is kept as a 64-bit digest (the high word of `IDDigestSet`'s, under this process's
/// secret hashing seed), so a million cases take 8 MB whatever the length of their ids, and a
/// journal written by hand cannot be crafted to match an id it does not spell.
///
/// ```swift
/// var ids = IDsByPosition()
/// for sample in dataset { ids.append(sample.id) }
/// ids.holds("refund-1", at: 0)   // true when the first case is "refund-1"
/// ```
public struct IDsByPosition: Sendable {
    private var digests: [UInt64] = []

    public init() {}

    /// How many positions the input has.
    public var count: Int { digests.count }

    /// Adds the id at the next position.
    public mutating func append(_ id: String) {
        digests.append(IDDigestSet.digest(id).hi)
    }

    /// Whether the input's case at `position` has id `id` (false for a position outside the input).
    public func holds(_ id: String, at position: Int) -> Bool {
        guard digests.indices.contains(position) else { return false }
        return digests[position] == IDDigestSet.digest(id).hi
    }
}
