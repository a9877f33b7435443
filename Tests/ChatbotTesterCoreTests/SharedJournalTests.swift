import Foundation
import Testing

@testable import ChatbotTesterCore

/// A write of the journal that fails part-way: a journal of its own is cut back to its last whole
/// line; a journal other processes append to as well (a cluster's workers) is not cut, since what
/// they appended since would go with it, and the lines are written again after a newline.
@Suite struct SharedJournalTests {
    /// A writer that, the first time, lets "another process" append `interloper`, then writes
    /// `keep` bytes of the buffer and fails (as a full disk would); afterwards writes whole.
    final class FailingOnce: @unchecked Sendable {
        let url: URL, interloper: String, keep: (Int) -> Int
        var failed = false
        init(url: URL, interloper: String, keep: @escaping (Int) -> Int) {
            self.url = url
            self.interloper = interloper
            self.keep = keep
        }
        func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
            guard !failed else { return FileJournal.writeAll(fd, buffer) }
            failed = true
            if !interloper.isEmpty { SharedJournalTests.appendAsAnotherProcess(interloper, to: url) }
            _ = Foundation.write(fd, buffer.baseAddress!, keep(buffer.count))
            return false
        }
    }

    static func appendAsAnotherProcess(_ text: String, to url: URL) {
        let other = open(url.path, O_WRONLY | O_APPEND)
        _ = text.withCString { Foundation.write(other, $0, strlen($0)) }
        close(other)
    }

    static func lines(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// A journal holding the line "a", then "b-line" and "c-line" whose write fails as `failing`
    /// says (made for the journal's file); `shared` as a cluster's spool journal is.
    static func journalWithAFailedWrite(shared: Bool, _ failing: (URL) -> FailingOnce) throws -> (URL, FileJournal) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).jsonl")
        let journal = try FileJournal(url: url, mode: 0o600)
        journal.separatesWrites = shared
        try journal.appendNow(Data("a".utf8))
        try journal.syncNow()
        let writer = failing(url)
        journal.writeBuffer = { writer.write($0, $1) }
        try journal.appendNow(Data("b-line".utf8))
        try journal.appendNow(Data("c-line".utf8))
        #expect(throws: ChatbotTesterError.self) { try journal.syncNow() }
        return (url, journal)
    }

    @Test func aSharedJournalKeepsWhatOthersAppendedWhenAWriteFails() throws {
        // "\nb-line\nc-line\n": the failing write leaves "\nb-line\nc" behind the worker's line.
        let (url, journal) = try Self.journalWithAFailedWrite(shared: true) { FailingOnce(url: $0, interloper: "\nworker-1\n", keep: { $0 / 2 + 2 }) }
        defer { try? FileManager.default.removeItem(at: url) }
        Self.appendAsAnotherProcess("\nworker-2\n", to: url)
        try journal.appendNow(Data("d-line".utf8))
        try journal.syncNow()
        try journal.closeNow()
        let lines = try Self.lines(url)
        #expect(lines == ["a", "worker-1", "b-line", "c", "worker-2", "b-line", "c-line", "d-line"], "\(lines)")
    }

    @Test func aJournalOfItsOwnIsCutBackToItsLastWholeLine() throws {
        let (url, journal) = try Self.journalWithAFailedWrite(shared: false) { FailingOnce(url: $0, interloper: "", keep: { $0 / 2 + 1 }) }
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try String(contentsOf: url, encoding: .utf8) == "a\n")
        try journal.syncNow()
        try journal.closeNow()
        #expect(try String(contentsOf: url, encoding: .utf8) == "a\nb-line\nc-line\n")
    }
}
