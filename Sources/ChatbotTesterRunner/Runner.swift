import ChatbotTesterCore

/// Plays test cases against the chatbot under test.
///
/// ```swift
/// let runner = Runner(
///     target: bot, targetName: "bot", options: RunnerOptions(concurrency: 32),
///     simulators: { name in try await backends.chat(name ?? "sim") },
///     events: bus, journal: RunJournal(store: FileArtifactStore(root: outDir)))
/// let execution = runner.run(samples, resume: true)
/// for try await record in execution { … }
/// let summary = await execution.summary
/// ```
/// Samples stream through: at most `options.concurrency` are in flight, the input is read only as
/// slots free up, and finished records are journaled (when a journal is given) before they are
/// handed on. A failed sample is a record with `status: error`, never a thrown error.
public struct Runner: Sendable {
    /// The chatbot under test (with whatever middleware the caller wrapped around it).
    public let target: any ChatBackend
    /// The target's backend instance name, written into each record.
    public let targetName: String
    public let options: RunnerOptions
    /// Finds the backend that plays simulated users.
    public let simulators: SimulatorResolver?
    /// Finds the backends that answer calls to `executor:` tools.
    public let toolExecutors: ToolExecutorResolver?
    public let events: EventBus
    /// Where finished records are journaled; `nil` runs without a journal (no resume).
    public let journal: RunJournal?

    public init(
        target: any ChatBackend, targetName: String, options: RunnerOptions = RunnerOptions(),
        simulators: SimulatorResolver? = nil, toolExecutors: ToolExecutorResolver? = nil, events: EventBus = EventBus(),
        journal: RunJournal? = nil
    ) {
        self.target = target
        self.targetName = targetName
        self.options = options
        self.simulators = simulators
        self.toolExecutors = toolExecutors
        self.events = events
        self.journal = journal
    }

    /// A runner whose simulated users are all played by one backend.
    public init(
        target: any ChatBackend, targetName: String, options: RunnerOptions = RunnerOptions(), simulator: any ChatBackend,
        events: EventBus = EventBus(), journal: RunJournal? = nil
    ) {
        self.init(
            target: target, targetName: targetName, options: options, simulators: { _ in simulator }, events: events,
            journal: journal)
    }

    /// Plays one sample (no scheduling, journal or events).
    public func play(_ sample: TestSample) async -> RunRecord {
        await player.play(sample)
    }

    private var player: ConversationPlayer {
        ConversationPlayer(
            target: target, targetName: targetName, options: options, simulators: simulators, toolExecutors: toolExecutors)
    }

    /// Starts a run over `samples`.
    ///
    /// - Parameters:
    ///   - resume: skip ids already in the journal and append to it; without it the journal is
    ///     started afresh.
    ///   - retryErrors: with `resume`, play again the ids whose journaled records are all errors (a
    ///     success then replaces the error in `results.jsonl`); without it they are kept.
    ///   - total: the number of input samples, when known (for progress).
    public func run<S: AsyncSequence & Sendable>(
        _ samples: S, resume: Bool = false, retryErrors: Bool = false, total: Int? = nil
    ) -> RunExecution where S.Element == TestSample {
        let driver = RunDriver(
            player: player,
            options: options, events: events, journal: journal, resume: resume, retryErrors: retryErrors, total: total)
        let control = RunControl()
        let taskBox = Locked<Task<RunSummary, Never>?>(nil)
        let cancelledEarly = Locked(false)
        let channel = RecordChannel(capacity: options.concurrency) {
            let task = taskBox.withLock { task -> Task<RunSummary, Never>? in
                if task == nil { cancelledEarly.withLock { $0 = true } }
                return task
            }
            task?.cancel()
        }
        let task = Task {
            await driver.drive(samples, channel: channel, control: control)
        }
        taskBox.withLock { $0 = task }
        if cancelledEarly.current { task.cancel() }
        return RunExecution(channel: channel, control: control, task: task)
    }

    /// Runs every sample, calling `body` with each record, and returns the summary.
    public func runAll<S: AsyncSequence & Sendable>(
        _ samples: S, resume: Bool = false, retryErrors: Bool = false, total: Int? = nil,
        _ body: (RunRecord) async throws -> Void = { _ in }
    ) async throws -> RunSummary where S.Element == TestSample {
        let execution = run(samples, resume: resume, retryErrors: retryErrors, total: total)
        for try await record in execution { try await body(record) }
        return await execution.summary
    }
}

/// Any `Sequence` of samples as an `AsyncSequence` (for arrays in code and tests).
public struct SampleSequence<Base: Sequence & Sendable>: AsyncSequence, Sendable where Base.Element == TestSample {
    public typealias Element = TestSample
    private let base: Base

    public init(_ base: Base) {
        self.base = base
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: Base.Iterator
        public mutating func next() async -> TestSample? { base.next() }

        /// `next()` without suspending.
        mutating func nextNow() -> TestSample? { base.next() }
    }
}
