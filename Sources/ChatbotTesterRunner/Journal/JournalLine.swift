import ChatbotTesterCore
import Foundation

/// One journal line: a record and its 0-based position in the input, so results can be written in
/// dataset order without holding them in memory.
///
/// The line is always laid out as `{"index":N,"record":{…}}`, which lets readers slice out the
/// record bytes without decoding them.
public struct JournalLine: Sendable, Hashable {
    /// The sample's position in the input.
    public var index: Int
    /// The sample id.
    public var sampleId: String
    /// The record's JSON text.
    public var recordText: Substring

    static let prefix = #"{"index":"#
    static let separator = #","record":"#

    /// Encodes a record as a journal line (without newline).
    public static func encode(_ record: RunRecord, index: Int, encoder: JSONEncoder) throws -> Data {
        var line = Data(prefix.utf8)
        line.append(contentsOf: String(index).utf8)
        line.append(contentsOf: separator.utf8)
        line.append(try encoder.encode(record))
        line.append(UInt8(ascii: "}"))
        return line
    }

    /// Reads the index and id from a line and slices out the record; `nil` when the line is malformed.
    public static func parse(_ text: Substring) -> JournalLine? {
        guard text.hasPrefix(prefix), text.hasSuffix("}") else { return nil }
        let afterPrefix = text.dropFirst(prefix.count)
        guard let separatorRange = afterPrefix.range(of: separator), let index = Int(afterPrefix[..<separatorRange.lowerBound])
        else { return nil }
        let recordText = text[separatorRange.upperBound..<text.index(before: text.endIndex)]
        guard let sampleId = sampleId(in: recordText) else { return nil }
        return JournalLine(index: index, sampleId: sampleId, recordText: recordText)
    }

    /// The `sampleId` of a record's JSON text (checks the JSON is complete).
    private static func sampleId(in recordText: Substring) -> String? {
        struct Head: Decodable { var sampleId: String }
        return try? JSONDecoder().decode(Head.self, from: Data(recordText.utf8)).sampleId
    }

    /// Decodes the full record.
    public func decodeRecord(decoder: JSONDecoder = JSONCoding.decoder()) throws -> RunRecord {
        try decoder.decode(RunRecord.self, from: Data(recordText.utf8))
    }
}
