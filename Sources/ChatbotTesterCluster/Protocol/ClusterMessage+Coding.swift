import ChatbotTesterCore
import Foundation

extension ClusterMessage: Codable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case type, body }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try c.decode(Hello.self, forKey: .body))
        case "welcome": self = .welcome(try c.decode(Welcome.self, forKey: .body))
        case "assign": self = .assign(try c.decode(Assignment.self, forKey: .body))
        case "assignByReference": self = .assignByReference(try c.decode(AssignmentByReference.self, forKey: .body))
        case "records": self = .records(try c.decode([ClusterRecord].self, forKey: .body))
        case "heartbeat": self = .heartbeat
        case "drain": self = .drain
        case "shutdown": self = .shutdown
        case "error": self = .error(try c.decode(ErrorInfo.self, forKey: .body))
        case "budgetRequest": self = .budgetRequest(try c.decode(BudgetRequest.self, forKey: .body))
        case "budgetGrant": self = .budgetGrant(try c.decode(BudgetGrant.self, forKey: .body))
        case "breakerReport": self = .breakerReport(try c.decode(BreakerReport.self, forKey: .body))
        case "breakerState": self = .breakerState(try c.decode(BreakerState.self, forKey: .body))
        case "release": self = .release
        case "released": self = .released(try c.decode(Released.self, forKey: .body))
        case "writeLines": self = .writeLines(try c.decode(WriteLines.self, forKey: .body))
        case "linesWritten": self = .linesWritten(try c.decode(LinesWritten.self, forKey: .body))
        case "makeReports": self = .makeReports(try c.decode(MakeReports.self, forKey: .body))
        case "reportsMade": self = .reportsMade(try c.decode(ReportsMade.self, forKey: .body))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown message type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(typeName, forKey: .type)
        switch self {
        case .hello(let body): try c.encode(body, forKey: .body)
        case .welcome(let body): try c.encode(body, forKey: .body)
        case .assign(let body): try c.encode(body, forKey: .body)
        case .assignByReference(let body): try c.encode(body, forKey: .body)
        case .records(let body): try c.encode(body, forKey: .body)
        case .heartbeat, .drain, .shutdown, .release: break
        case .error(let body): try c.encode(body, forKey: .body)
        case .budgetRequest(let body): try c.encode(body, forKey: .body)
        case .budgetGrant(let body): try c.encode(body, forKey: .body)
        case .breakerReport(let body): try c.encode(body, forKey: .body)
        case .breakerState(let body): try c.encode(body, forKey: .body)
        case .released(let body): try c.encode(body, forKey: .body)
        case .writeLines(let body): try c.encode(body, forKey: .body)
        case .linesWritten(let body): try c.encode(body, forKey: .body)
        case .makeReports(let body): try c.encode(body, forKey: .body)
        case .reportsMade(let body): try c.encode(body, forKey: .body)
        }
    }
}

/// Encodes and decodes `ClusterMessage` frame payloads.
public struct ClusterMessageCodec: Sendable {
    public init() {}

    /// The payload bytes of `message` (sorted-key JSON).
    public func encode(_ message: ClusterMessage) throws -> Data {
        try JSONCoding.encoder().encode(message)
    }

    /// Decodes a payload; a malformed one throws `ChatbotTesterError(.proto)` naming `peer`.
    public func decode(_ payload: Data, peer: String) throws -> ClusterMessage {
        do {
            return try JSONCoding.decoder().decode(ClusterMessage.self, from: payload)
        } catch let error as DecodingError {
            let field = error.fieldPath
            throw ChatbotTesterError(
                .proto, "malformed frame: \(error.shortMessage)",
                location: SourceLocation(source: peer, field: field.isEmpty ? nil : field))
        } catch {
            throw ChatbotTesterError(.proto, "malformed frame (not JSON)", location: SourceLocation(source: peer), cause: error)
        }
    }
}

