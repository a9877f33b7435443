import ChatbotTesterCore
import Foundation

/// What the driver carries out, in the order the scheduler decided it (see `RunFlow`).
enum RunNote: Sendable {
    /// A sample started (its task is already playing it).
    case started(id: String, index: Int)
    /// `count` samples in a row skipped: their ids are journaled already (resume).
    case skippedCompleted(Int)
    /// A sample skipped: its id appeared earlier in this input.
    case skippedDuplicate(id: String)
    /// A sample finished: journal it, count it, hand on what the scheduler released.
    indirect case finished(RunFinished)
    /// This decision stopped the run (`inFlight` as it was then).
    case stopping(RunStopReason, inFlight: Int)
    /// The input failed (the scheduler has stopped the run already).
    case inputFailed(any Error)
    /// An input read through the async iterator returned (`nil`: the end).
    case read(TestSample?)
    /// An input read through the async iterator threw.
    case readFailed(any Error)
    /// Time to sync the journal if due.
    case tick
    /// A graceful stop was requested.
    case stopRequested
}

/// A finished sample and what the scheduler made of it.
struct RunFinished: Sendable {
    var index: Int
    var record: RunRecord
    /// The journal line, encoded in the sample's own task.
    var line: Data?
    var completion: RunScheduler.Completion
    /// Samples in flight once this one was counted out.
    var inFlight: Int
}

/// A sample the scheduler admitted: play it.
struct RunStart: Sendable {
    var sample: TestSample
    var seq: Int
    var index: Int
}

/// The state the Runner's driver and its sample tasks share: the scheduler (the one place that
/// decides what starts), the input when it can be read without suspending, and the notes the
/// driver has yet to carry out (journal, events, hand-on), in the order they were decided.
///
/// A sample's task that finishes counts its sample out and, when a slot is free and the input can
/// be read at once, admits and plays the next sample itself, without waiting for the driver: the
/// next request leaves as soon as the reply is read (one task wake-up per case instead of three).
/// It stops doing so while the driver has `chainLimit` or more finished samples still to carry
/// out (a slow consumer or journal holds the run back, as when the driver starts every sample);
/// the driver then starts the samples the scheduler wants.
final class RunFlow: @unchecked Sendable {
    private struct State {
        var scheduler: RunScheduler
        var reader: ImmediateSampleReader?
        var notes: [RunNote] = []
        /// The driver, parked in `next()` until a note comes.
        var driver = ParkingSlot()
        /// Wake the waiting driver without notes (its task was cancelled).
        var woken = false
        /// The driver was woken for its cancel already (it is woken once; then the cancelled
        /// samples' notes wake it).
        var cancelSeen = false
        /// Finished samples not yet carried out by the driver.
        var backlog = 0
        /// A tick note waits in `notes`.
        var tickPending = false
    }

    private let state: Locked<State>
    private let control: RunControl
    private let chainLimit: Int
    /// Reads per `admit` call at most (skipped samples are read in a loop; the lock is let go in between).
    static let readsPerAdmit = 1024

    init(scheduler: RunScheduler, reader: ImmediateSampleReader?, control: RunControl, chainLimit: Int) {
        state = Locked(State(scheduler: scheduler, reader: reader))
        self.control = control
        self.chainLimit = max(1, chainLimit)
    }

    /// Whether samples are read without suspending (else through the async iterator, by the driver).
    var readsImmediately: Bool { state.withLock { $0.reader != nil } }

    /// A copy of the scheduler (for the summary).
    var scheduler: RunScheduler { state.withLock { $0.scheduler } }

    /// Changes the scheduler under the lock (the driver's own decisions).
    func withScheduler<R>(_ body: (inout RunScheduler) -> R) -> R {
        state.withLock { body(&$0.scheduler) }
    }

    /// Stops the run for `reason`; returns the stopping note to carry out when this call stopped it.
    func stop(_ reason: RunStopReason) -> RunNote? {
        state.withLock { s -> RunNote? in s.scheduler.stop(reason) ? .stopping(reason, inFlight: s.scheduler.inFlight) : nil }
    }

    /// Cancels the run (samples in flight that fail are abandoned); the note when this call stopped it.
    func cancel() -> RunNote? {
        state.withLock { s -> RunNote? in s.scheduler.cancel() ? .stopping(.cancelled, inFlight: s.scheduler.inFlight) : nil }
    }

    /// Queues a note for the driver and wakes it.
    func push(_ note: RunNote) {
        let waiter = state.withLock { s -> ParkingSlot.Waiter? in
            if case .tick = note {
                if s.tickPending { return nil }
                s.tickPending = true
            }
            s.notes.append(note)
            return s.driver.wake()
        }
        waiter?.resume()
    }

