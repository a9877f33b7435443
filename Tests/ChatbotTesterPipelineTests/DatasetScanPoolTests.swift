import ChatbotTester
import Foundation
import Testing

/// The dataset scan waits for its file off Swift's cooperative pool: scans of datasets fed slowly
/// through named pipes — one more than the pool has threads — leave the pool free for other
/// tasks. Were a scan to block in `read(2)` on a thread of the pool, the scans would hold every
/// thread: the last scan would never start and the ticking task would stand still.
@Suite struct DatasetScanPoolTests {
    /// Counts shared by the tasks and the writer's thread.
    final class Counts: @unchecked Sendable {
        private let lock = NSLock()
        private var ticks = 0
        private var handed: [Int]
        private var stopped = false
        init(scans: Int) { handed = Array(repeating: 0, count: scans) }
        var tickCount: Int { lock.withLock { ticks } }
        /// The fewest cases any scan has handed over.
        var leastHanded: Int { lock.withLock { handed.min() ?? 0 } }
        var isStopped: Bool { lock.withLock { stopped } }
        func tick() { lock.withLock { ticks += 1 } }
        func handedOver(by scan: Int) { lock.withLock { handed[scan] += 1 } }
        func stop() { lock.withLock { stopped = true } }
    }

    /// Waits until `condition` holds; false after `seconds` (a fail-safe: progress is what counts;
    /// the whole suite, played at once on a slow two-core machine, has held both threads of the
    /// pool for over 30 s).
    static func wait(seconds: Double = 120, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { return false }
            usleep(1000)
        }
        return true
    }

    /// Writes one line to every pipe per round. After each round it waits until every scan has
    /// handed that line over (each scan then waits for the next one) and the ticking task has
    /// moved on three times since; a wait that never ends counts as a starved round and the rest
    /// is written without waiting. Then removes the pipes and closes them, so every scan ends (one
    /// that never opened its pipe gets "cannot read"). Runs on its own thread.
    static func feed(_ fds: [Int32], pipes: [URL], rounds: Int, counts: Counts) -> Int {
        var starved = 0
        for round in 0..<rounds {
            for (index, fd) in fds.enumerated() {
                let line = Array(#"{"id":"p\#(index)-\#(round)","input":"q"}"#.utf8) + [0x0A]
                _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            guard starved == 0 else { continue }
            if !wait(until: { counts.leastHanded > round }) {
                starved += 1
                continue
            }
            let seen = counts.tickCount
            if !wait(until: { counts.tickCount >= seen + 3 }) { starved += 1 }
        }
        for pipe in pipes { unlink(pipe.path) }
        for fd in fds { close(fd) }
        return starved
    }

    @Test func scansOfSlowPipesLeaveThePoolFree() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scan-pool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // One scan more than the pool has threads (one per core).
        let scans = ProcessInfo.processInfo.activeProcessorCount + 1
        let rounds = 5
        let pipes = (0..<scans).map { directory.appendingPathComponent("dataset-\($0).jsonl") }
        for pipe in pipes { #expect(mkfifo(pipe.path, 0o600) == 0) }
        // Held open read-write from the start: neither this open nor a scan's waits for the other.
        let fds = pipes.map { open($0.path, O_RDWR | O_CLOEXEC) }
        #expect(fds.allSatisfy { $0 >= 0 })
        let counts = Counts(scans: scans)

        let ticker = Task.detached {
            while !counts.isStopped {
                counts.tick()
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        let scanning = pipes.enumerated().map { index, pipe in
            Task.detached { try await DatasetReader(url: pipe).scan { _ in counts.handedOver(by: index) } }
        }
        let feeding = Date()
        let starved = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            Thread.detachNewThread { continuation.resume(returning: Self.feed(fds, pipes: pipes, rounds: rounds, counts: counts)) }
        }
        var selected: [Int] = []
        for scan in scanning { selected.append((try? await scan.value.selected) ?? -1) }
        counts.stop()
        await ticker.value
        #expect(
            starved == 0,
            "scans waiting for their pipes held the pool: the ticking task or a scan stood still (fed for \(Int(Date().timeIntervalSince(feeding))) s)")
        #expect(selected == Array(repeating: rounds, count: scans))
    }
}
