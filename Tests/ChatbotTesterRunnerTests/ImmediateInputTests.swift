import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

/// An input readable without suspending that counts its reads, and counts the async iterators made
/// (the Runner must not make one when it reads immediately). `immediate: false` declines.
struct ImmediateCountingSamples: ImmediateSampleSequence {
    typealias Element = TestSample
    let samples: [TestSample]
    var immediate = true
    /// Fails the read of this position (0-based), when set.
    var failAt: Int?
    let reads = Locked(0)
    let asyncIterators = Locked(0)

    func makeAsyncIterator() -> CountingSamples.Iterator {
        asyncIterators.withLock { $0 += 1 }
        return CountingSamples(samples: samples).makeAsyncIterator()
    }

    func makeImmediateReader() -> ImmediateSampleReader? {
        guard immediate else { return nil }
        var position = 0
        return ImmediateSampleReader { [samples, reads, failAt] in
            if position == failAt { throw ChatbotTesterError(.io, "disk gone") }
            guard position < samples.count else { return nil }
            defer { position += 1 }
            reads.withLock { $0 += 1 }
            return samples[position]
        }
    }
}

@Suite struct ImmediateInputTests {
    @Test func anImmediateInputIsReadInTheLoopAndNeverAhead() async throws {
        let bound = 5
        let barrier = Barrier(count: bound)
        let input = ImmediateCountingSamples(samples: samples(120))
        let readsAtBarrier = Locked<[Int]>([])
        let backend = RecordingBackend { _, number in
            if number < bound {
                if number == bound - 1 { readsAtBarrier.withLock { $0.append(input.reads.current) } }
                await barrier.arrive()
            }
            return ChatResponse(content: "ok")
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            await barrier.releaseAll()
        }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: bound))
        var ids: [String] = []
        let summary = try await runner.runAll(input) { ids.append($0.sampleId) }
        watchdog.cancel()
        #expect(summary.ok == 120 && summary.stopReason == .completed)
        #expect(Set(ids) == Set(samples(120).map(\.id)) && ids.count == 120)
        #expect(backend.maxInFlight == bound)
        #expect(input.reads.current == 120)
        #expect(input.asyncIterators.current == 0, "the async iterator is not used")
        // Read only when a slot is free: with `bound` samples blocked, exactly `bound` were read.
        #expect(readsAtBarrier.current == [bound], "reads: \(readsAtBarrier.current)")
    }

    @Test func anInputThatDeclinesIsReadThroughItsIterator() async throws {
        let input = ImmediateCountingSamples(samples: samples(30), immediate: false)
        let backend = RecordingBackend { _, _ in ChatResponse(content: "ok") }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 4))
        let summary = try await runner.run(input).finish()
        #expect(summary.ok == 30)
        #expect(input.asyncIterators.current == 1)
        #expect(input.reads.current == 0)
    }

    @Test func anImmediateReadErrorEndsTheRunAsAnAsyncOneDoes() async throws {
        let input = ImmediateCountingSamples(samples: samples(50), failAt: 20)
        let backend = RecordingBackend { _, _ in ChatResponse(content: "ok") }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 4))
        let execution = runner.run(input)
        var records = 0
        await #expect(throws: ChatbotTesterError.self) {
            for try await _ in execution { records += 1 }
        }
        let summary = await execution.summary
        #expect(records == 20 && summary.ok == 20)
        #expect(summary.stopReason == .error)
        #expect(input.reads.current == 20)
    }

    @Test func syntheticSamplesReadImmediatelyMatchTheirIterator() async throws {
        let synthetic = SyntheticSamples(count: 7, prefix: "x-")
        var viaIterator: [TestSample] = []
        for await sample in synthetic { viaIterator.append(sample) }
        let reader = try #require(synthetic.makeImmediateReader())
        var immediate: [TestSample] = []
        while let sample = try reader.next() { immediate.append(sample) }
        #expect(immediate == viaIterator && immediate.count == 7)
        let sequence = SampleSequence(samples(3))
        let arrayReader = try #require(sequence.makeImmediateReader())
        #expect(try [arrayReader.next(), arrayReader.next(), arrayReader.next(), arrayReader.next()] == samples(3) + [nil])
    }
}

/// `finish()` drops the records as the run hands them on.
@Suite struct RunFinishTests {
    @Test func finishDropsTheRecordsAndReturnsTheSummary() async throws {
        let backend = RecordingBackend { _, _ in ChatResponse(content: "ok") }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 3))
        let execution = runner.run(CountingSamples(samples: samples(200)))
        let summary = try await execution.finish()
        #expect(summary.ok == 200 && summary.stopReason == .completed)
        #expect(backend.requests.count == 200)
        // The stream is over: nothing is left to iterate.
        var left = 0
        for try await _ in execution { left += 1 }
        #expect(left == 0)
    }

    @Test func finishRethrowsTheRunsError() async throws {
        let input = ImmediateCountingSamples(samples: samples(30), failAt: 10)
        let runner = Runner(target: RecordingBackend { _, _ in ChatResponse(content: "ok") }, targetName: "bot", options: RunnerOptions(concurrency: 2))
        let execution = runner.run(input)
        await #expect(throws: ChatbotTesterError.self) { _ = try await execution.finish() }
        let summary = await execution.summary
        #expect(summary.ok == 10 && summary.stopReason == .error)
    }
}

/// A graceful stop is seen while an immediate input is read without waiting (here every sample
/// after the first is a skipped duplicate, so the driver never waits for its task group).
@Suite struct ImmediateInputStopTests {
    @Test func aStopIsSeenWhileSkippedSamplesAreReadWithoutWaiting() async throws {
        let execution = Locked<RunExecution?>(nil)
        let reads = Locked(0)
        let started = Locked(false)
        struct DuplicateSamples: ImmediateSampleSequence {
            typealias Element = TestSample
            let reads: Locked<Int>
            let onRead: @Sendable (Int) -> Void
            func makeAsyncIterator() -> CountingSamples.Iterator { CountingSamples(samples: []).makeAsyncIterator() }
            func makeImmediateReader() -> ImmediateSampleReader? {
                ImmediateSampleReader { [reads, onRead] in
                    let count = reads.withLock { $0 += 1; return $0 }
                    guard count <= 100_000 else { return nil }
                    onRead(count)
                    return TestSample(id: "same", input: "q")
                }
            }
        }
        let input = DuplicateSamples(reads: reads) { count in
            guard count == 50 else { return }
            // The run's handle is set just after `run` returns; the driver may get here first.
            while execution.current == nil { usleep(100) }
            execution.withLock { $0?.stop() }
        }
        // The one sample played waits until the run has been told to stop.
        let backend = RecordingBackend { _, _ in
            started.withLock { $0 = true }
            while reads.current < 50 { try await Task.sleep(for: .milliseconds(1)) }
            return ChatResponse(content: "ok")
        }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: 2))
        let running = runner.run(input)
        execution.withLock { $0 = running }
        let summary = try await running.finish()
        #expect(summary.stopReason == .stopped)
        #expect(summary.ok == 1 && summary.duplicates == 49)
        // Read up to the stop, not through the 100,000 samples.
        #expect(reads.current == 50, "reads: \(reads.current)")
        #expect(started.current)
    }
}
