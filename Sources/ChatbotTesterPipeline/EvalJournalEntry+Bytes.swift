import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation

extension EvalJournalEntry {
    /// The entry's JSON, as `encoder` (`JSONCoding.encoder()`) writes it: written as bytes by
    /// `FastRecordEncoding` (one entry per case in `test`), through `encoder` for what it cannot
    /// vouch for (a non-finite number, a date outside 1970…9999, an odd `details` key).
    func encoded(with encoder: JSONEncoder) throws -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(64 + 256 * evals.count)
        if appendJSON(to: &out) { return Data(out) }
        return try encoder.encode(self)
    }

    /// The entry's journal line for input position `index` (`{"index":N,"record":{…}}`), the entry
    /// written straight into the line's bytes; through `encoder` for what the bytes cannot vouch for.
    func journalLine(index: Int, encoder: JSONEncoder) throws -> Data {
        if let line = JournalLine.line(index: index, writeRecord: { appendJSON(to: &$0) }) { return line }
        return JournalLine.line(index: index, json: try encoder.encode(self))
    }

    /// Appends the entry's members in sorted order (evals, latencyMs, sampleId, startedAt, status);
    /// false when the encoder must write it.
    func appendJSON(to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #"{"evals":["#.utf8)
        for (position, eval) in evals.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            guard FastRecordEncoding.append(eval, to: &out) else { return false }
        }
        out.append(contentsOf: #"],"latencyMs":"#.utf8)
        guard FastRecordEncoding.appendNumber(latencyMs, to: &out) else { return false }
        out.append(contentsOf: #","sampleId":"#.utf8)
        FastRecordEncoding.appendString(sampleId, to: &out)
        if let startedAt {
            out.append(contentsOf: #","startedAt":"#.utf8)
            guard FastRecordEncoding.appendDate(startedAt, to: &out) else { return false }
        }
        out.append(contentsOf: #","status":"#.utf8)
        FastRecordEncoding.appendString(status.rawValue, to: &out)
        out.append(UInt8(ascii: "}"))
        return true
    }
}
