import ChatbotTester
import Foundation
import Testing

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
