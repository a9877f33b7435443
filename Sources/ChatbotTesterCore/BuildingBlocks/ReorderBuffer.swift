/// Puts elements that arrive out of order back in index order (0, 1, 2, …), holding those that
/// overtook an earlier one until it comes, with a bound on how many may be held.
///
/// The streamed outputs use it: records finish nearly in dataset order, and the few that overtake
/// an earlier one wait here. A value type with no lock of its own: the caller keeps it under its
/// own lock or queue, and carries out what it returns.
///
/// ```swift
/// var buffer = ReorderBuffer<Record>(limit: 1024)
/// switch buffer.insert(record, at: index) {
/// case .accepted: while let ready = buffer.popNext() { write(ready) }
/// case .duplicate, .overLimit, .tooFarAhead: giveUp()
/// }
/// // At the end, what still waits (across the gaps of records that never came):
/// while let (_, rest) = buffer.popFirstWaiting() { write(rest) }
/// ```
///
/// Storage is a ring of slots indexed by `index - next`, grown (doubling) to the farthest index
/// held: inserting and taking an element cost a slot write each, with no hashing and no
/// allocation once the ring has grown to the spread of indexes in flight. The operations are
/// `@inlinable`, so a caller in another module gets them specialized for its element type (a
/// per-record path; unspecialized, every slot access goes through the element's value witnesses).
public struct ReorderBuffer<Element> {
    /// What `insert(_:at:)` did with an element.
    public enum Insertion: Sendable, Equatable {
        /// Held; `popNext()` hands it out once every earlier index has been.
        case accepted
        /// Refused: its index was handed out already or is held.
        case duplicate
        /// Refused: `limit` elements already wait for an earlier one.
        case overLimit
        /// Refused: its index is `maxSpan` or more ahead of `next`.
        case tooFarAhead
    }

    /// The most elements held while waiting for an earlier index (the one at `next` is always
    /// accepted: it is ready).
    public let limit: Int
    /// How far ahead of `next` an index may be (the ring never grows past this many slots).
    public let maxSpan: Int
    /// The index `popNext()` hands out next.
    @inlinable public var next: Int { nextIndex }
    /// Elements held.
    @inlinable public var count: Int { held }

    @usableFromInline var nextIndex: Int
    @usableFromInline var held = 0
    /// A power of two of slots; index `nextIndex + d` sits in slot `(head + d) & (slots.count - 1)`.
    @usableFromInline var slots: [Element?]
    /// The slot of index `nextIndex`.
    @usableFromInline var head = 0

    /// - Parameters:
    ///   - limit: the most elements held while waiting for an earlier one (at least 1).
    ///   - maxSpan: how far ahead of `next` an index may be; by default 64 times `limit`
    ///     (at least 65,536), so an index far out of range cannot make the ring huge.
    ///   - first: the first index.
    @inlinable
    public init(limit: Int, maxSpan: Int? = nil, first: Int = 0) {
        self.limit = max(1, limit)
        self.maxSpan = max(1, maxSpan ?? max(self.limit.multipliedReportingOverflow(by: 64).partialValue, 1 << 16))
        nextIndex = first
        slots = Array(repeating: nil, count: 16)
    }

    /// Whether no element is held.
    @inlinable public var isEmpty: Bool { held == 0 }

    /// Holds `element` at `index` until every earlier index has been handed out. A refused
    /// element is not held (the buffer is as before).
    @inlinable
    public mutating func insert(_ element: Element, at index: Int) -> Insertion {
        guard index >= nextIndex else { return .duplicate }
        let distance = index - nextIndex
        guard distance < maxSpan else { return .tooFarAhead }
        if distance >= slots.count { grow(toHold: distance) }
        let slot = (head + distance) & (slots.count - 1)
        guard slots[slot] == nil else { return .duplicate }
        if distance > 0, held - (slots[head] == nil ? 0 : 1) >= limit { return .overLimit }
        slots[slot] = element
        held += 1
        return .accepted
    }

    /// The element at `next` when it is held (advancing `next`), else nil.
    @inlinable
    public mutating func popNext() -> Element? {
        guard held > 0, let element = slots[head].take() else { return nil }
        head = (head + 1) & (slots.count - 1)
        nextIndex += 1
        held -= 1
        return element
    }

    /// The held element of the lowest index, skipping the indexes before it that never came
    /// (`next` moves past it): drains the buffer in index order at the end of a run.
    @inlinable
    public mutating func popFirstWaiting() -> (index: Int, element: Element)? {
        guard held > 0 else { return nil }
        while slots[head] == nil {
            head = (head + 1) & (slots.count - 1)
            nextIndex += 1
        }
        let index = nextIndex
        return popNext().map { (index, $0) }
    }

    /// Drops every held element and frees the ring (`next` stays).
    @inlinable
    public mutating func removeAll() {
        slots = Array(repeating: nil, count: 16)
        head = 0
        held = 0
    }

    /// Grows the ring (a power of two) to hold index `next + distance`, keeping the order.
    @inlinable
    mutating func grow(toHold distance: Int) {
        var capacity = slots.count
        while capacity <= distance { capacity *= 2 }
        var grown = [Element?](repeating: nil, count: capacity)
        let mask = slots.count - 1
        for offset in 0..<slots.count { grown[offset] = slots[(head + offset) & mask] }
        slots = grown
        head = 0
    }
}

extension ReorderBuffer: Sendable where Element: Sendable {}
