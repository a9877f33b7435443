import ChatbotTesterCore
import Foundation

/// What the reports read of one record, made by the worker that scored it and sent with the
/// record as raw bytes (protocol 5): the coordinator journals the record and keeps its part in a
/// side file (`ClusterReportPartsLog`), and the merge feeds the part to the reports without
/// decoding the record (`EvaluationOutput.add(reportPart:…)` in the Evaluator).
///
/// A part is `[1][u32 id length][id bytes][i64 index][body]` (integers little-endian): the head
/// names the sample and dataset index it belongs to, which the coordinator checks against the
/// record it travels with; the body is the Evaluator's and is opaque here.
///
/// In a `records` frame (see `ClusterMessageCodec.encodeRecords(_:)`) the parts follow the JSON as
/// a length-prefixed list, one per record (length 0: none), not inside the record's JSON: escaping
/// rows into JSON strings and reading them back cost what not decoding the record saves.
public enum ClusterReportPart {
    /// The format of a part's head.
    static let version: UInt8 = 1

    /// The largest part accepted with a record of `recordBytes` bytes: 8× the record plus 64 KiB
    /// (a part holds the record's CSV rows and JUnit test cases, which escape its reasons).
    public static func maxBytes(recordBytes: Int) -> Int { 8 * recordBytes + 64 * 1024 }

    /// A part naming `sampleId` and `index` with `body` (the Evaluator's bytes).
    public static func make(sampleId: String, index: Int, body: [UInt8]) -> Data {
        let id = Array(sampleId.utf8)
        var out = Data(capacity: 13 + id.count + body.count)
        out.append(version)
        ByteCoding.append(UInt32(id.count), to: &out)
        out.append(contentsOf: id)
        ByteCoding.append(UInt64(bitPattern: Int64(index)), to: &out)
        out.append(contentsOf: body)
        return out
    }

    /// The head of `part`: the sample id and index it names, and where its body is (offsets from
    /// `part.startIndex`); nil when it is not a part of this format.
    public static func head(_ part: Data) -> (sampleId: String, index: Int, body: Range<Int>)? {
        ByteCoding.read(part) { reader in
            guard reader.byte() == version, let sampleId = reader.string(), let index = reader.u64() else { return nil }
            return (sampleId, Int(Int64(bitPattern: index)), reader.offset..<part.count)
        }
    }

    /// Where the body of `part` is (offsets from `part.startIndex`) when its head names exactly
    /// `sampleId` at `index` (compared as bytes: no string is made); nil otherwise.
    public static func body(of part: Data, sampleId: String, index: Int) -> Range<Int>? {
        ByteCoding.read(part) { reader in
            guard reader.byte() == version, let length = reader.u32(), let id = reader.bytes(Int(length)), reader.u64() == UInt64(bitPattern: Int64(index)),
                id.elementsEqual(sampleId.utf8)
            else { return nil }
            return reader.offset..<part.count
        }
    }

    /// Why a part does not belong to its record (`nil`: it does): another sample or index, an
    /// unreadable head, or more than `maxBytes(recordBytes:)`.
    public static func mismatch(_ part: Data, sampleId: String, index: Int, recordBytes: Int) -> String? {
        guard part.count <= maxBytes(recordBytes: recordBytes) else {
            return "report part of \(part.count) bytes is larger than \(maxBytes(recordBytes: recordBytes)) for a record of \(recordBytes)"
        }
        guard let head = head(part) else { return "report part is not readable" }
        guard head.sampleId == sampleId, head.index == index else {
            return "report part names sample '\(head.sampleId)' at index \(head.index), its record '\(sampleId)' at index \(index)"
        }
        return nil
    }
}
