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
    /// Whether the record says `status: error` (a success replaces it in `results.jsonl`).
    public var isError: Bool = false

    static let prefix = #"{"index":"#
    static let separator = #","record":"#

    /// Encodes a record as a journal line (without newline): written as bytes by
    /// `FastRecordEncoding`, or by `JSONCoding.encoder()` for what it cannot vouch for (the same bytes).
    public static func encode(_ record: RunRecord, index: Int) throws -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1024)
        bytes.append(contentsOf: prefix.utf8)
        bytes.append(contentsOf: String(index).utf8)
        bytes.append(contentsOf: separator.utf8)
        guard FastRecordEncoding.append(record, to: &bytes) else {
            return try encode(record, index: index, encoder: JSONCoding.encoder())
        }
        bytes.append(UInt8(ascii: "}"))
        return Data(bytes)
    }

    /// Encodes a record as a journal line (without newline) with `encoder`.
    public static func encode(_ record: RunRecord, index: Int, encoder: JSONEncoder) throws -> Data {
        line(index: index, json: try encoder.encode(record))
    }

    /// A journal line for JSON already encoded: an object with at least `sampleId` (and `status`
    /// when it can be an error), such as the evaluations `test` journals next to the records.
    public static func line(index: Int, json: Data) -> Data {
        var line = Data(prefix.utf8)
        line.append(contentsOf: String(index).utf8)
        line.append(contentsOf: separator.utf8)
        line.append(json)
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
        guard let head = head(of: recordText) else { return nil }
        return JournalLine(index: index, sampleId: head.sampleId, recordText: recordText, isError: head.status == "error")
    }

    /// The `sampleId` and `status` of a record's JSON text (checks the JSON is complete). The
    /// byte scanner reads the two members and only checks the rest: no value is built.
    private static func head(of recordText: Substring) -> (sampleId: String, status: String?)? {
        let bytes = Data(recordText.utf8)
        guard let members = try? JSONByteScanner.members(ofObject: bytes),
            let id = members.first(where: { $0.name == "sampleId" }), let sampleId = try? JSONByteScanner.string(bytes, at: id.value)
        else { return nil }
        guard let status = members.first(where: { $0.name == "status" }), !JSONByteScanner.isNull(bytes, at: status.value) else {
            return (sampleId, nil)
        }
        guard let text = try? JSONByteScanner.string(bytes, at: status.value) else { return nil }
        return (sampleId, text)
    }

    /// Results order: by input position, and for one position a success before an error, so the
    /// first line written for an id is its success when it has one.
    static func precedes(_ a: JournalLine, _ b: JournalLine) -> Bool {
        a.index != b.index ? a.index < b.index : (!a.isError && b.isError)
    }

    /// The line's text (`{"index":N,"record":…}`).
    public var text: String { "\(Self.prefix)\(index)\(Self.separator)\(recordText)}" }

    /// Decodes the full record.
    public func decodeRecord(decoder: JSONDecoder = JSONCoding.decoder()) throws -> RunRecord {
        try JSONCoding.decodeRecord(RunRecord.self, from: Data(recordText.utf8), decoder: decoder)
    }
}
