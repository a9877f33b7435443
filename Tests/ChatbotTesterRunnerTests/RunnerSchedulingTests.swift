import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@Suite struct RunnerSchedulingTests {
    @Test func concurrencyNeverExceedsTheBoundAndInputIsNotReadAhead() async throws {
        let bound = 5
        let barrier = Barrier(count: bound)
        let input = CountingSamples(samples: samples(120))
        let readsAtBarrier = Locked<[Int]>([])
        let backend = RecordingBackend { request, number in
            if number < bound {
                // The first `bound` requests wait for each other: proves `bound` run at once. When
                // the last of them arrives, none has finished: the input must not be read further
                // than one sample past those in flight.
                if number == bound - 1 { readsAtBarrier.withLock { $0.append(input.reads.current) } }
                await barrier.arrive()
            }
            await Task.yield()
            return ChatResponse(content: "ok")
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            await barrier.releaseAll()
        }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: bound))
        let summary = try await runner.run(input).finish()
        watchdog.cancel()
        #expect(summary.ok == 120)
        #expect(summary.stopReason == .completed)
        #expect(backend.maxInFlight == bound)
        #expect(backend.requests.count == 120)
        // With `bound` samples blocked, the Runner may have read at most one more sample.
        #expect(readsAtBarrier.current.count == 1 && readsAtBarrier.current.allSatisfy { $0 <= bound + 1 }, "reads: \(readsAtBarrier.current)")
    }

    @Test func orderedOutputFollowsInputOrder() async throws {
        // Replies finish out of order: later samples answer first.
        let backend = RecordingBackend { request, _ in
            let id = Int(request.tags["sampleId"]!.dropFirst())!
            for _ in 0..<((40 - id % 40) * 3) { await Task.yield() }
            return ChatResponse(content: "ok \(id)")
        }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 8, ordered: true, reorderWindow: 16))
        var ids: [String] = []
        let summary = try await runner.runAll(SampleSequence(samples(100))) { ids.append($0.sampleId) }
        #expect(ids == samples(100).map(\.id))
        #expect(summary.ok == 100)
        #expect(backend.maxInFlight <= 8)
    }

    @Test func failuresAreRecordedAndTheRunCompletes() async throws {
        let backend = RecordingBackend { request, _ in
            let id = request.tags["sampleId"]!
            if id.hasSuffix("3") {
                throw ChatbotTesterError(.httpStatus, "server error", status: 500, retry: .transient)
            }
            return ChatResponse(content: "fine", usage: Usage(promptTokens: 1, completionTokens: 1), costUSD: 0.01)
        }
        let recorder = EventRecorder()
        let bus = EventBus()
        bus.subscribe(recorder)
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 4), events: bus)
        var records: [RunRecord] = []
        let summary = try await runner.runAll(SampleSequence(samples(40))) { records.append($0) }
        await bus.shutdown()
        let failed = records.filter { $0.status == .error }
        #expect(records.count == 40)
        #expect(failed.count == 4)
        #expect(failed.allSatisfy { $0.error?.code == "http_status" && $0.error?.status == 500 })
        #expect(failed.allSatisfy { $0.transcript == [.user($0.sample.input!)] && $0.output == nil })
        #expect(summary.ok == 36 && summary.failed == 4)
        #expect(summary.statistics.errorsByCode == ["http_status": 4])
        #expect(summary.stopReason == .completed)
        #expect(abs(summary.costUSD - 0.36) < 1e-9)
        #expect(recorder.events(RunSampleFailedEvent.self).count == 4)
        #expect(recorder.events(RunSampleCompletedEvent.self).count == 36)
        #expect(recorder.events(RunSampleStartedEvent.self).count == 40)
        #expect(recorder.kinds.first == "run.started")
        #expect(recorder.kinds.last == "run.completed")
        #expect(recorder.events(RunCompletedEvent.self).first?.summary == summary)
    }

    @Test func duplicateIdsAreRecordedOnce() async throws {
        let input = samples(5) + [TestSample(id: "s2", input: "again"), TestSample(id: "s4", input: "again")]
        let backend = RecordingBackend()
        var ids: [String] = []
        let summary = try await Runner(target: backend, targetName: "bot").runAll(SampleSequence(input)) { ids.append($0.sampleId) }
        #expect(ids.sorted() == ["s0", "s1", "s2", "s3", "s4"])
        #expect(summary.duplicates == 2)
        #expect(backend.requests.count == 5)
    }

    /// Each sample costs $0.125: the budget is reached after `budget / 0.125` samples; with more
    /// than one in flight, those already started still finish (at most `concurrency - 1` more).
    @Test(arguments: [(1, 0.5), (4, 1.0)])
    func budgetStopsStartingSamples(concurrency: Int, budget: Double) async throws {
        let backend = RecordingBackend { _, _ in ChatResponse(content: "ok", costUSD: 0.125) }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: concurrency, budgetUSD: budget))
        let summary = try await runner.run(SampleSequence(samples(100))).finish()
        let reached = Int(budget / 0.125)
        #expect(summary.stopReason == .budgetExceeded)
        #expect(summary.stopReason.isAborted)
        #expect(summary.ok >= reached && summary.ok <= reached + concurrency - 1)
        #expect(backend.requests.count == summary.ok)
    }

    @Test func failurePolicyAbortsAfterMaxFailures() async throws {
        let backend = RecordingBackend { _, _ in throw ChatbotTesterError(.transport, "connection refused", retry: .transient) }
        let policy = FailurePolicy(maxFailures: 3)
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 1, failurePolicy: policy))
        var records: [RunRecord] = []
        let summary = try await runner.runAll(SampleSequence(samples(50))) { records.append($0) }
        #expect(summary.stopReason == .failurePolicy)
        #expect(records.count == 3)
        #expect(summary.failed == 3)
    }

    @Test func failurePolicyRateWaitsForMinimumSamples() async throws {
        // Every 2nd sample fails: 50% ≥ 40%, but only once 10 samples finished.
        let backend = RecordingBackend { request, _ in
            if Int(request.tags["sampleId"]!.dropFirst())! % 2 == 1 { throw ChatbotTesterError(.timeout, "slow") }
            return ChatResponse(content: "ok")
        }
        let policy = FailurePolicy(maxFailureRate: 0.4, minSamples: 10)
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 1, failurePolicy: policy))
        let summary = try await runner.run(SampleSequence(samples(50))).finish()
        #expect(summary.stopReason == .failurePolicy)
        #expect(summary.statistics.recorded == 10)
    }

    @Test func gracefulStopFinishesInFlightSamples() async throws {
        let gate = Barrier(count: 4)
        let backend = RecordingBackend { _, number in
            if number < 4 { await gate.arrive() }
            return ChatResponse(content: "ok")
        }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 4))
        let execution = runner.run(SampleSequence(samples(100)))
        var count = 0
        for try await _ in execution {
            count += 1
            if count == 1 { execution.stop() }
        }
        let summary = await execution.summary
        #expect(summary.stopReason == .stopped)
        #expect(summary.abandoned == 0)
        #expect(summary.ok == count)
        // The stop arrives asynchronously: a few more samples may start before it is seen, never the rest.
        #expect(count >= 4 && count < 100)
        #expect(backend.requests.count == count)
    }

    @Test func inputErrorsEndTheRunWithTheError() async throws {
        struct Broken: Error {}
        let (stream, continuation) = AsyncThrowingStream<TestSample, any Error>.makeStream()
        for sample in samples(3) { continuation.yield(sample) }
        continuation.finish(throwing: Broken())
        let runner = Runner(target: RecordingBackend(), targetName: "bot")
        let execution = runner.run(stream)
        var seen = 0
        await #expect(throws: Broken.self) {
            for try await _ in execution { seen += 1 }
        }
        let summary = await execution.summary
        #expect(summary.stopReason == .error)
        #expect(summary.ok == 3)
        #expect(seen == 3)
    }
}

@Suite struct RunnerCancellationTests {
    @Test func cancelWithoutAConsumerStillEnds() async throws {
        let store = try temporaryStore()
        let runner = Runner(
            target: RecordingBackend(), targetName: "bot", options: RunnerOptions(concurrency: 2), journal: RunJournal(store: store))
        let execution = runner.run(SampleSequence(samples(1000)))
        // Nobody consumes: the run fills the channel and waits; cancel must still end it.
        try await Task.sleep(for: .milliseconds(50))
        execution.cancel()
        let summary = await execution.summary
        #expect(summary.stopReason == .cancelled)
        #expect(summary.statistics.recorded < 1000)
        #expect(try await journaledIDs(store).count == summary.statistics.recorded)
    }
}
