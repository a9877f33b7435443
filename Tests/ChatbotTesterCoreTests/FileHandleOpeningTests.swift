import ChatbotTesterCore
import Foundation
import Testing

/// `FileHandle.opening` writes the file in place: one `open(2)`, never a temporary file renamed
/// in (a worker killed while `FileManager.createFile` ran left `.dat.nosync…` in `events/`).
@Suite struct FileHandleOpeningTests {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("opening-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func inode(_ url: URL) -> ino_t? {
        var info = stat()
        return stat(url.path, &info) == 0 ? info.st_ino : nil
    }

    static func mode(_ url: URL) -> mode_t? {
        var info = stat()
        return stat(url.path, &info) == 0 ? info.st_mode & 0o777 : nil
    }

    @Test func appendingKeepsWhatTheFileHoldsAndTruncatingEmptiesItInPlace() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("log.jsonl")
        try Data("one\n".utf8).write(to: url)
        let before = try #require(Self.inode(url))

        let appending = try FileHandle.opening(url, for: .appending)
        try appending.write(contentsOf: Data("two\n".utf8))
        try appending.close()
        #expect(try String(contentsOf: url, encoding: .utf8) == "one\ntwo\n")

        let truncating = try FileHandle.opening(url, for: .truncating)
        try truncating.write(contentsOf: Data("three\n".utf8))
        try truncating.close()
        #expect(try String(contentsOf: url, encoding: .utf8) == "three\n")
        // The same file throughout: nothing was written beside it and renamed over it.
        #expect(Self.inode(url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["log.jsonl"])
    }

    @Test func aNewFileIsCreatedAndAnExactModeIsSetOnAnExistingOne() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fresh = directory.appendingPathComponent("fresh")
        try FileHandle.opening(fresh, for: .appending).close()
        #expect(FileManager.default.fileExists(atPath: fresh.path))

        let shared = directory.appendingPathComponent("shared")
        try Data("x".utf8).write(to: shared)
        chmod(shared.path, 0o666)
        try FileHandle.opening(shared, for: .truncating, mode: 0o600, exactMode: true).close()
        #expect(Self.mode(shared) == 0o600)
        // Without exactMode an existing file's permissions are the user's.
        chmod(shared.path, 0o640)
        try FileHandle.opening(shared, for: .appending, mode: 0o600).close()
        #expect(Self.mode(shared) == 0o640)
    }

    @Test func aFileThatCannotBeCreatedIsAnIOErrorNamingItsPath() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("missing/dir/log.jsonl")
        let error = #expect(throws: ChatbotTesterError.self) { try FileHandle.opening(url, for: .appending) }
        #expect(error?.code == .io)
        #expect(error?.location?.source == url.path)
        #expect(error?.message.contains("No such file or directory") == true)
    }

    /// A link at the path is replaced when truncating (what the rename of `createFile` did: a link
    /// planted in a shared directory never redirects the write) and followed when appending.
    @Test func aLinkIsReplacedWhenTruncatingAndFollowedWhenAppending() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let victim = directory.appendingPathComponent("victim")
        try Data("keep".utf8).write(to: victim)
        let link = directory.appendingPathComponent("results.csv")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)

        let truncating = try FileHandle.opening(link, for: .truncating)
        try truncating.write(contentsOf: Data("new".utf8))
        try truncating.close()
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)) == nil)
        #expect(try String(contentsOf: link, encoding: .utf8) == "new")

        let log = directory.appendingPathComponent("events.jsonl")
        try FileManager.default.createSymbolicLink(at: log, withDestinationURL: victim)
        let appending = try FileHandle.opening(log, for: .appending)
        try appending.write(contentsOf: Data("+".utf8))
        try appending.close()
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep+")
    }

    @Test func aFileIsAppendedWholeAfterWhatWasWritten() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("body")
        // Larger than one read of the fallback and not a multiple of a page.
        var body = Data(count: 3 << 20)
        for index in body.indices { body[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 9) }
        body.append(Data("tail".utf8))
        try body.write(to: source)
        let empty = directory.appendingPathComponent("empty")
        try Data().write(to: empty)

        let url = directory.appendingPathComponent("out")
        let out = try FileHandle.opening(url, for: .truncating)
        try out.write(contentsOf: Data("head\n".utf8))
        try out.append(contentsOf: source)
        try out.append(contentsOf: empty)
        try out.write(contentsOf: Data("\nend".utf8))
        try out.close()
        #expect(try Data(contentsOf: url) == Data("head\n".utf8) + body + Data("\nend".utf8))
        // The source is read from its start each time, whatever was read of it before.
        let again = try FileHandle.opening(url, for: .appending)
        try again.append(contentsOf: source)
        try again.close()
        #expect(try Data(contentsOf: url).count == 5 + body.count + 4 + body.count)

        let missing = directory.appendingPathComponent("missing")
        let error = #expect(throws: ChatbotTesterError.self) { try FileHandle.opening(url, for: .appending).append(contentsOf: missing) }
        #expect(error?.code == .io && error?.location?.source == missing.path)
    }
}
