import ChatbotTesterCore
import Foundation

/// The I/O shell around `RunScheduler`: reads input, plays samples in a task group, journals,
/// emits events and hands records to the consumer, doing exactly what the scheduler decides.
struct RunDriver: Sendable {
    let player: ConversationPlayer
    let options: RunnerOptions
    let events: EventBus
    let journal: RunJournal?
    let resume: Bool
    /// With `resume`: play again the ids whose journaled records are all errors.
    var retryErrors = false
    let total: Int?

    /// What the task group's children report.
    private enum Signal: Sendable {
        case sample(TestSample?)
        case inputFailed(any Error)
        /// `line` is the journal line, encoded in the sample's own task.
        case finished(seq: Int, index: Int, record: RunRecord, line: Data?)
        case tick
        case stopRequested
        case idle
    }

    /// Owns the input iterator; only one read is ever outstanding (the scheduler guarantees it).
    private final class InputBox<Iterator: AsyncIteratorProtocol>: @unchecked Sendable where Iterator.Element == TestSample {
        var iterator: Iterator
        init(_ iterator: Iterator) { self.iterator = iterator }
        func next() async throws -> TestSample? { try await iterator.next() }
    }

    func drive<S: AsyncSequence & Sendable>(
        _ samples: S, channel: RecordChannel, control: RunControl
    ) async -> RunSummary where S.Element == TestSample {
        let clock = ContinuousClock()
        let started = clock.now
        var statistics = RunStatistics()
        var scheduler: RunScheduler
        var failure: (any Error)?
        var stopError: ErrorInfo?
        var errorExamples: [String: String] = [:]
        var keptErrors = 0
        var resumed = 0

        // Read back an earlier session's journal and open it for appending.
        do {
            var completed = IDDigestSet()
            if let journal {
                if resume {
                    let scan = try await journal.scan(retryErrors: retryErrors)
                    if scan.malformedCount > 0 {
                        events.emit(RunJournalMalformedEvent(key: journal.key, lines: scan.malformedLines, count: scan.malformedCount))
                    }
                    if scan.keptErrors + scan.retriedErrors > 0 {
                        events.emit(RunResumeErrorsEvent(kept: scan.keptErrors, retried: scan.retriedErrors))
                        if scan.keptErrors > 0 {
                            let plural = scan.keptErrors == 1 ? "" : "s"
                            events.emit(
                                LogEvent(
                                    .warning,
                                    "resuming: keeping \(scan.keptErrors) recorded error\(plural); add --retry-errors to play those cases again",
                                    source: "runner"))
                        }
                    }
                    errorExamples = scan.errorExamples
                    keptErrors = scan.keptErrors
                    completed = scan.completedIDs
                    statistics = scan.statistics
                    resumed = scan.statistics.recorded
                }
                try await journal.open(
                    resume: resume, syncEvery: options.syncEvery, syncInterval: .seconds(options.syncIntervalSeconds))
            }
            scheduler = RunScheduler(
                configuration: .init(options: options), completed: completed, spentUSD: statistics.costUSD,
                expectedCount: total)
        } catch {
            failure = error
            scheduler = RunScheduler(configuration: .init(options: options))
            scheduler.stop(.error)
        }

        events.emit(
            RunStartedEvent(target: player.targetName, total: total, concurrency: options.concurrency, resumed: resumed))
        if scheduler.stopReason == .budgetExceeded {
            events.emit(RunStoppingEvent(reason: .budgetExceeded, inFlight: 0))
        }

        // An input read without suspending is read in this loop; any other through its async
        // iterator in a child task per read (so a read that waits never holds up the bookkeeping).
        let immediate = (samples as? any ImmediateSampleSequence)?.makeImmediateReader()
        let input = immediate == nil ? InputBox(samples.makeAsyncIterator()) : nil
        var pendingSkips = (completed: 0, duplicates: 0)
        let tickInterval = Duration.seconds(max(0.05, options.syncIntervalSeconds / 2))

        await withTaskGroup(of: Signal.self) { group in
            group.addTask { await control.waitForStop() ? .stopRequested : .idle }
            if journal != nil {
                group.addTask { (try? await Task.sleep(for: tickInterval)) == nil ? .idle : .tick }
            }

            func noteStop(_ reason: RunStopReason) {
                events.emit(RunStoppingEvent(reason: reason, inFlight: scheduler.inFlight))
            }

            func flushSkips() {
                guard pendingSkips.completed + pendingSkips.duplicates > 0 else { return }
                events.emit(RunSamplesSkippedEvent(count: pendingSkips.completed, duplicates: pendingSkips.duplicates))
                pendingSkips = (0, 0)
            }

            while true {
                if Task.isCancelled, scheduler.cancel() { noteStop(.cancelled) }
                // Skipped samples read without waiting never pass through `group.next()`, where the
                // stop signal arrives: the flag is checked here too.
                if immediate != nil, control.isStopRequested, scheduler.stop(.stopped) { noteStop(.stopped) }
                var read: Signal?
                if scheduler.wantsInput {
                    scheduler.beginRead()
                    if let immediate {
                        do { read = .sample(try immediate.next()) } catch { read = .inputFailed(error) }
                    } else if let input {
                        group.addTask {
                            do { return .sample(try await input.next()) } catch { return .inputFailed(error) }
                        }
                    }
                }
                if scheduler.isFinished { break }
                let signal: Signal
                if let read {
                    signal = read
                } else {
                    guard let next = await group.next() else { break }
                    signal = next
                }
                // Checked before handling: a sample that failed because of the cancel is abandoned.
                if Task.isCancelled, scheduler.cancel() { noteStop(.cancelled) }
                switch signal {
                case .sample(let sample?):
                    switch scheduler.received(sample) {
                    case .start(let seq, let index):
                        flushSkips()
                        events.emit(RunSampleStartedEvent(sampleId: sample.id, index: index))
                        let player = player
                        let journaling = journal != nil
                        group.addTask {
                            let record = await player.play(sample)
                            let line = journaling ? try? JournalLine.encode(record, index: index) : nil
                            return .finished(seq: seq, index: index, record: record, line: line)
                        }
                    case .skipCompleted:
                        pendingSkips.completed += 1
                        if pendingSkips.completed >= 1000 { flushSkips() }
                    case .skipDuplicate:
                        pendingSkips.duplicates += 1
                        events.emit(LogEvent(.warning, "duplicate sample id '\(sample.id)' skipped", source: "runner"))
                    case .notStarted:
                        break
                    }
                case .sample(nil):
                    scheduler.endOfInput()
                case .inputFailed(let error):
                    scheduler.endOfInput()
                    if Task.isCancelled || error is CancellationError {
                        if scheduler.cancel() { noteStop(.cancelled) }
                    } else {
                        failure = failure ?? error
                        if scheduler.stop(.error) { noteStop(.error) }
                    }
                case .finished(let seq, let index, let record, let line):
                    let completion = scheduler.completed(seq: seq, index: index, record: record)
                    if completion.journal {
                        do {
                            if let line {
                                try await journal?.append(line: line)
                            } else {
                                try await journal?.append(record, index: index)
                            }
                        } catch {
                            failure = failure ?? error
                            if scheduler.stop(.error) { noteStop(.error) }
                        }
                        statistics.add(record)
                        if let error = record.error, errorExamples[error.code] == nil { errorExamples[error.code] = error.message }
                        if record.status == .ok {
                            events.emit(RunSampleCompletedEvent(record: record))
                        } else {
                            events.emit(RunSampleFailedEvent(record: record))
                        }
                    }
                    if let reason = completion.stopped {
                        if reason == .targetDown {
                            stopError = record.error
                            events.emit(LogEvent(.error, "\(record.error?.message ?? "target down"): stopping the run", source: "runner"))
                        }
                        noteStop(reason)
                    }
                    for (emitted, emittedIndex) in zip(completion.emit, completion.emitIndices) {
                        // The line encoded in the sample's task goes along with its own record.
                        let journalLine = emittedIndex == index && completion.emit.count == 1 ? line : nil
                        await channel.send(IndexedRunRecord(index: emittedIndex, record: emitted, journalLine: journalLine))
                    }
                case .tick:
                    try? await journal?.syncIfDue()
                    if !scheduler.isFinished {
                        group.addTask { (try? await Task.sleep(for: tickInterval)) == nil ? .idle : .tick }
                    }
                case .stopRequested:
                    if scheduler.stop(.stopped) { noteStop(.stopped) }
                case .idle:
                    break
                }
            }
            flushSkips()
            group.cancelAll()
        }

        do {
            try await journal?.close()
        } catch {
            failure = failure ?? error
            scheduler.stop(.error)
        }

        let reason: RunStopReason = failure != nil ? .error : (scheduler.stopReason ?? .completed)
        let summary = RunSummary(
            target: player.targetName, stopReason: reason, error: failure.map(ErrorInfo.init) ?? stopError, statistics: statistics,
            resumed: resumed, skipped: scheduler.skipped, duplicates: scheduler.duplicates, abandoned: scheduler.abandoned,
            played: scheduler.played, durationSeconds: (clock.now - started).milliseconds / 1000, budgetUSD: options.budgetUSD,
            errorExamples: errorExamples, keptErrors: keptErrors)
        events.emit(RunCompletedEvent(summary: summary))
        channel.finish(throwing: failure)
        return summary
    }
}
