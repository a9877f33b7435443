import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Ranges read through a few windows ahead: every read returns the file's bytes; a forward walk
/// costs one `pread` per window, a far range takes a window of its own without evicting the
/// walk's, and a range past the end is nil.
@Suite struct ReadWindowsTests {
    @Test(.cpuBound) func readsTheFilesBytesWithOnePreadPerWindowWhenWalkingForward() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("windows-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        var generator = SystemRandomNumberGenerator()
        let content = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(content).write(to: url)
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let windows = ReadWindows(fd: fd)
        // A walk of 700-byte lines over the first 640 KiB: ten windows' worth.
        var offset = 0
        while offset + 700 <= 10 * ReadWindows.windowSize {
            #expect(windows.read(offset..<(offset + 700)) == Data(content[offset..<(offset + 700)]))
            offset += 701
        }
        #expect(windows.reads >= 10 && windows.reads <= 11, "\(windows.reads) reads")
        // A far line, then the walk goes on where it was: the walk's window was kept.
        let before = windows.reads
        #expect(windows.read(900_000..<900_500) == Data(content[900_000..<900_500]))
        #expect(windows.read(offset..<(offset + 100)) == Data(content[offset..<(offset + 100)]))
        #expect(windows.reads == before + 1)
        // Larger than half a window: read on its own; past the end: nil.
        #expect(windows.read(100..<(100 + ReadWindows.windowSize)) == Data(content[100..<(100 + ReadWindows.windowSize)]))
        #expect(windows.read((content.count - 10)..<(content.count + 10)) == nil)
        #expect(windows.read((content.count - 10)..<content.count) == Data(content[(content.count - 10)...]))
        // Anywhere, in any order: the file's bytes; windows that do not pay are given up (a read
        // per range from then on).
        #expect(!windows.direct)
        for _ in 0..<500 {
            let start = Int.random(in: 0..<(content.count - 40_000), using: &generator)
            let range = start..<(start + Int.random(in: 0...(ReadWindows.windowSize / 2), using: &generator))
            #expect(windows.read(range) == Data(content[range]))
        }
        #expect(windows.direct)
        let given = windows.reads
        #expect(windows.read(5..<105) == Data(content[5..<105]) && windows.read(5..<105) == Data(content[5..<105]))
        #expect(windows.reads == given + 2)
    }
}
