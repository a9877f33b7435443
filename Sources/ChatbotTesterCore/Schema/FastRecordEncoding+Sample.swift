import Foundation

/// `TestSample` lines straight to bytes: a cluster coordinator spools every case of the dataset
/// once (`{"index":N,"sample":{…}}` per line) before a worker sees it. Same conventions as the
/// other writers of `FastRecordEncoding`: the bytes `JSONCoding.encoder()` writes, or `nil` when
/// the writer cannot vouch for them (a scenario, tools, a tool choice or expected tool calls; a
/// non-finite number or a key outside printable ASCII in `metadata`; nesting deeper than 64), and
/// the caller encodes with `JSONEncoder`, the reference.
extension FastRecordEncoding {
    /// The JSON object of `sample` (no newline), or `nil` when `JSONEncoder` must write it.
    public static func bytes(_ sample: TestSample) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        guard append(sample, to: &out) else { return nil }
        return out
    }

    /// Appends `{"index":index,"sample":{…}}` — a sample with its dataset index, as the synthesized
    /// `Codable` encoding of a two-member struct `{index: Int, sample: TestSample}` writes it with
    /// sorted keys. False (with `out` partly written: the caller truncates it back) when `JSONEncoder`
    /// must write the sample.
    public static func appendIndexed(_ sample: TestSample, index: Int, to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #"{"index":"#.utf8)
        appendInt(index, to: &out)
        out.append(contentsOf: #","sample":"#.utf8)
        guard append(sample, to: &out) else { return false }
        out.append(UInt8(ascii: "}"))
        return true
    }
}
