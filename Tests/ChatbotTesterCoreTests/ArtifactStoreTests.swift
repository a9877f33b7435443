import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@Suite struct ArtifactStoreTests {
    @Test func atomicWriteReplacesAndLeavesNoTempFiles() async throws {
        let root = try makeTemporaryDirectory()
        let store = FileArtifactStore(root: root)
        try await store.write(Data("one".utf8), to: "runs/r1/summary.json")
        try await store.write(Data("two".utf8), to: "runs/r1/summary.json")
        #expect(try await store.read("runs/r1/summary.json") == Data("two".utf8))
        let all = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("runs/r1").path)
        #expect(all == ["summary.json"])
        #expect(try await store.list(prefix: "runs/") == ["runs/r1/summary.json"])
        #expect(try await store.list(prefix: "runs/r1/sum") == ["runs/r1/summary.json"])
        #expect(try await store.list(prefix: "other/") == [])
        #expect(await store.exists("runs/r1/summary.json"))
        try await store.delete("runs/r1/summary.json")
        #expect(await !store.exists("runs/r1/summary.json"))
        try await store.delete("runs/r1/summary.json")
    }

    @Test func createIfAbsentHasExactlyOneWinnerAndLeavesNoTempFiles() async throws {
        let root = try makeTemporaryDirectory()
        let store = FileArtifactStore(root: root)
        #expect(try await store.createIfAbsent(Data("first".utf8), at: "claims/0"))
        #expect(try await !store.createIfAbsent(Data("second".utf8), at: "claims/0"))
        #expect(try await store.read("claims/0") == Data("first".utf8))
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 { group.addTask { try await store.createIfAbsent(Data("w\(index)".utf8), at: "claims/1") } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("claims").path).sorted() == ["0", "1"])
    }

    /// Ages by the file system's clock, many keys at once (one probe per directory), absent keys
    /// left out, no probe file left behind.
    @Test func agesOfManyKeysAtOnce() async throws {
        let root = try makeTemporaryDirectory()
        let store = FileArtifactStore(root: root)
        let keys = ["a/one.json", "a/two.json", "b/three.json"]
        for key in keys { try await store.write(Data("{}".utf8), to: key) }
        let backdated: [String: Int] = ["a/one.json": 100, "a/two.json": 3600, "b/three.json": 7200]
        for (key, seconds) in backdated {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let then = timespec(tv_sec: now.tv_sec - seconds, tv_nsec: 0)
            let times = [then, then]
            #expect(utimensat(AT_FDCWD, root.appendingPathComponent(key).path, times, 0) == 0)
        }
        let ages = try await store.ages(of: keys + ["a/absent.json", "c/absent.json"])
        #expect(Set(ages.keys) == Set(keys))
        for (key, seconds) in backdated {
            let age = try #require(ages[key])
            #expect(abs(age - Double(seconds)) < 5, "\(key): \(age)")
            #expect(abs((try await store.age(of: key) ?? -1) - Double(seconds)) < 5)
        }
        #expect(try await store.age(of: "a/absent.json") == nil)
        for directory in ["a", "b"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(directory).path)
            #expect(!names.contains { $0.hasPrefix(".age-probe") }, "\(names)")
        }
    }

    @Test func defaultRangedReadAndFileWriteOnAnyStore() async throws {
        let store = InMemoryArtifactStore()
        try await store.write(Data("0123456789".utf8), to: "k")
        #expect(try await store.read("k", range: 2..<5) == Data("234".utf8))
        #expect(try await store.read("k", range: 8..<50) == Data("89".utf8))
        #expect(try await store.read("k", range: 20..<30) == Data())
        let file = try makeTemporaryDirectory().appendingPathComponent("f")
        try Data("from a file".utf8).write(to: file)
        try await store.write(contentsOf: file, to: "f")
        #expect(try await store.read("f") == Data("from a file".utf8))
    }

    @Test func failedAtomicWriteKeepsTheOldFile() throws {
        let root = try makeTemporaryDirectory()
        let target = root.appendingPathComponent("a.json")
        try FileArtifactStore.atomicWrite(Data("old".utf8), to: target)
        // Renaming onto a directory fails after the temp file was written.
        let blocked = root.appendingPathComponent("dir.json")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("child"), withIntermediateDirectories: true)
        let error = #expect(throws: ChatbotTesterError.self) { try FileArtifactStore.atomicWrite(Data("new".utf8), to: blocked) }
        #expect(error?.code == .io)
        #expect(try Data(contentsOf: target) == Data("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["a.json", "dir.json"])
    }

    @Test(arguments: ["", "/etc/passwd", "../escape", "a/../../b"])
    func keysMayNotEscapeTheRoot(key: String) async throws {
        let store = FileArtifactStore(root: try makeTemporaryDirectory())
        await #expect(throws: ChatbotTesterError.self) { try await store.write(Data(), to: key) }
    }

    /// The synchronous face of the same journal (what the cluster coordinator uses): raw bytes in,
    /// nothing on disk before a sync, a torn tail cut on open, the file mode as asked.
    @Test func fileJournalSynchronousAppendSyncAndClose() throws {
        let root = try makeTemporaryDirectory()
        let url = root.appendingPathComponent("journal.jsonl")
        try Data("{\"a\":1}\n{\"torn".utf8).write(to: url)
        let journal = try FileJournal(url: url, mode: 0o600)
        #expect(try Data(contentsOf: url) == Data("{\"a\":1}\n".utf8))
        try journal.appendNow(Data(#"{"b":2}"#.utf8))
        #expect(journal.hasPendingLines)
        #expect(try Data(contentsOf: url).count == 8)
        try journal.syncNow()
        #expect(!journal.hasPendingLines)
        #expect(try String(contentsOf: url, encoding: .utf8) == "{\"a\":1}\n{\"b\":2}\n")
        try journal.appendNow(Data(#"{"c":3}"#.utf8))
        try journal.closeNow()
        #expect(try String(contentsOf: url, encoding: .utf8).hasSuffix("{\"c\":3}\n"))
        #expect(throws: ChatbotTesterError.self) { try journal.appendNow(Data("late".utf8)) }
        let fresh = root.appendingPathComponent("private.jsonl")
        try FileJournal(url: fresh, mode: 0o600).closeNow()
        var info = stat()
        #expect(stat(fresh.path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test func journalCutsATornTailAndAppendsDurably() async throws {
        let root = try makeTemporaryDirectory()
        let store = FileArtifactStore(root: root)
        let url = try store.url(for: "spool/journal.jsonl")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // A crash left half a line at the end.
        try Data("{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\",\"tor".utf8).write(to: url)
        // lines(of:) skips the torn tail even before the journal is opened.
        var seen: [String] = []
        for try await (_, text) in store.lines(of: "spool/journal.jsonl") { seen.append(String(text)) }
        #expect(seen == [#"{"id":"a"}"#, #"{"id":"b"}"#])

        let journal = try await store.openJournal("spool/journal.jsonl")
        try await journal.append(Data(#"{"id":"d"}"#.utf8))
        try await journal.append(Data(#"{"id":"e"}"#.utf8))
        try await journal.sync()
        try await journal.append(Data(#"{"id":"f"}"#.utf8))
        try await journal.close()
        await #expect(throws: ChatbotTesterError.self) { try await journal.append(Data("late".utf8)) }

        var lines: [(Int, String)] = []
        for try await (number, text) in store.lines(of: "spool/journal.jsonl") { lines.append((number, String(text))) }
        #expect(lines.map(\.1) == [#"{"id":"a"}"#, #"{"id":"b"}"#, #"{"id":"d"}"#, #"{"id":"e"}"#, #"{"id":"f"}"#])
        #expect(lines.map(\.0) == [1, 2, 3, 4, 5])
    }

    @Test func journalWithOnlyATornLineStartsEmpty() async throws {
        let root = try makeTemporaryDirectory()
        let url = root.appendingPathComponent("j.jsonl")
        // Longer than one backward read chunk, with no newline at all.
        try Data(repeating: UInt8(ascii: "x"), count: 200_000).write(to: url)
        let journal = try FileJournal(url: url)
        try await journal.append(Data("ok".utf8))
        try await journal.close()
        #expect(try String(contentsOf: url, encoding: .utf8) == "ok\n")
    }

    @Test func journalFlushesLargeBuffersBeforeSync() async throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("j.jsonl")
        let journal = try FileJournal(url: url, flushThreshold: 100)
        for i in 0..<50 { try await journal.append(Data("line \(i)".utf8)) }
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
        #expect(size > 0)
        try await journal.close()
        #expect(try String(contentsOf: url, encoding: .utf8).split(separator: "\n").count == 50)
    }

    @Test func jsonConveniencesNameTheKeyAndLine() async throws {
        let store = FileArtifactStore(root: try makeTemporaryDirectory())
        try await store.writeJSON(Usage(promptTokens: 3, completionTokens: 4), to: "u.json")
        #expect(try await store.readJSON(Usage.self, from: "u.json") == Usage(promptTokens: 3, completionTokens: 4))
        try await store.write(Data("{\"role\":\"user\",\"content\":\"hi\"}\n{\"role\":\"robot\",\"content\":\"x\"}\n".utf8), to: "m.jsonl")
        var results: [JSONLEntry<Message>] = []
        for try await entry in store.decodeLines(Message.self, of: "m.jsonl") { results.append(entry) }
        #expect(results.count == 2)
        #expect(try results[0].result.get() == .user("hi"))
        guard case .failure(let error) = results[1].result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.location?.source == "m.jsonl")
        #expect(error.location?.line == 2)
        #expect(error.location?.field == "role")
    }

    @Test func inMemoryStoreDropsUnsyncedLinesOnCrash() async throws {
        let store = InMemoryArtifactStore()
        let journal = try await store.openJournal("j.jsonl")
        try await journal.append(Data("one".utf8))
        try await journal.sync()
        try await journal.append(Data("two".utf8))
        store.simulateCrash()
        #expect(try await store.read("j.jsonl") == Data("one\n".utf8))
        await #expect(throws: ChatbotTesterError.self) { try await journal.sync() }
        let reopened = try await store.openJournal("j.jsonl")
        try await reopened.append(Data("three".utf8))
        try await reopened.close()
        var lines: [String] = []
        for try await (_, text) in store.lines(of: "j.jsonl") { lines.append(String(text)) }
        #expect(lines == ["one", "three"])
        try await store.write(Data("x".utf8), to: "a/b.txt")
        #expect(try await store.list(prefix: "a/") == ["a/b.txt"])
        await #expect(throws: ChatbotTesterError.self) { try await store.read("missing") }
    }

    @Test func inMemoryStoreSkipsATornTail() async throws {
        let store = InMemoryArtifactStore(files: ["j": Data("a\nb\npartial".utf8)])
        var lines: [String] = []
        for try await (_, text) in store.lines(of: "j") { lines.append(String(text)) }
        #expect(lines == ["a", "b"])
        let journal = try await store.openJournal("j")
        try await journal.append(Data("c".utf8))
        try await journal.close()
        #expect(try await store.read("j") == Data("a\nb\nc\n".utf8))
    }
}

@Suite struct JournalConcurrencyTests {
    @Test func concurrentAppendsStayWholeLines() async throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("j.jsonl")
        let journal = try FileJournal(url: url, flushThreshold: 512)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for i in 0..<250 {
                        try await journal.append(Data(#"{"writer":\#(writer),"i":\#(i),"pad":"\#(String(repeating: "x", count: i % 50))"}"#.utf8))
                        if i % 50 == 0 { try await journal.sync() }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await journal.close()
        var seen = Set<String>()
        for try await entry in JSONL.read(JSONValue.self, from: url) {
            let value = try entry.result.get()
            seen.insert("\(value["writer"]!.intValue!)-\(value["i"]!.intValue!)")
        }
        #expect(seen.count == 8 * 250)
    }
}
