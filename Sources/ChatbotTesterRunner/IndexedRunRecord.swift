import ChatbotTesterCore

/// A finished record with its sample's 0-based position in the run's input.
public struct IndexedRunRecord: Sendable {
    /// The sample's position in the input (the journal's `index`).
    public var index: Int
    public var record: RunRecord

    public init(index: Int, record: RunRecord) {
        self.index = index
        self.record = record
    }
}
