@_spi(Fuzzing) import ChatbotTesterBackends
import ChatbotTesterCluster
import ChatbotTesterClusterPipeline
import ChatbotTesterCore
import ChatbotTesterEvaluator
@_spi(Fuzzing) import ChatbotTesterHTTP
import ChatbotTesterPipeline
import Foundation

/// Checks that hold for any input bytes, one per parser the project wrote itself: a hand-written
/// byte path must give what its reference gives (the same value, or an error where the reference
/// refuses), and no input may crash, hang or grow without bound. Driven by libFuzzer
/// (`ops/fuzz.sh`) and, over the saved corpus, by the test suite.
public enum FuzzHarness: String, CaseIterable, Sendable {
    /// `JSONByteParser.parse` against `JSONDecoder` into `JSONValue`.
    case json
    /// `JSONCoding.decodeRecord` (the byte path first) against `JSONDecoder` for the record types.
    case records
    /// `JSONL.decode` of a dataset or record line (the strict byte reader first) against
    /// `StrictJSONSyntax.check` and `JSONDecoder`.
    case line
    /// `ClusterRecord.decode(journalLine:)` against `JSONDecoder`.
    case journalLine
    /// A worker's and a coordinator's view of one frame payload: `decodeAtWorker` against
    /// `decode`, and `decodeIncoming` (records frames read by bytes).
    case frame
    /// A `journaled` frame and the journal it names (`[u32 frame length][frame][journal]`): the
    /// coordinator's read of each line it names, which checks only the line's frame (the worker
    /// wrote it), must read what the checked scan of the line reads whenever that scan accepts it.
    case journaled
    /// `ClusterFrameDecoder` fed the input in pieces: the same payloads as fed whole.
    case framing
    /// The own HTTP/1.1 client's reply parser fed the input in pieces: the same reply (or the
    /// same refusal) as fed whole, the body within its limit.
    case httpReply
    /// The server-sent events parser of streamed replies, fed in pieces: the same events.
    case serverSentEvents
    /// `JSONRepair.parse` of a model's reply: valid JSON comes back as it is with no repair, and a
    /// repaired value, written back as JSON, parses with no repair (and, from then on, to itself).
    case jsonRepair
    /// A job config (YAML or JSON) read and checked as `test` reads it: an error or a config, never
    /// a crash or a hang (aliases, deep nesting, `${VAR}` expansions included).
    case config
    /// A dataset line as the sharded run's spool pass reads it (`JSONL.CaseReader.caseLine`: the
    /// byte check, decoding only what it cannot vouch for) against `JSONL.decode`: the same
    /// verdict, id and file:line of a refusal; the bytes it spools are the line without the whitespace around it,
    /// decode to the same case, and make a shard line that reads back as that case.
    case caseLine
    /// The proxy variables (`[http_proxy] 0x00 [no_proxy] 0x00 [host of a plain http URL]`) as the
    /// own HTTP path reads them: a route never names the credentials (`host:port` only), the head it
    /// writes is one request line and whole header lines (a `Proxy-Authorization` of base64 only),
    /// and the same input routes the same way twice.
    case proxy
    /// A worker's summary of its report pieces (protocol 12, `ReportPieceSummary.decode`), then put
    /// together over a pieces file of 256 bytes (`ReportPieceAssembly`): a refusal, or a summary that
    /// writes back to bytes reading as itself, and an assembly that refuses it or writes a
    /// `results.csv` of exactly the header and the bytes its ranges name — never a crash.
    case reportPieces
    /// The order a coordinator sends the worker that puts the pieces together (protocol 13,
    /// `ReportsOrder.decode`): a refusal, or an order that writes back to exactly its bytes — never
    /// a crash, and nothing allocated for counts its bytes cannot hold.
    case reportsOrder

