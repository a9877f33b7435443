import ChatbotTesterCore
import Foundation

extension ClusterMessageCodec {
    /// Reads a frame the worker's way: an `assignByReference` in the shape the coordinator writes
    /// (`encodeAssignByReference`) is read over its bytes; an `assign` in the shape the coordinator writes
    /// (`encodeAssign(lines:slots:)`: the spool's `{"index":N,"sample":{…}}` lines spliced into
    /// `{"body":{"samples":[…],"slots":N},"type":"assign"}`) is split into its lines, and each
    /// sample is read by Core's byte reader (`JSONL.decode`, which checks the line as strictly as
    /// a dataset line) instead of `JSONDecoder`; any other message, or an assignment with a line
    /// it does not vouch for, is decoded as `decode(_:peer:)` does (which names any fault).
    public func decodeAtWorker(_ payload: Data, peer: String) throws -> ClusterMessage {
        if let assignment = Self.assignment(inCoordinatorShape: payload) { return .assign(assignment) }
        if let assignment = Self.assignmentByReference(inCoordinatorShape: payload) { return .assignByReference(assignment) }
        return try decode(payload, peer: peer)
    }

    /// The assignment of a payload in `encodeAssign`'s shape, or nil (another message, another
    /// shape, or a line the byte reader gives up on).
    static func assignment(inCoordinatorShape payload: Data) -> ClusterMessage.Assignment? {
        let head = assignHead, tail = assignTail
        guard payload.count >= head.count + tail.count + 2,
            payload.prefix(head.count).elementsEqual(head), payload.suffix(tail.count).elementsEqual(tail)
        else { return nil }
        let start = payload.startIndex
        // Before the tail: `]` or `],"slots":N`.
        var close = payload.count - tail.count - 1
        var slots: Int?
        if payload[start + close] != UInt8(ascii: "]") {
            var digitsStart = close
            while digitsStart > head.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(payload[start + digitsStart]) { digitsStart -= 1 }
            let digits = close - digitsStart
            let key = slotsKey
            guard digits > 0, digits <= 9, digits == 1 || payload[start + digitsStart + 1] != UInt8(ascii: "0"),
                digitsStart + 1 - key.count > head.count,
                payload[(start + digitsStart + 1 - key.count)..<(start + digitsStart + 1)].elementsEqual(key),
                let value = Int(String(decoding: payload[(start + digitsStart + 1)...(start + close)], as: UTF8.self))
            else { return nil }
            slots = value
            close = digitsStart - key.count
            guard payload[start + close] == UInt8(ascii: "]") else { return nil }
        }
        let array = (head.count - 1)..<(close + 1)
        guard let elements = try? JSONByteScanner.elements(ofArray: payload, in: array) else { return nil }
        let decoder = JSONCoding.decoder()
        var samples: [IndexedSample] = []
        samples.reserveCapacity(elements.count)
        for element in elements {
            guard let (index, sampleBytes) = indexedLine(payload[(start + element.lowerBound)..<(start + element.upperBound)]),
                case .success(let sample) = JSONL.decode(TestSample.self, from: sampleBytes, source: nil, line: 0, decoder: decoder)
            else { return nil }
            samples.append(IndexedSample(index: index, sample: sample, encodedSample: sampleBytes))
        }
        return ClusterMessage.Assignment(samples: samples, slots: slots)
    }

    /// The index and the sample's bytes of a line shaped as the spool writes it,
    /// `{"index":N,"sample":{…}}` (no whitespace outside the sample, N in decimal without a
    /// leading zero); nil for any other shape. The sample is not checked.
    static func indexedLine(_ line: Data) -> (index: Int, sample: Data)? {
        // Read over the raw bytes: a worker reads every sample it plays this way.
        let found: (index: Int, sample: Range<Int>)? = line.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            // The shortest such line is `{"index":N,"sample":{}}`.
            guard bytes.count >= 23, bytes[bytes.count - 1] == UInt8(ascii: "}") else { return nil }
            var cursor = ByteCursor(bytes)
            guard cursor.skip(#"{"index":"#), let index = cursor.integer(), cursor.skip(#","sample":"#), cursor.at < bytes.count - 1,
                bytes[cursor.at] == UInt8(ascii: "{")
            else { return nil }
            return (index, cursor.at..<(bytes.count - 1))
        }
        guard let found else { return nil }
        return (found.index, line[(line.startIndex + found.sample.lowerBound)..<(line.startIndex + found.sample.upperBound)])
    }

    private static let assignHead = Array(#"{"body":{"samples":["#.utf8)
    private static let assignTail = Array(#"},"type":"assign"}"#.utf8)
    private static let slotsKey = Array(#","slots":"#.utf8)
}
