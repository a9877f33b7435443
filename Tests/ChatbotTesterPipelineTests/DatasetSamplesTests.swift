import ChatbotTester
import Foundation
import Testing

@testable import ChatbotTesterCore
@testable import ChatbotTesterPipeline

/// The dataset as the Runner reads it: without a task per case from a regular file, the same
/// cases as `samples()` (bad lines skipped, `limit` and `tags` applied); a pipe is left to `samples()`.
@Suite struct DatasetSamplesTests {
    static func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-\(UUID().uuidString).jsonl")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static let lines = (0..<40).map { index in
        index == 7 ? #"{"id":"bad","input":3}"# : #"{"id":"c\#(index)","input":"q\#(index)","tags":["t\#(index % 3)"]}"#
    }.joined(separator: "\n")  // the last line has no newline

    @Test(arguments: [(nil, nil), (5, nil), (nil, ["t1"]), (4, ["t2"]), (100, ["t0", "t1"])] as [(Int?, [String]?)])
    func aRegularFileIsReadImmediatelyAsSamplesReadsIt(limit: Int?, tags: [String]?) async throws {
        let url = try Self.write(Self.lines)
        defer { try? FileManager.default.removeItem(at: url) }
        let reader = DatasetReader(url: url, limit: limit, tags: tags)
        var expected: [TestSample] = []
        for try await sample in reader.samples() { expected.append(sample) }
        let immediate = try #require(reader.runnerSamples().makeImmediateReader())
        var read: [TestSample] = []
        while let sample = try immediate.next() { read.append(sample) }
        #expect(read == expected)
        #expect(!read.isEmpty && !read.contains { $0.id == "bad" })
        var viaIterator: [TestSample] = []
        for try await sample in reader.runnerSamples() { viaIterator.append(sample) }
        #expect(viaIterator == expected)
    }

    /// The scan hands each case that will run to `each` in the pass that checks the file (what
    /// the sharded run spools from): the cases `samples()` gives, in order, while no bad line came
    /// before them.
    @Test(arguments: [(nil, nil), (5, nil), (nil, ["t1"]), (4, ["t2"])] as [(Int?, [String]?)])
    func theScanHandsOverTheCasesSamplesGivesInTheSamePass(limit: Int?, tags: [String]?) async throws {
        let clean = (0..<40).map { #"{"id":"c\#($0)","input":"q\#($0)","tags":["t\#($0 % 3)"]}"# }.joined(separator: "\n")
        let url = try Self.write(clean)
        defer { try? FileManager.default.removeItem(at: url) }
        let reader = DatasetReader(url: url, limit: limit, tags: tags)
        var expected: [TestSample] = []
        for try await sample in reader.samples() { expected.append(sample) }
        var handed: [TestSample] = []
        let scan = try await reader.scan { handed.append($0) }
        #expect(scan.invalid == 0 && scan.selected == expected.count)
        #expect(handed == expected)
        // With a bad line, nothing after it is handed over (the scan still counts and reports it all).
        let damaged = try Self.write(Self.lines)
        defer { try? FileManager.default.removeItem(at: damaged) }
        var before: [String] = []
        let refused = try await DatasetReader(url: damaged, limit: limit, tags: tags).scan { before.append($0.id) }
        #expect(refused.invalid == 1 && refused.errors.first?.location?.line == 8)
        #expect(before.allSatisfy { Int($0.dropFirst())! < 7 })
    }

    /// `scanLines` (the sharded run's spool pass: most lines checked at the byte level, not decoded)
    /// gives the verdicts, messages, counts and selection of `scan`, and hands over each selected
    /// case's JSON as written (without the whitespace around it) with the id the decoder reads.
    @Test(arguments: [(nil, nil), (5, nil), (nil, ["t1"]), (4, ["t2"])] as [(Int?, [String]?)])
    func theLinesScanGivesWhatTheDecodingScanGives(limit: Int?, tags: [String]?) async throws {
        var lines = (0..<30).map { #"{"id": "c\#($0)", "input":"q\#($0)","tags":["t\#($0 % 3)"]}"# }
        lines[3] = #"  {"input":"q3","id":"c\u0033","tags":["t0"]}"# + "\r"  // escaped id: decoded
        lines[5] = #"{"id":"c5","input":"q5","tags":["t2"],"metadata":{"n":1.5e300}}"#  // an exponent: decoded
        let clean = lines.joined(separator: "\n")
        let url = try Self.write(clean)
        defer { try? FileManager.default.removeItem(at: url) }
        let reader = DatasetReader(url: url, limit: limit, tags: tags)
        var decoded: [TestSample] = []
        let scan = try await reader.scan { decoded.append($0) }
        var handed: [JSONL.CaseLine] = []
        let lineScan = try await reader.scanLines { handed.append($0) }
        #expect(lineScan.selected == scan.selected)
        #expect(lineScan.invalid == 0 && scan.invalid == 0, "\(scan.errors) \(lineScan.errors)")
        #expect(handed.map { try? $0.result.get().id } == decoded.map(\.id))
        for (line, sample) in zip(handed, decoded) {
            let text = String(decoding: line.bytes, as: UTF8.self)
            #expect(text == lines[line.line - 1].trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(try JSONCoding.decoder().decode(TestSample.self, from: line.bytes) == sample)
        }
        // Bad lines and a repeated id: the same errors, in the same words, at the same lines.
        let damaged = try Self.write(Self.lines + "\n" + #"{"id": "c2", "input": "again"}"# + "\n" + #"{"id":"x","input":"y","extra":1}"#)
        defer { try? FileManager.default.removeItem(at: damaged) }
        let refusedReader = DatasetReader(url: damaged, limit: limit, tags: tags)
        let refused = try await refusedReader.scan(each: nil)
        var handedBeforeRefusal: [String] = []
        let refusedLines = try await refusedReader.scanLines { handedBeforeRefusal.append((try? $0.result.get().id) ?? "?") }
        #expect(refused.invalid == 3 && refusedLines.invalid == 3)
        #expect(refusedLines.errors.map(\.description) == refused.errors.map(\.description))
        #expect(handedBeforeRefusal.allSatisfy { Int($0.dropFirst())! < 7 })
    }

    @Test func aPipeIsNotReadImmediately() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)")
        #expect(mkfifo(url.path, 0o600) == 0)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(DatasetReader(url: url).runnerSamples().makeImmediateReader() == nil)
        #expect(DatasetReader(url: url.appendingPathExtension("missing")).runnerSamples().makeImmediateReader() == nil)
    }

    @Test func anOverlongLineIsThrownByTheImmediateReader() throws {
        let url = try Self.write(#"{"id":"a","input":"x"}"# + "\n" + #"{"id":"b","input":""# + String(repeating: "y", count: 4000) + "\"}\n")
        defer { try? FileManager.default.removeItem(at: url) }
        let immediate = try #require(DatasetReader(url: url, maxLineBytes: 1024).runnerSamples().makeImmediateReader())
        #expect(try immediate.next()?.id == "a")
        #expect(throws: ChatbotTesterError.self) { try immediate.next() }
    }
}

/// The scan's guess of how many cases a file holds (to size its set of ids once): the file's size
/// over its first lines' bytes, for a regular file with enough lines, capped; none otherwise.
@Suite struct DatasetExpectedCasesTests {
    static func batch(_ lines: [String]) -> [JSONL.CaseLine] {
        lines.enumerated().map { JSONL.CaseLine(line: $0.offset + 1, bytes: Data($0.element.utf8), result: .failure(ChatbotTesterError(.invalidInput, "unused"))) }
    }

    @Test func aRegularFileIsJudgedByItsFirstLines() throws {
        let lines = (0..<1_000).map { #"{"id":"c\#(String(format: "%04d", $0))","input":"question"}"# }
        let url = try DatasetSamplesTests.write(lines.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(at: url) }
        let guess = try #require(DatasetReader.expectedCases(in: url, from: Self.batch(Array(lines.prefix(100)))))
        #expect(guess >= 1_000 && guess <= 1_100, "\(guess)")
        // Too few lines to judge by, or no file: no guess.
        #expect(DatasetReader.expectedCases(in: url, from: Self.batch(Array(lines.prefix(10)))) == nil)
        #expect(DatasetReader.expectedCases(in: url.appendingPathExtension("gone"), from: Self.batch(lines)) == nil)
        // Short first lines before long ones: the guess is capped.
        let big = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString).jsonl")
        #expect(FileManager.default.createFile(atPath: big.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: big) }
        let handle = try FileHandle(forWritingTo: big)
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        #expect(DatasetReader.expectedCases(in: big, from: Self.batch(lines)) == 1 << 20)
    }
}