    /// Runs the check on `input`; the returned text says what went wrong (nil: it held).
    public func check(_ input: Data) -> String? {
        switch self {
        case .json: return Self.checkJSON(input)
        case .records: return Self.checkRecords(input)
        case .line: return Self.checkLine(input)
        case .journalLine: return Self.checkJournalLine(input)
        case .frame: return Self.checkFrame(input)
        case .journaled: return Self.checkJournaled(input)
        case .framing: return Self.checkFraming(input)
        case .httpReply: return Self.checkPieces(input) { bytes, piece in
                ParsersForFuzzing.httpReply(bytes, piece: piece, maxBodyBytes: 4096, headRequest: false)
            }
        case .serverSentEvents: return Self.checkPieces(input) { bytes, piece in
                ParsersForFuzzing.serverSentEvents(bytes, piece: piece, maxEventBytes: 4096)
            }
        case .config: return Self.checkConfig(input)
        case .jsonRepair: return Self.checkJSONRepair(input)
        case .caseLine: return Self.checkCaseLine(input)
        case .proxy: return Self.checkProxy(input)
        case .reportPieces: return Self.checkReportPieces(input)
        case .reportsOrder: return Self.checkReportsOrder(input)
        }
    }

    /// The regular files at `url` (a file, or a directory's files, sorted by name).
    public static func files(at url: URL) -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [url] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { url.appendingPathComponent($0) }
    }

    /// The input as text (bytes outside printable ASCII as `\xNN`), cut at 600 bytes.
    public static func describe(_ input: Data) -> String {
        var text = ""
        for byte in input.prefix(600) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return input.count > 600 ? text + "… (\(input.count) bytes)" : text
    }

    /// What differs between a byte path's outcome and its reference's: a value against another,
    /// or one side accepting what the other refuses (both refusing is agreement).
    static func disagreement<Value: Equatable>(_ label: String, fast: Result<Value, any Error>, reference: Result<Value, any Error>) -> String? {
        switch (fast, reference) {
        case (.success(let a), .success(let b)):
            return a == b ? nil : "\(label): the byte path gave \(a), the reference \(b)"
        case (.success(let a), .failure(let error)):
            return "\(label): the byte path accepted \(a), the reference refused: \(error)"
        case (.failure(let error), .success(let b)):
            return "\(label): the byte path refused (\(error)), the reference gave \(b)"
        case (.failure, .failure):
            return nil
        }
    }

    static func checkJSON(_ input: Data) -> String? {
        let fast = Result { () throws -> JSONValue in try JSONByteParser.parse(input) }
        // Refusing what JSONDecoder takes is the parser's right where `StrictJSONSyntax` refuses
        // it too (a NUL byte JSONDecoder skips, a byte order mark inside the text).
        if case .failure = fast, (try? StrictJSONSyntax.check(input)) == nil { return nil }
        return disagreement("JSON", fast: fast, reference: Result { try JSONCoding.decoder().decode(JSONValue.self, from: input) })
    }

    static func checkRecords(_ input: Data) -> String? {
        checkRecord(TestSample.self, input) ?? checkRecord(RunRecord.self, input) ?? checkRecord(EvalRecord.self, input)
    }

    private static func checkRecord<Value: Codable & Equatable>(_ type: Value.Type, _ input: Data) -> String? {
        let decoder = JSONCoding.decoder()
        return disagreement(
            "\(type)", fast: Result { try JSONCoding.decodeRecord(type, from: input, decoder: decoder) },
            reference: Result { try decoder.decode(type, from: input) })
    }

    static func checkLine(_ input: Data) -> String? {
        checkLine(TestSample.self, input) ?? checkLine(RunRecord.self, input) ?? checkLine(EvalRecord.self, input)
    }

    private static func checkLine<Value: Codable & Equatable>(_ type: Value.Type, _ input: Data) -> String? {
        let decoder = JSONCoding.decoder()
        return disagreement(
            "\(type) line", fast: JSONL.decode(type, from: input, source: "fuzz", line: 1, decoder: decoder).mapError { $0 as any Error },
            reference: Result {
                try StrictJSONSyntax.check(input)
                return try decoder.decode(type, from: input)
            })
    }

    static func checkCaseLine(_ input: Data) -> String? {
        // One line, as the line reader hands it over (no newline in it).
        let line = input.firstIndex(of: 0x0A).map { input[input.startIndex..<$0] } ?? input[...]
        let bytes = Data(line)
        let decoder = JSONCoding.decoder()
        let read = JSONL.CaseReader.caseLine(1, bytes, source: "fuzz", decoder: decoder)
        let reference = JSONL.decode(TestSample.self, from: bytes, source: "fuzz", line: 1, decoder: decoder)
        switch (read.result, reference) {
        case (.failure(let error), .failure(let expected)):
            // The same file and line. (Not always the same field: with several bad members in an
            // object, which one the decoder names first depends on its dictionary's order.)
            let same = error.location?.source == expected.location?.source && error.location?.line == expected.location?.line
            return same ? nil : "case line refused as \(error), the decoder says \(expected)"
        case (.success(let found), .success(let sample)):
            guard found.id == sample.id else { return "case line read with id \(found.id), the decoder reads \(sample.id)" }
            let space: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
            let trimmed = Data(bytes.drop { space.contains($0) }.reversed().drop { space.contains($0) }.reversed())
            guard read.bytes == trimmed else { return "case line spools \(read.bytes.count) bytes, not the line's \(trimmed.count) without its whitespace" }
            guard case .success(let spooled) = JSONL.decode(TestSample.self, from: read.bytes, source: "fuzz", line: 1, decoder: decoder), spooled == sample
            else { return "the spooled bytes do not decode to the line's case" }
            var shardLine = Data(#"{"index":0,"sample":"#.utf8)
            shardLine.append(read.bytes)
            shardLine.append(UInt8(ascii: "}"))
            guard let indexed = try? decoder.decode(IndexedSample.self, from: shardLine), indexed.sample == sample, indexed.index == 0 else {
                return "the shard line of the case does not read back as it"
            }
            return nil
        case (.success(let found), .failure(let expected)):
            return "case line accepted (id \(found.id)), the decoder refuses it: \(expected)"
        case (.failure(let error), .success):
            return "case line refused (\(error)), the decoder accepts it"
        }
    }

    static func checkJournalLine(_ input: Data) -> String? {
        let decoder = JSONCoding.decoder()
        return disagreement(
            "journal line", fast: Result { try ClusterRecord.decode(journalLine: input, decoder: decoder) },
            reference: Result { try decoder.decode(ClusterRecord.self, from: input) })
    }

    static func checkFrame(_ input: Data) -> String? {
        let codec = ClusterMessageCodec()
        if let failure = disagreement(
            "frame at a worker", fast: Result { try codec.decodeAtWorker(input, peer: "fuzz") },
            reference: Result { try codec.decode(input, peer: "fuzz") })
        {
            return failure
        }
        _ = try? codec.decodeIncoming(input, peer: "fuzz")
        return nil
    }

    static func checkJournaled(_ input: Data) -> String? {
        let bytes = [UInt8](input)
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        guard length <= bytes.count - 4 else { return nil }
        let frame = Data(bytes[4..<(4 + length)]), journal = Data(bytes[(4 + length)...])
        guard case .journaled(let batch)? = try? ClusterMessageCodec().decodeIncoming(frame, peer: "fuzz") else { return nil }
        for item in batch.items where item.line.upperBound <= journal.count {
            guard let read = try? ClusterRecordEnvelope(journaledLine: journal[item.line], item: item) else { continue }
            guard read.bytes.count == item.line.count - 1, let checked = try? ClusterRecordEnvelope(scanning: read.bytes) else { continue }
            if checked.sampleId != read.sampleId || checked.index != read.index || checked.runRange != read.runRange || checked.evalsRange != read.evalsRange {
                return "journaled line \(item.line) read as \(read.sampleId)@\(read.index) run \(read.runRange) evals \(read.evalsRange); checked: \(checked.sampleId)@\(checked.index) run \(checked.runRange) evals \(checked.evalsRange)"
            }
        }
        return nil
    }

    /// The outcome of `parse` fed the input (after its first byte, which picks the piece size)
    /// whole and in pieces must be the same, and within the parser's limits.
    static func checkPieces(_ input: Data, _ parse: ([UInt8], Int) -> ParsersForFuzzing.Outcome) -> String? {
        guard let first = input.first else { return nil }
        let piece = Int(first % 17) + 1
        let bytes = [UInt8](input.dropFirst())
        let whole = parse(bytes, 0)
        if let violation = whole.violation { return "fed whole: \(violation)" }
        let pieces = parse(bytes, piece)
        if let violation = pieces.violation { return "in pieces of \(piece): \(violation)" }
        return whole == pieces ? nil : "fed whole: \(whole.description.prefix(300))\nin pieces of \(piece): \(pieces.description.prefix(300))"
    }

    static func checkJSONRepair(_ input: Data) -> String? {
        let text = String(decoding: input, as: UTF8.self)
        let repaired = JSONRepair.parse(text)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = try? JSONByteParser.parse(Array(trimmed.utf8)), value.objectValue != nil || value.arrayValue != nil {
            guard case .success(let outcome) = repaired, outcome.value == value, outcome.repairs.isEmpty else {
                return "valid JSON came back as \(repaired), not as itself"
            }
            return nil
        }
        guard case .success(let outcome) = repaired else { return nil }
        // Written back, the value parses with no repair; once more, to itself (the first trip may
        // turn an integral double into an integer, as any JSON reading of `JSONValue` does).
        let written = String(decoding: JSONByteWriter.bytes(outcome.value), as: UTF8.self)
        guard case .success(let again) = JSONRepair.parse(written), again.repairs.isEmpty else {
            return "the repaired value \(written.prefix(300)) needs repairs: \(JSONRepair.parse(written))"
        }
        let rewritten = String(decoding: JSONByteWriter.bytes(again.value), as: UTF8.self)
        guard case .success(let third) = JSONRepair.parse(rewritten), third.value == again.value, third.repairs.isEmpty else {
            return "the repaired value \(rewritten.prefix(300)) does not parse back to itself: \(JSONRepair.parse(rewritten))"
        }
        return nil
    }

    static func checkConfig(_ input: Data) -> String? {
        // The directory the config's relative paths resolve against: one that holds nothing.
        let base = URL(fileURLWithPath: "/nonexistent-chatbot-tester-fuzz", isDirectory: true)
        let text = String(decoding: input, as: UTF8.self)
        guard let document = try? ConfigDocument.parse(text, source: "fuzz.yaml", environment: ["HOME": "/root", "WORKERS": "4"]) else { return nil }
        _ = try? JobConfig(document: document, baseDirectory: base)
        return nil
    }

    static func checkProxy(_ input: Data) -> String? {
        let parts = input.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let proxyText = parts.first ?? "", noProxy = parts.count > 1 ? parts[1] : "", host = parts.count > 2 ? parts[2] : "example.com"
        let settings = HTTPProxySettings(environment: ["http_proxy": proxyText, "no_proxy": noProxy])
        let url = "http://\(host)/path"
        let head = ProxyHeadsForFuzzing.head(url: url, settings: settings)
        guard case .success(let text) = head else { return nil }
        guard text == (try? ProxyHeadsForFuzzing.head(url: url, settings: settings).get()) else { return "the same request was routed two ways" }
        guard let text else { return nil }
        let lines = text.components(separatedBy: "\r\n")
        guard lines.count >= 3, lines[lines.count - 1].isEmpty, lines[lines.count - 2].isEmpty else { return "the head does not end in one blank line" }
        guard lines[0].hasPrefix("GET "), lines[0].hasSuffix(" HTTP/1.1"), !lines[0].contains("\n") else { return "the request line is broken: \(lines[0])" }
        for line in lines.dropFirst().dropLast(2) {
            guard let colon = line.firstIndex(of: ":"), !line.contains("\n"), !line.contains("\r") else { return "a header line is broken" }
            if line[..<colon].lowercased() == "proxy-authorization" {
                let value = line[line.index(colon, offsetBy: 2)...]
                guard value.hasPrefix("Basic "), value.dropFirst(6).allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+/=".contains($0)) }) else {
                    return "Proxy-Authorization is not Basic base64"
                }
            }
        }
        // Through a proxy, the description names host and port only: no credentials.
        if let target = lines[0].split(separator: " ").dropFirst().first, target.hasPrefix("http://") {
            let endpoint = ProxyHeadsForFuzzing.endpoint(url)
            guard case .proxy(let proxy) = settings.route(host: endpoint?.host ?? "", port: endpoint?.port ?? 80) else {
                return "an absolute request line without a proxy"
            }
            let allowed = proxy.description.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:[]".contains($0)) }
            guard allowed, !proxy.description.contains("@") else { return "the proxy's description holds more than host and port" }
        }
        return nil
    }

    static func checkReportPieces(_ input: Data) -> String? {
        guard let summary = try? ReportPieceSummary.decode(input) else { return nil }
        guard let bytes = try? summary.encoded(), let again = try? ReportPieceSummary.decode(bytes), again == summary else {
            return "a summary does not read back as itself"
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ct-fuzz-pieces-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("pieces"), csv = directory.appendingPathComponent("results.csv")
        guard (try? Data((0..<256).map { UInt8($0) }).write(to: file)) != nil else { return nil }
        let records = summary.blocks.reduce(0) { $0 + min($1.count, 1 << 20) }
        guard let assembly = try? ReportPieceAssembly([(summary, file)], records: records) else { return nil }
        guard (try? assembly.writeCSV(to: csv)) != nil, let written = try? Data(contentsOf: csv) else { return "an assembly that was accepted cannot write results.csv" }
        var expected = Data(CSVReportWriter.headerBytes)
        for block in summary.blocks {
            for at in stride(from: 0, to: block.csv.count, by: 2) { expected.append(contentsOf: (block.csv[at]..<block.csv[at + 1]).map { UInt8($0) }) }
        }
        return written == expected ? nil : "results.csv holds \(written.count) bytes, not the header and the \(expected.count - CSVReportWriter.headerBytes.count) its ranges name"
    }

    static func checkReportsOrder(_ input: Data) -> String? {
        guard let order = try? ReportsOrder.decode(input) else { return nil }
        return order.encoded() == input ? nil : "an order does not write back to its bytes"
    }

    static func checkFraming(_ input: Data) -> String? {
        guard input.count >= 1 else { return nil }
        // The first byte picks the cut points; the rest is the stream.
        let step = Int(input[input.startIndex] % 13) + 1
        let stream = input.dropFirst()
        var whole = ClusterFrameDecoder(maxFrameSize: 1 << 16)
        let all = Result { try stream.withUnsafeBytes { try whole.feed($0) } }
        var pieces = ClusterFrameDecoder(maxFrameSize: 1 << 16)
        var fed: [Data] = []
        var failed = false
        var offset = stream.startIndex
        while offset < stream.endIndex {
            let end = min(stream.endIndex, offset + step)
            do {
                fed += try stream[offset..<end].withUnsafeBytes { try pieces.feed($0) }
            } catch {
                failed = true
                break
            }
            offset = end
        }
        switch all {
        case .success(let frames):
            if failed { return "fed in pieces of \(step) the stream failed; whole it gave \(frames.count) frames" }
            if frames != fed { return "fed in pieces of \(step): \(fed.count) frames, whole \(frames.count)" }
            if whole.bufferedByteCount != pieces.bufferedByteCount { return "held bytes differ: \(whole.bufferedByteCount) vs \(pieces.bufferedByteCount)" }
        case .failure:
            if !failed { return "whole the stream failed; fed in pieces of \(step) it did not" }
        }
        return nil
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
