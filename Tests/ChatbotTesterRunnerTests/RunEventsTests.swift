import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@Suite struct RunEventsTests {
    /// Sums the progress a progress bar would show.
    private func progress(_ recorder: EventRecorder) -> (total: Int?, advanced: Int, failed: Int, finished: Bool) {
        var result: (total: Int?, advanced: Int, failed: Int, finished: Bool) = (nil, 0, 0, false)
        for envelope in recorder.envelopes.current {
            guard let event = envelope.event as? any ProgressEvent else { continue }
            switch event.progress {
            case .started(_, let total): result.total = total
            case .advanced(_, let succeeded, let count):
                result.advanced += count
                if !succeeded { result.failed += count }
            case .finished: result.finished = true
            }
        }
        return result
    }

    @Test func progressAddsUpToTheTotalAcrossAResume() async throws {
        let store = try temporaryStore()
        let input = samples(30)
        let backend = RecordingBackend { request, _ in
            if request.tags["sampleId"] == "s20" { throw ChatbotTesterError(.badResponse, "garbled") }
            return ChatResponse(content: "ok")
        }
        // First session stops after 10 records (graceful stop from the consumer).
        let first = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 1), journal: RunJournal(store: store))
        let execution = first.run(SampleSequence(input), total: 30)
        var count = 0
        for try await _ in execution {
            count += 1
            if count == 10 { execution.stop() }
        }
        #expect(await execution.summary.stopReason == .stopped)

        let recorder = EventRecorder()
        let bus = EventBus()
        bus.subscribe(recorder)
        let second = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 3), events: bus, journal: RunJournal(store: store))
        let summary = try await second.run(SampleSequence(input), resume: true, total: 30).finish()
        await bus.shutdown()

        let shown = progress(recorder)
        #expect(shown.total == 30)
        #expect(shown.advanced == 30)
        #expect(shown.failed == 1)
        #expect(shown.finished)
        #expect(summary.ok == 29 && summary.failed == 1 && summary.resumed == count)
        #expect(recorder.events(RunStartedEvent.self).first?.resumed == count)
        #expect(recorder.events(RunSamplesSkippedEvent.self).reduce(0) { $0 + $1.count } == count)
    }

    @Test func stoppingIsAnnouncedWithItsReason() async throws {
        let recorder = EventRecorder()
        let bus = EventBus()
        bus.subscribe(recorder)
        let backend = RecordingBackend { _, _ in throw ChatbotTesterError(.transport, "down") }
        let runner = Runner(
            target: backend, targetName: "bot",
            options: RunnerOptions(concurrency: 1, failurePolicy: FailurePolicy(maxFailures: 2)), events: bus)
        _ = try await runner.run(SampleSequence(samples(10))).finish()
        await bus.shutdown()
        #expect(recorder.events(RunStoppingEvent.self).map(\.reason) == [.failurePolicy])
        #expect(recorder.events(RunCompletedEvent.self).first?.summary.stopReason == .failurePolicy)
    }

    @Test func eventsEncodeForTheJSONLLog() throws {
        let record = RunRecord(
            sample: TestSample(id: "q1", input: "hi"), target: "bot", status: .error,
            error: ErrorInfo(code: "timeout", message: "slow"))
        let data = try JSONCoding.encoder().encode(RunSampleFailedEvent(record: record))
        let text = String(decoding: data, as: UTF8.self)
        #expect(text == #"{"error":{"code":"timeout","message":"slow"},"sampleId":"q1","turns":0}"#)
        #expect(RunSampleFailedEvent.kind == "run.sample.failed")
    }
}
