import ChatbotTesterCore
import Foundation
import Testing

/// Hostile datasets end in clear errors with bounded memory: strict JSON, line limits, devices.
@Suite struct StrictJSONSyntaxTests {
    static func problem(_ text: String) -> ChatbotTesterError? {
        do {
            try StrictJSONSyntax.check(Data(text.utf8))
            return nil
        } catch {
            return error as? ChatbotTesterError
        }
    }

    @Test(arguments: [
        (#"{"id":"a","input":"x","id":"b"}"#, "duplicate key 'id'", "id"),
        (#"{"id":"a","metadata":{"k":1,"k":2}}"#, "duplicate key 'k'", "metadata.k"),
        (#"{"id":"a","\u0069d":"b"}"#, "duplicate key 'id'", "id"),
        (#"{"id":"a","input":"x",}"#, "trailing comma", nil),
        (#"{"id":"a","turns":["x","y",]}"#, "trailing comma", "turns"),
        ("\u{FEFF}{\"id\":\"a\"}", "byte order mark", nil),
    ] as [(String, String, String?)])
    func refuses(_ text: String, _ message: String, _ field: String?) throws {
        let error = try #require(Self.problem(text), "\(text) was accepted")
        #expect(error.code == .invalidInput)
        #expect(error.message.contains(message), "\(error)")
        #expect(error.location?.field == field)
    }

    @Test func refusesUTF16AndUTF32() throws {
        for encoding: String.Encoding in [.utf16, .utf16LittleEndian, .utf16BigEndian, .utf32] {
            let data = try #require(#"{"id":"a","input":"b"}"#.data(using: encoding))
            let error = #expect(throws: ChatbotTesterError.self) { try StrictJSONSyntax.check(data) }
            #expect(error?.message.contains("not UTF-8") == true, "\(encoding): \(String(describing: error))")
        }
    }

    @Test(arguments: [
        #"{"id":"a","input":"x"}"#, #"{"a":[1,2,{"b":null}],"c":"\"quoted\" \\ {not, a key}","d":-1.5e3}"#, "[]", "{}",
        #"{"a":{"a":{"a":1}}}"#, #"{"s":"\uFEFF inside a string is text"}"#,
    ])
    func acceptsJSON(_ text: String) {
        #expect(Self.problem(text) == nil)
    }

    @Test func leavesOtherSyntaxErrorsToTheDecoder() {
        // Not JSON in ways JSONDecoder reports itself: the check stays quiet.
        for text in [#"{"id":"a""#, "{id: 1}", "nul", #"{"a":1 "b":2}"#] { #expect(Self.problem(text) == nil, "\(text)") }
    }

    @Test func refusesNestingDeeperThanTheLimit() {
        let deep = String(repeating: "[", count: StrictJSONSyntax.maxDepth + 1) + String(repeating: "]", count: StrictJSONSyntax.maxDepth + 1)
        #expect(Self.problem(deep)?.message.contains("nested deeper") == true)
        let fine = String(repeating: "[", count: StrictJSONSyntax.maxDepth) + String(repeating: "]", count: StrictJSONSyntax.maxDepth)
        #expect(Self.problem(fine) == nil)
    }
}

@Suite struct LineLimitTests {
    static func scratch(_ name: String, _ bytes: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID().uuidString)-\(name)")
        try bytes.write(to: url)
        return url
    }

    @Test func splitterKeepsNumbersSkipsBlanksAndDropsOnlyALeadingByteOrderMark() {
        var splitter = JSONL.LineSplitter()
        var lines = splitter.feed(Data("\u{FEFF}{\"a\":1}\r\n\n   \n{\"b\"".utf8))
        lines += splitter.feed(Data(":2}\n\u{FEFF}{}\n{\"c\":3}".utf8))
        if let last = splitter.finish() { lines.append(last) }
        #expect(lines.map(\.line) == [1, 4, 5, 6])
        #expect(lines.map { String(decoding: $0.bytes, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":2}", "\u{FEFF}{}", "{\"c\":3}"])
    }

    @Test func splitterStopsAtTheFirstOverlongLineEvenWithoutANewline() {
        var splitter = JSONL.LineSplitter(maxLineBytes: 10)
        #expect(splitter.feed(Data("0123456789\n".utf8)).count == 1)  // exactly the limit
        #expect(splitter.feed(Data(repeating: 0x41, count: 6)).isEmpty)
        #expect(splitter.overlongLine == nil)
        #expect(splitter.feed(Data(repeating: 0x41, count: 6)).isEmpty)  // 12 bytes pending, no newline yet
        #expect(splitter.overlongLine == 2)
        #expect(splitter.feed(Data("\n{}\n".utf8)).isEmpty)  // stopped
    }

    @Test func aFiftyMegabyteLineIsAnErrorNamingFileAndLine() async throws {
        var data = Data("{\"id\":\"ok\",\"input\":\"x\"}\n{\"id\":\"big\",\"input\":\"".utf8)
        data.append(Data(repeating: 0x78, count: 50 << 20))
        data.append(Data("\"}\n".utf8))
        let url = try Self.scratch("big.jsonl", data)
        data = Data()
        defer { try? FileManager.default.removeItem(at: url) }
        var good = 0
        let error = await #expect(throws: ChatbotTesterError.self) {
            for try await entry in JSONL.read(TestSample.self, from: url, maxLineBytes: JSONL.defaultMaxLineBytes) {
                if case .success = entry.result { good += 1 }
            }
        }
        #expect(good == 1)
        #expect(error?.location == SourceLocation(source: url.path, line: 2))
        #expect(error?.message.contains("longer than 16 MiB") == true)
        // A larger limit reads it.
        var read = 0
        for try await entry in JSONL.read(TestSample.self, from: url, maxLineBytes: 64 << 20) {
            if case .success = entry.result { read += 1 }
        }
        #expect(read == 2)
    }

    @Test(arguments: ["/dev/zero", "/dev/urandom", "/tmp"])
    func devicesAndDirectoriesAreRefused(_ path: String) async throws {
        let error = await #expect(throws: ChatbotTesterError.self) {
            for try await _ in JSONL.lines(of: URL(fileURLWithPath: path)) {}
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("not a file of lines") == true, "\(String(describing: error))")
    }

    @Test func aFIFOStreamsUnderTheSameLimit() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)")
        #expect(mkfifo(url.path, 0o600) == 0)
        defer { unlink(url.path) }
        let writer = Thread {
            let fd = open(url.path, O_WRONLY)
            let text = (1...100).map { "{\"id\":\"q\($0)\",\"input\":\"hi\"}\n" }.joined() + String(repeating: "y", count: 2000) + "\n"
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        writer.start()
        var count = 0
        let error = await #expect(throws: ChatbotTesterError.self) {
            for try await entry in JSONL.read(TestSample.self, from: url, maxLineBytes: 1000) {
                if case .success = entry.result { count += 1 }
            }
        }
        #expect(count == 100)
        #expect(error?.location?.line == 101)
    }
}

@Suite struct ProgressPastItsEstimateTests {
    @Test func aCountPastAnEstimatedTotalShowsNoTotalPercentOrETA() {
        var snapshot = ProgressSnapshot(stage: "generate", startedAt: 0)
        snapshot.apply(.started(stage: "generate", total: 39), now: 0)
        snapshot.apply(.advanced(stage: "generate", succeeded: true, count: 86), now: 10)
        let plain = ProgressRenderer.line([snapshot], now: 10, style: .plain)
        let terminal = ProgressRenderer.line([snapshot], now: 10, style: .terminal(width: 120))
        for text in [plain, terminal] {
            #expect(text.contains("86") && !text.contains("86/39") && !text.contains("%") && !text.contains("ETA"), "\(text)")
        }
        snapshot.apply(.advanced(stage: "generate", succeeded: true, count: 0), now: 11)
        var within = ProgressSnapshot(stage: "run", startedAt: 0)
        within.apply(.started(stage: "run", total: 40), now: 0)
        within.apply(.advanced(stage: "run", succeeded: true, count: 10), now: 1)
        #expect(ProgressRenderer.line([within], now: 1, style: .plain).contains("10/40 (25%)"))
    }
}
