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
    /// Where the `sampleId` string is in `recordText` (UTF-8 byte offsets), when the line was parsed.
    var idRange: Range<Int>?

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

    /// A journal line whose record JSON `writeRecord` appends to the line's bytes (one buffer, no
    /// copy of the record); `nil` when `writeRecord` returns false (it cannot write the record).
    public static func line(index: Int, writeRecord: (inout [UInt8]) -> Bool) -> Data? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        bytes.append(contentsOf: prefix.utf8)
        bytes.append(contentsOf: String(index).utf8)
        bytes.append(contentsOf: separator.utf8)
        guard writeRecord(&bytes) else { return nil }
        bytes.append(UInt8(ascii: "}"))
        return Data(bytes)
    }

    /// The record's JSON bytes in a line written for input position `index` (by `encode` or
    /// `line`), cut out without parsing; `nil` when `line` does not have that layout.
    public static func recordBytes(of line: Data, index: Int) -> [UInt8]? {
        let head = prefix.utf8.count + String(index).utf8.count + separator.utf8.count
        guard line.count > head + 1, line.last == UInt8(ascii: "}") else { return nil }
        return [UInt8](line[line.startIndex + head..<line.endIndex - 1])
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

    /// Whether the line's record is `input`'s case at the line's position (true without an input:
    /// nothing to check against).
    public func belongs(to input: IDsByPosition?) -> Bool {
        input?.holds(sampleId, at: index) ?? true
    }

    /// Reads the index and id from a line and slices out the record; `nil` when the line is malformed.
    public static func parse(_ text: Substring) -> JournalLine? {
        guard text.hasPrefix(prefix), text.hasSuffix("}") else { return nil }
        let afterPrefix = text.dropFirst(prefix.count)
        guard let separatorRange = afterPrefix.range(of: separator), let index = Int(afterPrefix[..<separatorRange.lowerBound])
        else { return nil }
        let recordText = text[separatorRange.upperBound..<text.index(before: text.endIndex)]
        guard let head = head(of: recordText) else { return nil }
        return JournalLine(index: index, sampleId: head.sampleId, recordText: recordText, isError: head.status == "error", idRange: head.idRange)
    }

    /// The `sampleId` and `status` of a record's JSON text (checks the JSON is complete). The
    /// byte scanner reads the two members and only checks the rest: no value is built.
    private static func head(of recordText: Substring) -> (sampleId: String, status: String?, idRange: Range<Int>)? {
        let bytes = Data(recordText.utf8)
        guard let members = try? JSONByteScanner.members(ofObject: bytes),
            let id = members.first(where: { $0.name == "sampleId" }), let sampleId = try? JSONByteScanner.string(bytes, at: id.value)
        else { return nil }
        guard let status = members.first(where: { $0.name == "status" }), !JSONByteScanner.isNull(bytes, at: status.value) else {
            return (sampleId, nil, id.value)
        }
        guard let text = try? JSONByteScanner.string(bytes, at: status.value) else { return nil }
        return (sampleId, text, id.value)
    }

    // MARK: Sort runs

    /// The line as `ResultsWriter` keeps it in its sorted runs (files of this process only):
    /// `index,E|O,lower,upper,` then the record text, `lower..<upper` being where the `sampleId`
    /// string is in it, so reading a run back takes no scan of the record. A line without that
    /// range (never parsed) is kept as its journal text.
    var runText: String {
        guard let idRange else { return text }
        return "\(index),\(isError ? "E" : "O"),\(idRange.lowerBound),\(idRange.upperBound),\(recordText)"
    }

    /// Reads a line of a sorted run (`runText`, or a journal line); `nil` when it is malformed.
    static func parseRun(_ text: Substring) -> JournalLine? {
        guard let first = text.utf8.first, first != UInt8(ascii: "{") else { return parse(text) }
        var fields: [Substring] = []
        var rest = text[...]
        for _ in 0..<4 {
            guard let comma = rest.firstIndex(of: ",") else { return nil }
            fields.append(rest[..<comma])
            rest = rest[rest.index(after: comma)...]
        }
        guard let index = Int(fields[0]), fields[1] == "E" || fields[1] == "O", let lower = Int(fields[2]), let upper = Int(fields[3]),
            lower >= 0, lower <= upper, upper <= rest.utf8.count
        else { return nil }
        let bytes = Data(rest.utf8)
        guard let sampleId = try? JSONByteScanner.string(bytes, at: lower..<upper) else { return nil }
        return JournalLine(index: index, sampleId: sampleId, recordText: rest, isError: fields[1] == "E", idRange: lower..<upper)
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