    /// The notes queued so far, waiting for one when there are none; `nil` when the run is over
    /// (nothing in flight, nothing more to start, nothing to carry out). Returns an empty list once
    /// when the waiting task is cancelled.
    func next() async -> [RunNote]? {
        while true {
            enum Step {
                case notes([RunNote])
                case over
                case wait
            }
            let step = state.withLock { s -> Step in
                // Whatever woke the driver is seen now.
                s.driver.consumeWake()
                if !s.notes.isEmpty {
                    defer {
                        s.notes.removeAll(keepingCapacity: true)
                        s.tickPending = false
                    }
                    return .notes(s.notes)
                }
                if s.woken {
                    s.woken = false
                    return .notes([])
                }
                return s.scheduler.isFinished ? .over : .wait
            }
            switch step {
            case .notes(let notes): return notes
            case .over: return nil
            case .wait: break
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { s -> ParkingSlot.Waiter? in
                        if !s.notes.isEmpty || s.woken || s.scheduler.isFinished { return continuation }
                        return s.driver.park(continuation)
                    }
                    resumeNow?.resume()
                }
            } onCancel: {
                let waiter = self.state.withLock { s -> ParkingSlot.Waiter? in
                    guard !s.cancelSeen else { return nil }
                    s.cancelSeen = true
                    s.woken = true
                    return s.driver.wake()
                }
                waiter?.resume()
            }
        }
    }

    /// The driver carried out `count` finished notes.
    func carriedOut(finished count: Int) {
        guard count > 0 else { return }
        state.withLock { $0.backlog -= count }
    }

    /// The driver's admission: the next sample to start from the immediate input (its notes queued),
    /// or `nil` when the scheduler wants none now or `readsPerAdmit` reads were skipped.
    func admit() -> RunStart? {
        let stopRequested = control.isStopRequested
        return state.withLock { s in Self.admit(&s, stopRequested: stopRequested, control: control) }
    }

    /// Whether the driver should start an async read now (it then calls `beginRead` itself); marks it begun.
    func beginAsyncRead() -> Bool {
        state.withLock { s in
            guard s.reader == nil, s.scheduler.wantsInput else { return false }
            s.scheduler.beginRead()
            return true
        }
    }

    /// A sample read through the async iterator: the start, or `nil` (notes queued).
    func received(_ sample: TestSample?) -> RunStart? {
        state.withLock { s in
            guard let sample else {
                s.scheduler.endOfInput()
                return nil
            }
            return Self.admitted(&s, sample)
        }
    }

    /// An async read threw.
    func readFailed(_ error: any Error, cancelled: Bool) {
        state.withLock { s in Self.inputFailed(&s, error, cancelled: cancelled) }
    }

    /// A sample's task finished its sample: counts it out (notes queued, the driver woken) and
    /// returns the next sample for this task to play, when one may start now.
    func finished(_ start: RunStart, record: RunRecord, line: Data?, cancelled: Bool) -> RunStart? {
        let stopRequested = control.isStopRequested
        let (next, waiter) = state.withLock { s -> (RunStart?, ParkingSlot.Waiter?) in
            // Checked before counting: a sample that failed because of the cancel is abandoned.
            if cancelled, s.scheduler.cancel() {
                s.notes.append(.stopping(.cancelled, inFlight: s.scheduler.inFlight))
            }
            let completion = s.scheduler.completed(seq: start.seq, index: start.index, record: record)
            s.notes.append(
                .finished(
                    RunFinished(index: start.index, record: record, line: line, completion: completion, inFlight: s.scheduler.inFlight)))
            s.backlog += 1
            var next: RunStart?
            if s.backlog <= chainLimit, s.reader != nil {
                next = Self.admit(&s, stopRequested: stopRequested, control: control)
            }
            return (next, s.driver.wake())
        }
        waiter?.resume()
        return next
    }

    private static func admit(_ s: inout State, stopRequested: Bool, control: RunControl) -> RunStart? {
        guard let reader = s.reader else { return nil }
        var stopRequested = stopRequested
        for _ in 0..<readsPerAdmit {
            // Skipped samples are read in a row here: a stop is looked for at each.
            if stopRequested, s.scheduler.stop(.stopped) {
                s.notes.append(.stopping(.stopped, inFlight: s.scheduler.inFlight))
            }
            guard s.scheduler.wantsInput else { return nil }
            s.scheduler.beginRead()
            let sample: TestSample?
            do {
                sample = try reader.next()
            } catch {
                inputFailed(&s, error, cancelled: Task.isCancelled)
                return nil
            }
            guard let sample else {
                s.scheduler.endOfInput()
                return nil
            }
            if let start = admitted(&s, sample) { return start }
            stopRequested = control.isStopRequested
        }
        return nil
    }

    private static func admitted(_ s: inout State, _ sample: TestSample) -> RunStart? {
        switch s.scheduler.received(sample) {
        case .start(let seq, let index):
            s.notes.append(.started(id: sample.id, index: index))
            return RunStart(sample: sample, seq: seq, index: index)
        case .skipCompleted:
            if case .skippedCompleted(let count) = s.notes.last {
                s.notes[s.notes.count - 1] = .skippedCompleted(count + 1)
            } else {
                s.notes.append(.skippedCompleted(1))
            }
        case .skipDuplicate:
            s.notes.append(.skippedDuplicate(id: sample.id))
        case .notStarted:
            break
        }
        return nil
    }

    private static func inputFailed(_ s: inout State, _ error: any Error, cancelled: Bool) {
        s.scheduler.endOfInput()
        if cancelled || error is CancellationError {
            if s.scheduler.cancel() { s.notes.append(.stopping(.cancelled, inFlight: s.scheduler.inFlight)) }
        } else {
            s.notes.append(.inputFailed(error))
            if s.scheduler.stop(.error) { s.notes.append(.stopping(.error, inFlight: s.scheduler.inFlight)) }
        }
    }
}
