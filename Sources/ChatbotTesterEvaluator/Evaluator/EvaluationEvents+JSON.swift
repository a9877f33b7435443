import ChatbotTesterCore

// `test` and `evaluate` emit one of these per sample: its `events.jsonl` fields are written as
// bytes (`TesterEvent.appendJSONFields`), the same bytes `JSONCoding.encoder()` writes.
extension EvalSampleCompleted {
    public func appendJSONFields(to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #","failed":"#.utf8)
        FastRecordEncoding.appendStrings(failed, to: &out)
        out.append(contentsOf: #","sampleId":"#.utf8)
        FastRecordEncoding.appendString(sampleId, to: &out)
        out.append(contentsOf: #","unmeasured":"#.utf8)
        FastRecordEncoding.appendStrings(unmeasured, to: &out)
        return true
    }
}
