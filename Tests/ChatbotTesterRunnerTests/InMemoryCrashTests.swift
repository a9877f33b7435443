import ChatbotTesterCore
import ChatbotTesterRunner
import ChatbotTesterTesting
import Foundation
import Testing

/// Crash recovery against `InMemoryArtifactStore.simulateCrash()`, which drops every journal line
/// that was appended but not yet synced.
@Suite struct InMemoryCrashTests {
    @Test func unsyncedRecordsAreReplayedAndEveryIdIsRecordedOnce() async throws {
        let store = InMemoryArtifactStore()
        let input = samples(50)
        let options = RunnerOptions(concurrency: 2, syncEvery: 10, syncIntervalSeconds: 3600)
        let execution = Runner(target: RecordingBackend(), targetName: "bot", options: options, journal: RunJournal(store: store))
            .run(SampleSequence(input))
        var iterator = execution.makeAsyncIterator()
        for _ in 0..<25 { _ = try await iterator.next() }

        store.simulateCrash()
        execution.cancel()
        _ = await execution.summary
        withExtendedLifetime(iterator) {}

        let survived = try await journaledIDs(store)
        #expect(survived.count >= 20 && survived.count % 10 == 0, "synced in batches of 10: \(survived.count)")
        #expect(survived.count < 50)

        let backend = RecordingBackend()
        let resumed = try await Runner(target: backend, targetName: "bot", options: options, journal: RunJournal(store: store))
            .run(SampleSequence(input), resume: true).finish()
        #expect(resumed.ok == 50 && resumed.resumed == survived.count)
        #expect(backend.requests.count == 50 - survived.count)
        let all = try await journaledIDs(store)
        #expect(all.count == 50 && Set(all) == Set(input.map(\.id)))

        let report = try await ResultsWriter.write(store: store, chunkSize: 16)
        #expect(report.records == 50 && report.spilledChunks == 4)
        #expect(try await resultRecords(store).map(\.sampleId) == input.map(\.id))
    }
}
