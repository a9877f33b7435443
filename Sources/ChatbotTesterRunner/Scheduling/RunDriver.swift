import ChatbotTesterCore
import Foundation

/// The I/O shell around `RunScheduler`: reads input, plays samples in a task group, journals,
/// emits events and hands records to the consumer, doing exactly what the scheduler decides.
///
/// The scheduler lives in a `RunFlow` that the sample tasks share: a task whose sample finished
/// counts it out there and, when the input is read without suspending, starts the next sample
/// itself. Every decision also queues a note (started, finished, stopping, …) that this driver
/// carries out in order: events, the journal, then the hand-on.
struct RunDriver: Sendable {
    let player: ConversationPlayer
    let options: RunnerOptions
    let events: EventBus
    let journal: RunJournal?
    let resume: Bool
    /// With `resume`: play again the ids whose journaled records are all errors.
    var retryErrors = false
    let total: Int?

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
                    for foreign in scan.foreignLines {
                        events.emit(
                            LogEvent(
                                .warning,
                                "journal line \(foreign.line) holds case '\(foreign.sampleId)' at input position \(foreign.index), "
                                    + "which is not the input's case there, and was skipped; the case at that position runs again",
                                source: "\(journal.key):\(foreign.line)"))
                    }
                    if scan.foreignCount > scan.foreignLines.count {
                        events.emit(
                            LogEvent(
                                .warning, "\(scan.foreignCount - scan.foreignLines.count) more journal lines of other cases were skipped",
                                source: journal.key))
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

        // An input read without suspending is read under the flow's lock, by this loop and by the
        // sample tasks; any other through its async iterator in a child task per read (so a read
        // that waits never holds up the bookkeeping).
        let immediate = (samples as? any ImmediateSampleSequence)?.makeImmediateReader()
        let input = immediate == nil ? InputBox(samples.makeAsyncIterator()) : nil
        let flow = RunFlow(scheduler: scheduler, reader: immediate, control: control, chainLimit: options.concurrency)
        var pendingSkips = (completed: 0, duplicates: 0)
        let tickInterval = Duration.seconds(max(0.05, options.syncIntervalSeconds / 2))
        let player = player
        let journaling = journal != nil

        /// Plays `start`, then each sample its finish admits, until none may start now.
        @Sendable func play(_ start: RunStart) async {
            var current = start
            while true {
                let record = await player.play(current.sample)
                let line = journaling ? try? JournalLine.encode(record, index: current.index) : nil
                guard let next = flow.finished(current, record: record, line: line, cancelled: Task.isCancelled) else { return }
                current = next
            }
        }

        await withDiscardingTaskGroup { group in
            group.addTask {
                if await control.waitForStop() { flow.push(.stopRequested) }
            }
            if journaling {
                group.addTask {
                    while (try? await Task.sleep(for: tickInterval)) != nil { flow.push(.tick) }
                }
            }

            func noteStop(_ note: RunNote?) {
                if case .stopping(let reason, let inFlight)? = note {
                    events.emit(RunStoppingEvent(reason: reason, inFlight: inFlight))
                }
            }

            func flushSkips() {
                guard pendingSkips.completed + pendingSkips.duplicates > 0 else { return }
                events.emit(RunSamplesSkippedEvent(count: pendingSkips.completed, duplicates: pendingSkips.duplicates))
                pendingSkips = (0, 0)
            }

            while true {
                if Task.isCancelled { noteStop(flow.cancel()) }
                // Start what the scheduler wants now (the sample tasks start most samples themselves).
                if immediate != nil {
                    while let start = flow.admit() {
                        group.addTask { await play(start) }
                    }
                } else if let input, flow.beginAsyncRead() {
                    group.addTask {
                        do { flow.push(.read(try await input.next())) } catch { flow.push(.readFailed(error)) }
                    }
                }
                guard let notes = await flow.next() else { break }
                var finishedCount = 0
                for note in notes {
                    switch note {
                    case .started(let id, let index):
                        flushSkips()
                        events.emit(RunSampleStartedEvent(sampleId: id, index: index))
                    case .skippedCompleted(let count):
                        pendingSkips.completed += count
                        if pendingSkips.completed >= 1000 { flushSkips() }
                    case .skippedDuplicate(let id):
                        pendingSkips.duplicates += 1
                        events.emit(LogEvent(.warning, "duplicate sample id '\(id)' skipped", source: "runner"))
                    case .stopping:
                        noteStop(note)
                    case .inputFailed(let error):
                        failure = failure ?? error
                    case .read(let sample):
                        if let start = flow.received(sample) {
                            group.addTask { await play(start) }
                        }
                    case .readFailed(let error):
                        flow.readFailed(error, cancelled: Task.isCancelled)
                    case .finished(let finished):
                        finishedCount += 1
                        let record = finished.record
                        let completion = finished.completion
                        if completion.journal {
                            do {
                                if let line = finished.line {
                                    try await journal?.append(line: line)
                                } else {
                                    try await journal?.append(record, index: finished.index)
                                }
                            } catch {
                                failure = failure ?? error
                                noteStop(flow.stop(.error))
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
                            events.emit(RunStoppingEvent(reason: reason, inFlight: finished.inFlight))
                        }
                        for (emitted, emittedIndex) in zip(completion.emit, completion.emitIndices) {
                            // The line encoded in the sample's task goes along with its own record.
                            let journalLine = emittedIndex == finished.index && completion.emit.count == 1 ? finished.line : nil
                            await channel.send(IndexedRunRecord(index: emittedIndex, record: emitted, journalLine: journalLine))
                        }
                    case .tick:
                        try? await journal?.syncIfDue()
                    case .stopRequested:
                        noteStop(flow.stop(.stopped))
                    }
                }
                flow.carriedOut(finished: finishedCount)
            }
            flushSkips()
            group.cancelAll()
        }
        scheduler = flow.scheduler

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
