import ChatbotTesterCore

// The per-case events write their own `events.jsonl` fields (`TesterEvent.appendJSONFields`): the
// bytes `JSONCoding.encoder()` writes for them, in sorted order, without a `JSONEncoder` per case.

extension RunSampleStartedEvent {
    public func appendJSONFields(to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #","index":"#.utf8)
        FastRecordEncoding.appendInt(index, to: &out)
        out.append(contentsOf: #","sampleId":"#.utf8)
        FastRecordEncoding.appendString(sampleId, to: &out)
        return true
    }
}

extension RunSampleCompletedEvent {
    public func appendJSONFields(to out: inout [UInt8]) -> Bool {
        if let costUSD {
            out.append(contentsOf: #","costUSD":"#.utf8)
            guard FastRecordEncoding.appendNumber(costUSD, to: &out) else { return false }
        }
        out.append(contentsOf: #","latencyMs":"#.utf8)
        guard FastRecordEncoding.appendNumber(latencyMs, to: &out) else { return false }
        out.append(contentsOf: #","sampleId":"#.utf8)
        FastRecordEncoding.appendString(sampleId, to: &out)
        if let stopReason {
            out.append(contentsOf: #","stopReason":"#.utf8)
            FastRecordEncoding.appendString(stopReason, to: &out)
        }
        out.append(contentsOf: #","turns":"#.utf8)
        FastRecordEncoding.appendInt(turns, to: &out)
        return true
    }
}

extension RunSampleFailedEvent {
    public func appendJSONFields(to out: inout [UInt8]) -> Bool {
        out.append(contentsOf: #","error":"#.utf8)
        FastRecordEncoding.appendError(error, to: &out)
        out.append(contentsOf: #","sampleId":"#.utf8)
        FastRecordEncoding.appendString(sampleId, to: &out)
        out.append(contentsOf: #","turns":"#.utf8)
        FastRecordEncoding.appendInt(turns, to: &out)
        return true
    }
}
