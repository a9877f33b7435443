import Foundation
import Testing

@testable import ChatbotTesterCore

/// `WriteBack`: an append starts the pages it completes — from the one it began in to the last one
/// it fills — and no other; the bytes stay as written and an fsync after it still succeeds.
@Suite struct WriteBackTests {
    @Test func anAppendStartsThePagesItCompletesAndLeavesTheBytesAlone() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("writeback-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let page = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        var written = Data()
        func append(_ count: Int) -> Range<Int> {
            let bytes = [UInt8]((0..<count).map { UInt8(truncatingIfNeeded: written.count + $0) })
            let start = written.count
            #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress!, count) } == count)
            written.append(contentsOf: bytes)
            return start..<written.count
        }
        // Within the first page: it completes none.
        #expect(!WriteBack.start(fd, appended: append(page / 2)))
        // Crossing into the second page: the first one is whole now.
        #expect(WriteBack.start(fd, appended: append(page)))
        // Ending inside the second page it began in: nothing more is whole.
        #expect(!WriteBack.start(fd, appended: append(page / 4)))
        // Three pages at once, from the middle of one.
        #expect(WriteBack.start(fd, appended: append(3 * page)))
        #expect(!WriteBack.start(fd, appended: 5..<5))
        #expect(fsync(fd) == 0)
        #expect(try Data(contentsOf: url) == written)
    }
}
