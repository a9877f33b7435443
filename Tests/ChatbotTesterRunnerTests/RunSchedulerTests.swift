import ChatbotTesterCore
import Testing

@testable import ChatbotTesterRunner

/// The scheduling state machine, driven by hand: no tasks, no clocks.
@Suite struct RunSchedulerTests {
    private func record(_ id: String, status: RunRecord.Status = .ok, cost: Double? = nil) -> RunRecord {
        RunRecord(sample: TestSample(id: id, input: "x"), target: "bot", status: status, costUSD: cost)
    }

    private func scheduler(_ options: RunnerOptions, completed: Set<String> = []) -> RunScheduler {
        RunScheduler(configuration: .init(options: options), completed: IDDigestSet(completed))
    }

    @Test func readsOneAtATimeAndOnlyWhileASlotIsFree() {
        var s = scheduler(RunnerOptions(concurrency: 2))
        #expect(s.wantsInput)
        s.beginRead()
        #expect(!s.wantsInput)
        let r1 = s.received(TestSample(id: "a", input: "x"))
        #expect(r1 == .start(seq: 0, index: 0))
        s.beginRead()
        let r2 = s.received(TestSample(id: "b", input: "x"))
        #expect(r2 == .start(seq: 1, index: 1))
        #expect(!s.wantsInput)
        _ = s.completed(seq: 0, record: record("a"))
        #expect(s.wantsInput)
        s.beginRead()
        s.endOfInput()
        #expect(!s.isFinished)
        _ = s.completed(seq: 1, record: record("b"))
        #expect(s.isFinished)
        #expect(s.stopReason == nil)
    }

    @Test func orderedModeHoldsRecordsAndBoundsTheWindow() {
        var s = scheduler(RunnerOptions(concurrency: 3, ordered: true, reorderWindow: 3))
        for id in ["a", "b", "c"] {
            s.beginRead()
            _ = s.received(TestSample(id: id, input: "x"))
        }
        let r3 = s.completed(seq: 2, record: record("c"))
        #expect(r3.emit == [])
        let r4 = s.completed(seq: 1, record: record("b"))
        #expect(r4.emit == [])
        // Two slots free, but "a" still blocks the window.
        #expect(!s.wantsInput)
        #expect(s.buffered == 2)
        let r5 = s.completed(seq: 0, record: record("a"))
        #expect(r5.emit.map(\.sampleId) == ["a", "b", "c"])
        #expect(s.wantsInput)
    }

    @Test func skipsJournaledAndDuplicateIds() {
        var s = scheduler(RunnerOptions(), completed: ["a"])
        s.beginRead()
        let r6 = s.received(TestSample(id: "a", input: "x"))
        #expect(r6 == .skipCompleted)
        s.beginRead()
        let r7 = s.received(TestSample(id: "b", input: "x"))
        #expect(r7 == .start(seq: 0, index: 1))
        s.beginRead()
        let r8 = s.received(TestSample(id: "b", input: "x"))
        #expect(r8 == .skipDuplicate)
        #expect(s.skipped == 1 && s.duplicates == 1)
    }

    @Test func budgetAndFailurePolicyStopTheRun() {
        var s = scheduler(RunnerOptions(concurrency: 4, budgetUSD: 1))
        for id in ["a", "b"] {
            s.beginRead()
            _ = s.received(TestSample(id: id, input: "x"))
        }
        let r9 = s.completed(seq: 0, record: record("a", cost: 0.6))
        #expect(r9.stopped == nil)
        let r10 = s.completed(seq: 1, record: record("b", cost: 0.6))
        #expect(r10.stopped == .budgetExceeded)
        #expect(!s.wantsInput)
        #expect(s.isFinished)

        var f = scheduler(RunnerOptions(failurePolicy: FailurePolicy(maxFailures: 1)))
        f.beginRead()
        _ = f.received(TestSample(id: "a", input: "x"))
        let r11 = f.completed(seq: 0, record: record("a", status: .error))
        #expect(r11.stopped == .failurePolicy)
    }

    @Test func cancelAbandonsFailedInFlightSamplesButKeepsFinishedOnes() {
        var s = scheduler(RunnerOptions(concurrency: 3, ordered: true))
        for id in ["a", "b", "c"] {
            s.beginRead()
            _ = s.received(TestSample(id: id, input: "x"))
        }
        let r12 = s.cancel()
        #expect(r12)
        let a = s.completed(seq: 0, record: record("a", status: .error))
        #expect(!a.journal && a.emit.isEmpty)
        let b = s.completed(seq: 1, record: record("b"))
        #expect(b.journal && b.emit.map(\.sampleId) == ["b"])
        _ = s.completed(seq: 2, record: record("c", status: .error))
        #expect(s.abandoned == 2 && s.finished == 1 && s.isFinished)
        #expect(s.stopReason == .cancelled)
    }

    @Test func aSpentBudgetStopsBeforeTheFirstSample() {
        var s = RunScheduler(configuration: .init(options: RunnerOptions(budgetUSD: 1)), spentUSD: 1)
        #expect(s.stopReason == .budgetExceeded)
        #expect(!s.wantsInput && s.isFinished)
        let r13 = s.stop(.stopped)
        #expect(!r13)
    }
}