extension ClusterMessageCodec {
    /// The payload of an `assign` of samples already encoded as `IndexedSample` JSON (`{"index":
    /// …,"sample":…}`, the spool's shard lines): spliced, not re-encoded. The same bytes
    /// `encode(.assign(…))` writes for them (sorted keys).
    public func encodeAssign(lines: [Data], slots: Int?) -> Data {
        var out = Data(#"{"body":{"samples":["#.utf8)
        out.reserveCapacity(lines.reduce(64) { $0 + $1.count + 1 })
        for (position, line) in lines.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(line)
        }
        out.append(contentsOf: Array("]".utf8))
        if let slots { out.append(contentsOf: Array(#","slots":\#(slots)"#.utf8)) }
        out.append(contentsOf: Array(#"},"type":"assign"}"#.utf8))
        return out
    }

    /// The payload of a `records` frame of records already encoded (see
    /// `ClusterRecord.wireUnit(omittingSample:)` and `wireBytes(omittingSample:)`), spliced into
    /// one frame. Records without report parts give the JSON frame `encode(.records(…))` writes;
    /// when any has one, the frame is `[0]["P"][u32 JSON length][that JSON]` followed by each
    /// record's part as `[u32 length][bytes]`, in body order (length 0: none; lengths big-endian).
    public func encodeRecords(_ records: [Data]) -> Data {
        guard records.contains(where: { $0.first == 0 }) else { return recordsJSON(records) }
        var jsons: [Data] = [], parts: [Data] = []
        jsons.reserveCapacity(records.count)
        parts.reserveCapacity(records.count)
        for unit in records {
            let start = unit.startIndex
            guard unit.first == 0, unit.count >= 5 else {
                jsons.append(unit)
                parts.append(Data())
                continue
            }
            let length = unit[(start + 1)..<(start + 5)].reduce(0) { $0 << 8 | Int($1) }
            parts.append(unit[(start + 5)..<(start + 5 + length)])
            jsons.append(unit[(start + 5 + length)...])
        }
        let json = recordsJSON(jsons)
        var out = Data(capacity: json.count + parts.reduce(6) { $0 + $1.count + 4 })
        out.append(contentsOf: Self.partsMagic)
        Self.appendBigEndian(UInt32(json.count), to: &out)
        out.append(json)
        for part in parts {
            Self.appendBigEndian(UInt32(part.count), to: &out)
            out.append(part)
        }
        return out
    }

    /// The first bytes of a records frame with report parts (never the start of JSON).
    static let partsMagic: [UInt8] = [0, UInt8(ascii: "P")]

    /// Appends `value` big-endian (the lengths of a records frame's parts).
    static func appendBigEndian(_ value: UInt32, to out: inout Data) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    private func recordsJSON(_ records: [Data]) -> Data {
        var out = Data(#"{"body":["#.utf8)
        out.reserveCapacity(records.reduce(32) { $0 + $1.count + 1 })
        for (position, record) in records.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(record)
        }
        out.append(contentsOf: Array(#"],"type":"records"}"#.utf8))
        return out
    }
}

/// A frame as the coordinator reads it: a `records` frame as record envelopes with their bytes
/// (see `ClusterRecordEnvelope`), any other message decoded.
public enum ClusterIncoming: Sendable, Hashable {
    case records([ClusterRecordEnvelope])
    /// Records a worker appended to the journal itself (protocol 8): where their lines went.
    case journaled(ClusterJournaledRecords)
    case message(ClusterMessage)
}

extension ClusterMessageCodec {
    /// Reads a frame the coordinator's way: a `records` frame is scanned, never decoded — each
    /// record keeps the bytes the worker sent, so it can be journaled verbatim — and any other
    /// message is decoded as `decode(_:peer:)` does.
    ///
    /// - Throws: `ChatbotTesterError(.proto)` naming `peer` and the field (`body[3].run.status`)
    ///   when the frame is not JSON or a record is not shaped like a `ClusterRecord`.
    public func decodeIncoming(_ payload: Data, peer: String) throws -> ClusterIncoming {
        if payload.count >= 2, payload[payload.startIndex] == 0, payload[payload.startIndex + 1] == Self.recordsFrameMagic[1] {
            return .records(try decodeRecordsFrame(payload, peer: peer))
        }
        if payload.count >= 2, payload[payload.startIndex] == 0, payload[payload.startIndex + 1] == Self.journaledFrameMagic[1] {
            return .journaled(try decodeJournaledFrame(payload, peer: peer))
        }
        if payload.first == 0 { return try decodeWithParts(payload, peer: peer) }
        // A records frame in the workers' shape is walked once, record by record; any fault (or
        // an unusual record) is read again below, which names it.
        if let body = Self.recordsShape(of: payload), let records = try? Self.walkRecords(payload, body: body) { return .records(records) }
        return try scanIncoming(payload, peer: peer)
    }

    /// A records frame with report parts (`encodeRecords(_:)`): its JSON read as any records
    /// frame, then one part per record, each checked against its record
    /// (`ClusterReportPart.mismatch`: sample id, index, size).
    ///
    /// - Throws: `ChatbotTesterError(.proto)` naming `peer` and the field (`parts[2]`) when the
    ///   parts are cut short, more or fewer than the records, or do not belong to their record.
    func decodeWithParts(_ payload: Data, peer: String) throws -> ClusterIncoming {
        func malformed(_ message: String, _ field: String? = nil) -> ChatbotTesterError {
            ChatbotTesterError(.proto, "malformed frame: \(message)", location: SourceLocation(source: peer, field: field))
        }
        var offset = payload.startIndex
        func length() -> Int? {
            guard payload.endIndex - offset >= 4 else { return nil }
            defer { offset += 4 }
            return payload[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        }
        guard payload.starts(with: Self.partsMagic) else { throw malformed("not JSON and not a records frame with report parts") }
        offset += Self.partsMagic.count
        guard let jsonLength = length(), payload.endIndex - offset >= jsonLength else { throw malformed("report parts: cut short") }
        let json = payload[offset..<(offset + jsonLength)]
        offset += jsonLength
        // Never nested: the JSON must be a records frame as JSON.
        guard json.first == UInt8(ascii: "{"), case .records(var records) = try decodeIncoming(json, peer: peer) else {
            throw malformed("report parts come only with a records frame")
        }
        for position in records.indices {
            guard let count = length(), payload.endIndex - offset >= count else {
                throw malformed("report parts: cut short (\(position) of \(records.count))", "parts[\(position)]")
            }
            defer { offset += count }
            guard count > 0 else { continue }
            let part = payload[offset..<(offset + count)]
            let record = records[position]
            if let mismatch = ClusterReportPart.mismatch(part, sampleId: record.sampleId, index: record.index, recordBytes: record.bytes.count) {
                throw ChatbotTesterError(.proto, "refused record: \(mismatch)", location: SourceLocation(source: peer, field: "parts[\(position)]"))
            }
            records[position].reportPart = part
        }
        guard offset == payload.endIndex else { throw malformed("report parts: \(payload.endIndex - offset) bytes after the last of \(records.count)", "parts") }
        return .records(records)
    }

    /// The records of a body in one walk (see `ClusterRecordEnvelope.init(walking:in:)`).
    static func walkRecords(_ payload: Data, body: Range<Int>) throws -> [ClusterRecordEnvelope] {
        var records: [ClusterRecordEnvelope] = []
        try JSONByteScanner.walk(payload, in: body) { walker in
            try walker.array { walker in records.append(try ClusterRecordEnvelope(walking: &walker, in: payload)) }
        }
        return records
    }

    /// `decodeIncoming` with each record scanned on its own (`ClusterRecordEnvelope(scanning:)`):
    /// what reads a frame the walk refused, with the fault's field.
    func scanIncoming(_ payload: Data, peer: String) throws -> ClusterIncoming {
        let elements: [Range<Int>]
        if let body = Self.recordsShape(of: payload), let scanned = try? JSONByteScanner.elements(ofArray: payload, in: body) {
            elements = scanned
        } else {
            // Any other shape, or a damaged frame: read as a whole (which names the fault).
            guard let body = try recordsBody(payload, peer: peer) else { return .message(try decode(payload, peer: peer)) }
            do {
                elements = try JSONByteScanner.elements(ofArray: payload, in: body)
            } catch {
                throw ChatbotTesterError(.proto, "malformed frame: \(error.message)", location: SourceLocation(source: peer, field: "body"))
            }
        }
        var records: [ClusterRecordEnvelope] = []
        records.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            let bytes = payload[(payload.startIndex + element.lowerBound)..<(payload.startIndex + element.upperBound)]
            do {
                records.append(try ClusterRecordEnvelope(scanning: bytes))
            } catch let error as ClusterRecordEnvelope.ShapeError {
                throw ChatbotTesterError(
                    .proto, "malformed frame: \(error.message)", location: SourceLocation(source: peer, field: "body[\(position)].\(error.field)"))
            } catch {
                throw ChatbotTesterError(.proto, "malformed frame: \(error)", location: SourceLocation(source: peer, field: "body[\(position)]"))
            }
        }
        return .records(records)
    }

    /// Where the body of `payload` sits when it is a records frame as workers write it (sorted
    /// keys, compact): `{"body":[…],"type":"records"}`. The body is then scanned once (by the
    /// caller), not once for the frame and again for the body. Nil for any other shape.
    static func recordsShape(of payload: Data) -> Range<Int>? {
        let head = recordsHead, tail = recordsTail
        guard payload.count > head.count + tail.count,
            payload.prefix(head.count).elementsEqual(head), payload.suffix(tail.count).elementsEqual(tail)
        else { return nil }
        return head.count..<(payload.count - tail.count)
    }

    private static let recordsHead = Array(#"{"body":"#.utf8)
    private static let recordsTail = Array(#","type":"records"}"#.utf8)

    /// Where the body of a records frame sits (any member order and spacing); nil for another message.
    private func recordsBody(_ payload: Data, peer: String) throws -> Range<Int>? {
        let members: [JSONByteScanner.Member]
        do {
            members = try JSONByteScanner.members(ofObject: payload)
        } catch {
            throw ChatbotTesterError(.proto, "malformed frame (\(error))", location: SourceLocation(source: peer))
        }
        guard let type = members.first(where: { $0.name == "type" }),
            (try? JSONByteScanner.string(payload, at: type.value)) == "records"
        else { return nil }
        for member in members where member.name != "type" && member.name != "body" {
            throw ChatbotTesterError(.proto, "malformed frame: unknown field", location: SourceLocation(source: peer, field: member.name))
        }
        guard let body = members.first(where: { $0.name == "body" })?.value else {
            throw ChatbotTesterError(.proto, "malformed frame: missing", location: SourceLocation(source: peer, field: "body"))
        }
        return body
    }
}

extension ClusterMessageCodec {
    /// The first bytes of a protocol-6 `records` frame (never the start of JSON, nor of a frame
    /// with report parts).
    static let recordsFrameMagic: [UInt8] = [0, UInt8(ascii: "R")]
    /// The bytes of a record's head in a protocol-6 `records` frame: index, JSON length, part length.
    public static let recordHeadBytes = 12

    /// The payload of a protocol-6 `records` frame: `[0]["R"][u32 count]` (little-endian) then each
    /// record's unit as the worker made it (`ClusterRecord.recordsFrameUnit(omittingSample:)`:
    /// `[u32 index][u32 JSON length][u32 part length][JSON][part]`). The coordinator reads the
    /// heads without walking any JSON and checks each record's bytes in one pass.
    public func encodeRecordsFrame(_ units: [Data]) -> Data {
        var out = Data(capacity: units.reduce(6) { $0 + $1.count })
        out.append(contentsOf: Self.recordsFrameMagic)
        ByteCoding.append(UInt32(units.count), to: &out)
        for unit in units { out.append(unit) }
        return out
    }

    /// The records of a protocol-6 `records` frame (`encodeRecordsFrame(_:)`), each checked: its
    /// head's lengths within the frame, its JSON one well-formed object on one line
    /// (`ClusterJSONLine`) shaped like a `ClusterRecord`, with the index its head gives, and its
    /// report part naming that record (`ClusterReportPart.mismatch`). A record in the workers'
    /// shape is read in that one checking pass (`JSONLineCursor.record()`); any other is read
    /// member by member (`ClusterRecordEnvelope(scanning:)`), which names a fault's field.
    ///
    /// - Throws: `ChatbotTesterError(.proto)` naming `peer` and the field (`records[2].run.status`,
    ///   `records[0].part`).
    func decodeRecordsFrame(_ payload: Data, peer: String) throws -> [ClusterRecordEnvelope] {
        func refused(_ message: String, _ field: String?) -> ChatbotTesterError {
            ChatbotTesterError(.proto, "malformed frame: \(message)", location: SourceLocation(source: peer, field: field))
        }
        return try payload.withUnsafeBytes { raw throws -> [ClusterRecordEnvelope] in
            let bytes = raw.bindMemory(to: UInt8.self)
            func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
            let head = Self.recordHeadBytes
            guard bytes.count >= 6 else { throw refused("records frame: cut short", "records") }
            let count = u32(2)
            // Each record takes at least its head and `{}`.
            guard count <= (bytes.count - 6) / (head + 2) else {
                throw refused("records frame: \(count) records do not fit in \(bytes.count) bytes", "records")
            }
            var records: [ClusterRecordEnvelope] = []
            records.reserveCapacity(count)
            var offset = 6
            for position in 0..<count {
                guard bytes.count - offset >= head else { throw refused("records frame: cut short (\(position) of \(count))", "records[\(position)]") }
                let index = u32(offset), jsonLength = u32(offset + 4), partLength = u32(offset + 8)
                let json = (offset + head)..<(offset + head + jsonLength)
                guard jsonLength > 0, bytes.count - json.lowerBound >= jsonLength, bytes.count - json.upperBound >= partLength else {
                    throw refused(
                        "record of \(jsonLength) bytes with a part of \(partLength) runs past the frame's end (\(bytes.count - json.lowerBound) bytes left)",
                        "records[\(position)]")
                }
                offset = json.upperBound + partLength
                var envelope = try Self.readRecord(payload, bytes, json, peer: peer, position: position)
                guard envelope.index == index else {
                    throw refused("record says index \(envelope.index), its head \(index)", "records[\(position)].index")
                }
                if partLength > 0 {
                    let part = payload[(payload.startIndex + json.upperBound)..<(payload.startIndex + offset)]
                    if let mismatch = ClusterReportPart.mismatch(part, sampleId: envelope.sampleId, index: index, recordBytes: jsonLength) {
                        throw ChatbotTesterError(.proto, "refused record: \(mismatch)", location: SourceLocation(source: peer, field: "records[\(position)].part"))
                    }
                    envelope.reportPart = part
                }
                records.append(envelope)
            }
            guard offset == bytes.count else { throw refused("\(bytes.count - offset) bytes after the last of \(count) records", "records") }
            return records
        }
    }

    /// The record at `range` of `bytes` (`payload`'s), read and checked (see `decodeRecordsFrame`).
    private static func readRecord(_ payload: Data, _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, peer: String, position: Int) throws
        -> ClusterRecordEnvelope
    {
        let record = payload[(payload.startIndex + range.lowerBound)..<(payload.startIndex + range.upperBound)]
        var cursor = JSONLineCursor(bytes: bytes, at: range.lowerBound, end: range.upperBound)
        if let layout = cursor.record(), let envelope = envelope(layout, bytes, record, base: range.lowerBound) { return envelope }
        // Another shape, or a fault: read member by member, which names the fault's field.
        let envelope: ClusterRecordEnvelope
        do {
            envelope = try ClusterRecordEnvelope(scanning: record)
        } catch let error as ClusterRecordEnvelope.ShapeError {
            throw ChatbotTesterError(.proto, "malformed frame: \(error.message)", location: SourceLocation(source: peer, field: "records[\(position)].\(error.field)"))
        } catch {
            throw ChatbotTesterError(.proto, "malformed frame: \(error)", location: SourceLocation(source: peer, field: "records[\(position)]"))
        }
        guard ClusterJSONLine.isObject(record) else {
            throw ChatbotTesterError(
                .proto, "malformed frame: a record must be one JSON object on one line (no line break, trailing comma or byte-order mark)",
                location: SourceLocation(source: peer, field: "records[\(position)]"))
        }
        return envelope
    }

    /// The envelope of a record the layout read; nil when a field is not what the lean read
    /// handles (another status, a run of another sample, an escaped id…): the caller reads the
    /// record member by member then.
    static func envelope(_ layout: ClusterRecordLayout, _ bytes: UnsafeBufferPointer<UInt8>, _ record: Data, base: Int) -> ClusterRecordEnvelope? {
        guard let start = bytes.baseAddress else { return nil }
        func equal(_ range: Range<Int>, _ text: StaticString) -> Bool {
            range.count == text.utf8CodeUnitCount && memcmp(start + range.lowerBound, text.utf8Start, range.count) == 0
        }
        func isNull(_ range: Range<Int>) -> Bool { equal(range, "null") }
        let id = layout.sampleId, runId = layout.runSampleId
        // The run's own id must be the record's (else the member-by-member read gives both, and the
        // state machine refuses the record naming them).
        guard id.count == runId.count, memcmp(start + id.lowerBound, start + runId.lowerBound, id.count) == 0 else { return nil }
        let status: RunRecord.Status
        if equal(layout.status, #""ok""#) {
            status = .ok
        } else if equal(layout.status, #""error""#) {
            status = .error
        } else {
            return nil
        }
        guard bytes[layout.sample.lowerBound] == UInt8(ascii: "{") || isNull(layout.sample) else { return nil }
        let inner = UnsafeBufferPointer(rebasing: bytes[(id.lowerBound + 1)..<(id.upperBound - 1)])
        guard !inner.contains(UInt8(ascii: "\\")) else { return nil }
        let sampleId = String(decoding: inner, as: UTF8.self)
        var cost: Double?
        if let range = layout.cost, !isNull(range) {
            let first = bytes[range.lowerBound]
            guard range.count <= 64, first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            // As `JSONByteScanner.optionalDouble` reads it: an integer as an `Int` first.
            guard let value = Int(text).map(Double.init) ?? Double(text) else { return nil }
            cost = value
        }
        func relative(_ range: Range<Int>) -> Range<Int> { (range.lowerBound - base)..<(range.upperBound - base) }
        var errorCode: String?
        if let range = layout.error, !isNull(range) {
            // A failed run (rare): its error's code read by the checked scanner.
            guard bytes[range.lowerBound] == UInt8(ascii: "{"),
                let code = try? JSONByteScanner.members(ofObject: record, in: relative(range)).first(where: { $0.name == "code" }),
                let text = try? JSONByteScanner.string(record, at: code.value)
            else { return nil }
            errorCode = text
        }
        return ClusterRecordEnvelope(
            bytes: record, sampleId: sampleId, index: layout.index, status: status, costUSD: cost, errorCode: errorCode, run: relative(layout.run),
            evals: relative(layout.evals), sample: relative(layout.sample), reportPart: nil)
    }
}

/// A short stable digest of a text (FNV-1a 64): what the manifest records of the job setup.
public enum ClusterDigest {
    /// FNV-1a 64 of a text, as 16 hex digits.
    public static func of(text: String) -> String {
        var hash = FNV1a64()
        hash.add(text)
        return hash.hex
    }
}

extension ClusterRecordEnvelope {
    /// The envelope of a record as the coordinator journals it (`{"evals":…,"index":…,"run":…,
    /// "sampleId":…}`, compact), read in one pass (`JSONLineCursor.record()`, the read a records
    /// frame gets); `init(scanning:)` for any other shape, which names a fault's field. Either
    /// way the bytes are checked to be well-formed JSON shaped like a record.
    static func reading(_ record: Data) throws -> ClusterRecordEnvelope {
        let lean: ClusterRecordEnvelope? = record.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var cursor = JSONLineCursor(bytes: bytes, at: 0, end: bytes.count)
            guard let layout = cursor.record() else { return nil }
            return ClusterMessageCodec.envelope(layout, bytes, record, base: 0)
        }
        return try lean ?? ClusterRecordEnvelope(scanning: record)
    }
}
