import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterRunner

/// The state the driver and the sample tasks share, driven by hand: a finishing sample starts the
/// next itself only as the scheduler allows, and the driver's notes keep the decisions' order.
@Suite struct RunFlowTests {
    private func record(_ id: String, status: RunRecord.Status = .ok) -> RunRecord {
        RunRecord(sample: TestSample(id: id, input: "x"), target: "bot", status: status)
    }

    private func flow(
        _ options: RunnerOptions, samples count: Int, chainLimit: Int? = nil, control: RunControl = RunControl()
    ) -> (RunFlow, Locked<Int>) {
        let reads = Locked(0)
        var position = 0
        let reader = ImmediateSampleReader {
            guard position < count else { return nil }
            defer { position += 1 }
            reads.withLock { $0 += 1 }
            return TestSample(id: "s\(position)", input: "x")
        }
        let scheduler = RunScheduler(configuration: .init(options: options))
        return (RunFlow(scheduler: scheduler, reader: reader, control: control, chainLimit: chainLimit ?? options.concurrency), reads)
    }

    private func describe(_ notes: [RunNote]) -> [String] {
        notes.map { note in
            switch note {
            case .started(let id, _): "started \(id)"
            case .finished(let finished): "finished \(finished.record.sampleId)"
            case .stopping(let reason, let inFlight): "stopping \(reason.rawValue) \(inFlight)"
            case .skippedCompleted(let count): "skipped \(count)"
            case .skippedDuplicate(let id): "duplicate \(id)"
            default: "other"
            }
        }
    }

    @Test func aFinishingSampleStartsTheNextWithinTheBound() async throws {
        let (flow, reads) = flow(RunnerOptions(concurrency: 2), samples: 5)
        let first = try #require(flow.admit())
        let second = try #require(flow.admit())
        #expect(flow.admit() == nil, "both slots taken: nothing more is read")
        #expect(reads.current == 2)
        let third = try #require(flow.finished(first, record: record("s0"), line: nil, cancelled: false))
        #expect(third.sample.id == "s2" && third.index == 2)
        #expect(flow.scheduler.inFlight == 2)
        #expect(reads.current == 3, "read only when the finish freed a slot")
        let notes = try #require(await flow.next())
        #expect(describe(notes) == ["started s0", "started s1", "finished s0", "started s2"])
        flow.carriedOut(finished: 1)
        _ = second
    }

    @Test func aBacklogOfUncarriedFinishesStopsTheChainingAndTheDriverStartsInstead() async throws {
        let (flow, _) = flow(RunnerOptions(concurrency: 1), samples: 4, chainLimit: 2)
        var current = try #require(flow.admit())
        // The driver carries nothing out: two finishes chain, the third does not.
        current = try #require(flow.finished(current, record: record("s0"), line: nil, cancelled: false))
        current = try #require(flow.finished(current, record: record("s1"), line: nil, cancelled: false))
        #expect(flow.finished(current, record: record("s2"), line: nil, cancelled: false) == nil)
        #expect(flow.scheduler.inFlight == 0)
        let notes = try #require(await flow.next())
        #expect(describe(notes).filter { $0.hasPrefix("finished") }.count == 3)
        flow.carriedOut(finished: 3)
        let last = try #require(flow.admit(), "the driver starts what the chain left")
        #expect(last.sample.id == "s3")
        #expect(flow.finished(last, record: record("s3"), line: nil, cancelled: false) == nil, "end of input")
        _ = await flow.next()
        flow.carriedOut(finished: 1)
        #expect(await flow.next() == nil, "over: nothing in flight, input ended, nothing to carry out")
    }

    @Test func aStopRequestedIsSeenByAFinishingSampleAndTheRestDrains() async throws {
        let control = RunControl()
        let (flow, reads) = flow(RunnerOptions(concurrency: 2), samples: 10, control: control)
        let a = try #require(flow.admit())
        let b = try #require(flow.admit())
        control.requestStop()
        #expect(flow.finished(a, record: record("s0"), line: nil, cancelled: false) == nil)
        #expect(reads.current == 2, "nothing read after the stop")
        #expect(flow.scheduler.stopReason == .stopped)
        #expect(flow.finished(b, record: record("s1"), line: nil, cancelled: false) == nil)
        let notes = try #require(await flow.next())
        #expect(describe(notes) == ["started s0", "started s1", "finished s0", "stopping stopped 1", "finished s1"])
        flow.carriedOut(finished: 2)
        #expect(await flow.next() == nil)
    }

    @Test func aCancelledFailureIsAbandonedAndStartsNothing() async throws {
        let (flow, _) = flow(RunnerOptions(concurrency: 1), samples: 3)
        let a = try #require(flow.admit())
        #expect(flow.finished(a, record: record("s0", status: .error), line: nil, cancelled: true) == nil)
        let scheduler = flow.scheduler
        #expect(scheduler.abandoned == 1 && scheduler.stopReason == .cancelled)
        let notes = try #require(await flow.next())
        #expect(describe(notes) == ["started s0", "stopping cancelled 1", "finished s0"])
        if case .finished(let finished) = notes.last { #expect(!finished.completion.journal) }
    }

    @Test func skippedSamplesAreCountedInOneNote() async throws {
        let reads = Locked(0)
        var position = 0
        let reader = ImmediateSampleReader {
            guard position < 5 else { return nil }
            defer { position += 1 }
            reads.withLock { $0 += 1 }
            return TestSample(id: position == 4 ? "s0" : "s\(position)", input: "x")
        }
        let scheduler = RunScheduler(
            configuration: .init(options: RunnerOptions(concurrency: 4)), completed: IDDigestSet(["s1", "s2"]))
        let flow = RunFlow(scheduler: scheduler, reader: reader, control: RunControl(), chainLimit: 4)
        let a = try #require(flow.admit())
        let b = try #require(flow.admit())
        #expect(a.sample.id == "s0" && b.sample.id == "s3")
        #expect(flow.admit() == nil)
        let notes = try #require(await flow.next())
        #expect(describe(notes) == ["started s0", "skipped 2", "started s3", "duplicate s0"])
    }

    /// With a consumer slower than the target, finishing samples stop starting new ones once the
    /// driver falls behind: what was played and not yet consumed stays bounded.
    @Test func aSlowConsumerHoldsTheRunBack() async throws {
        let concurrency = 4
        let backend = RecordingBackend { _, _ in ChatResponse(content: "ok") }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(concurrency: concurrency))
        var consumed = 0
        var ahead = 0
        for try await _ in runner.run(SampleSequence(samples(200))) {
            consumed += 1
            ahead = max(ahead, backend.requests.count - consumed)
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(consumed == 200)
        #expect(backend.maxInFlight <= concurrency)
        // In flight, finished and not carried out (the chain limit), in the record channel, and one
        // being handed on.
        #expect(ahead <= 3 * concurrency + 1, "played ahead of the consumer: \(ahead)")
    }
}
