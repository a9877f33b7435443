import ChatbotTesterCore
import ChatbotTesterRunner
import ChatbotTesterTesting
import Foundation
import Testing

/// A real crash: a child process (`cluster-test-host runner-crash-child`) journals a run, the
/// parent kills it with SIGKILL mid-run, then resumes in-process and checks every id is recorded
/// exactly once.
@Suite struct CrashResumeTests {
    /// The child's cases: `samples(2000, prefix: "k")`, as the child makes them.
    static let input = samples(2000, prefix: "k")

    static func slowBackend(delayMs: Int = 5) -> RecordingBackend {
        RecordingBackend { request, _ in
            try await Task.sleep(for: .milliseconds(delayMs))
            return ChatResponse(content: "answer to \(request.tags["sampleId"]!)", usage: Usage(promptTokens: 4, completionTokens: 3))
        }
    }

    @Test func sigkilledRunResumesWithEveryIdExactlyOnce() async throws {
        let store = try temporaryStore()
        let journalURL = try store.url(for: RunJournal.defaultKey)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: BuiltExecutable.path("cluster-test-host"))
        child.arguments = ["runner-crash-child", "--store", store.root.path]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()

        // Wait until the child has journaled a good part of the run, then kill it hard. The wait
        // runs on a thread of its own: a busy cooperative pool (a full test run) must not starve
        // it while the child plays on.
        let (lines, killedMidRun) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int, Bool), Never>) in
            Thread.detachNewThread {
                var lines = 0
                let deadline = Date().addingTimeInterval(180)
                while child.isRunning, Date() < deadline {
                    lines = (try? Data(contentsOf: journalURL))?.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 } ?? 0
                    if lines >= 100 { break }
                    usleep(10_000)
                }
                let running = child.isRunning
                kill(child.processIdentifier, SIGKILL)
                continuation.resume(returning: (lines, running))
            }
        }
        _ = ChildExit.wait(for: child)
        #expect(killedMidRun, "the child finished before it could be killed")
        #expect(lines >= 100)

        let before = try await RunJournal(store: store).scan()
        #expect(before.completedIDs.count < Self.input.count)
        #expect(before.duplicateLines == 0 && before.malformedCount == 0)

        let backend = Self.slowBackend()
        let resumed = try await Runner(
            target: backend, targetName: "bot", options: RunnerOptions(concurrency: 16), journal: RunJournal(store: store)
        ).run(SampleSequence(Self.input), resume: true).finish()
        #expect(resumed.stopReason == .completed)
        #expect(resumed.ok == Self.input.count)
        #expect(resumed.resumed == before.completedIDs.count)
        #expect(backend.requests.count == Self.input.count - before.completedIDs.count)

        let ids = try await journaledIDs(store)
        #expect(ids.count == Self.input.count)
        #expect(Set(ids) == Set(Self.input.map(\.id)))
        let report = try await ResultsWriter.write(store: store)
        #expect(report.records == Self.input.count && report.duplicates == 0)
        #expect(try await resultRecords(store).map(\.sampleId) == Self.input.map(\.id))
    }
}
