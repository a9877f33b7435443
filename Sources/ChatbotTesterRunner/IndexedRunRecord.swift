import ChatbotTesterCore
import Foundation

/// A finished record with its sample's 0-based position in the run's input.
public struct IndexedRunRecord: Sendable {
    /// The sample's position in the input (the journal's `index`).
    public var index: Int
    public var record: RunRecord
    /// The record's journal line (`JournalLine.encode(record, index:)`) when the Runner journaled
    /// it, so a consumer writing results need not encode it again; `nil` otherwise.
    public var journalLine: Data?

    public init(index: Int, record: RunRecord, journalLine: Data? = nil) {
        self.index = index
        self.record = record
        self.journalLine = journalLine
    }
}
