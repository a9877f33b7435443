import Foundation
import Testing

@testable import ChatbotTesterRunner

/// The bench's wall time from process start: read from `/proc/self/stat`'s start time.
@Suite struct ProcessStartTests {
    @Test func theStartTimeIsReadAfterTheCommandNameWhateverItHolds() {
        // Field 22 (starttime) = 1234 ticks; the name holds spaces and a parenthesis.
        let fields = (3...52).map { $0 == 22 ? "1234" : String($0) }.joined(separator: " ")
        let stat = "4242 (odd ) name) " + fields
        #expect(ProcessStart.elapsed(stat: stat, ticksPerSecond: 100, bootSeconds: 20.34) == 20.34 - 12.34)
        #expect(ProcessStart.elapsed(stat: "4242 (x) S 1 2", ticksPerSecond: 100, bootSeconds: 20) == nil)
        #expect(ProcessStart.elapsed(stat: "no name", ticksPerSecond: 100, bootSeconds: 20) == nil)
    }

    @Test func aMeasurementCountsFromTheProcessStart() async throws {
        #if os(Linux)
        let age = try #require(ProcessStart.elapsedSeconds)
        let m = try await RunnerBenchmark.measure(
            target: RunnerBenchmark.inProcessTarget(latencyMs: 1), samples: 20, latencyMs: 1, concurrency: 4)
        let process = try #require(m.processSeconds)
        // The process started before this test, and before the run.
        #expect(process >= age && process >= m.seconds)
        #expect(m.processRatioToIdeal == process / m.idealSeconds)
        #expect(RunnerBenchmark.describe(m).contains("from process start"))
        #endif
    }
}
