import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterRunner
import ChatbotTesterTesting
import Foundation
import Testing

/// A target that dies mid-run: the circuit breaker stops the run (`targetDown`), everything
/// recorded is kept, `--resume` continues and keeps the errors, `--resume --retry-errors` replays
/// only the errors. Real HTTP over loopback, counted at the server.
@Suite struct FailFastRunTests {
    /// Shuts the server down right after its `okBeforeDeath`-th successful reply.
    final class DyingTarget: ChatBackend, @unchecked Sendable {
        let inner: any ChatBackend
        let server: MockLLMServer
        let okBeforeDeath: Int
        let ok = Locked(0)

        init(inner: any ChatBackend, server: MockLLMServer, okBeforeDeath: Int) {
            self.inner = inner
            self.server = server
            self.okBeforeDeath = okBeforeDeath
        }

        func send(_ request: ChatRequest) async throws -> ChatResponse {
            let response = try await inner.send(request)
            if ok.withLock({ value -> Int in
                value += 1
                return value
            }) == okBeforeDeath {
                try await server.shutdown()
            }
            return response
        }
    }

    /// An `openai` backend at `server`, inside the standard middleware: 3 attempts, breaker at 5.
    private func target(_ server: MockLLMServer, events: EventBus = EventBus()) async throws -> any ChatBackend {
        let spec = ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": "bot"])
        let built = try await BuiltinBackends.registry().make(spec, context: ComponentContext(instanceName: "bot", section: "backends"))
        let bare = try #require(built as? any ChatBackend)
        return try BackendMiddleware.wrap(
            bare, name: "bot",
            options: MiddlewareOptions(
                retry: RetryPolicy(attempts: 3, baseDelaySeconds: 0, maxDelaySeconds: 0),
                circuitBreaker: CircuitBreaker.Settings(consecutiveFailures: 5)), events: events)
    }

    private func results(_ store: InMemoryArtifactStore) async throws -> [RunRecord] {
        try await ResultsWriter.write(store: store, to: "results.jsonl")
        let decoder = JSONCoding.decoder()
        var records: [RunRecord] = []
        for try await (_, text) in store.lines(of: "results.jsonl") {
            records.append(try decoder.decode(RunRecord.self, from: Data(text.utf8)))
        }
        return records
    }

    @Test func serverDyingMidRunStopsTheRunAndResumeContinues() async throws {
        let samples = (1...30).map { TestSample(id: "q\($0)", input: "hello \($0)") }
        let store = InMemoryArtifactStore()

        // Session 1: 5 replies, then the server is gone.
        let dying = MockLLMServer()
        try await dying.start()
        let events = RecordingEventSink()
        let bus = EventBus()
        bus.subscribe(events)
        let first = Runner(
            target: DyingTarget(inner: try await target(dying, events: bus), server: dying, okBeforeDeath: 5), targetName: "bot",
            options: RunnerOptions(concurrency: 1), events: bus, journal: RunJournal(store: store))
        let stopped = try await first.runAll(SampleSequence(samples), total: samples.count)
        #expect(stopped.stopReason == .targetDown)
        #expect(stopped.stopReason.isAborted)
        #expect(stopped.error?.code == "target_down")
        // q6 failed its 3 attempts (3 consecutive failures), q7's 2nd attempt is the 5th: q7 is
        // not data about the bot and is left for the resume.
        #expect(stopped.ok == 5)
        #expect(stopped.failed == 1)
        #expect(stopped.abandoned == 1)
        #expect(dying.stats.requests == 5)
        #expect(Set(stopped.statistics.errorsByCode.keys).isSubset(of: ["connection_refused", "connection_closed"]))
        await bus.shutdown()
        #expect(events.events(of: BackendCircuitOpenEvent.self).count == 1)

        // Session 2 (plain --resume): the error is kept and said so; the rest is played.
        try await withMockLLMServer { server in
            let bus = EventBus()
            let sink = RecordingEventSink()
            bus.subscribe(sink)
            let resumed = Runner(
                target: try await target(server), targetName: "bot", options: RunnerOptions(concurrency: 4), events: bus,
                journal: RunJournal(store: store))
            let summary = try await resumed.runAll(SampleSequence(samples), resume: true, total: samples.count)
            await bus.shutdown()
            #expect(summary.stopReason == .completed)
            #expect(server.stats.requests == 24)
            #expect(summary.ok == 29 && summary.failed == 1)
            #expect(sink.events(of: RunResumeErrorsEvent.self).map(\.kept) == [1])
            #expect(sink.events(of: LogEvent.self).contains { $0.message.contains("--retry-errors") })
            #expect(summary.keptErrors == 1)
        }
        var records = try await results(store)
        #expect(records.count == 30)
        #expect(records.filter { $0.status == .error }.map(\.sampleId) == ["q6"])

        // Session 3 (--resume --retry-errors): only q6 is played; its success replaces the error.
        try await withMockLLMServer { server in
            let again = Runner(target: try await target(server), targetName: "bot", journal: RunJournal(store: store))
            let summary = try await again.runAll(SampleSequence(samples), resume: true, retryErrors: true, total: samples.count)
            #expect(server.stats.requests == 1)
            #expect(summary.ok == 30 && summary.failed == 0)
        }
        records = try await results(store)
        #expect(records.map(\.sampleId) == samples.map(\.id))
        #expect(records.allSatisfy { $0.status == .ok })

        // A success is never replaced: another --retry-errors session plays nothing.
        try await withMockLLMServer { server in
            let again = Runner(target: try await target(server), targetName: "bot", journal: RunJournal(store: store))
            let summary = try await again.runAll(SampleSequence(samples), resume: true, retryErrors: true, total: samples.count)
            #expect(server.stats.requests == 0)
            #expect(summary.ok == 30)
        }
    }

    @Test func journalScanKeepsOrRetriesErrors() async throws {
        let store = InMemoryArtifactStore()
        let journal = RunJournal(store: store)
        try await journal.open(resume: false)
        let ok = RunRecord(sample: TestSample(id: "a", input: "x"), target: "bot")
        var failed = RunRecord(sample: TestSample(id: "b", input: "y"), target: "bot", status: .error)
        failed.error = ErrorInfo(code: "connection_refused", message: "refused")
        var failedThenOk = RunRecord(sample: TestSample(id: "c", input: "z"), target: "bot", status: .error)
        failedThenOk.error = ErrorInfo(code: "http_5xx", message: "HTTP 500")
        var okThenFailed = RunRecord(sample: TestSample(id: "d", input: "w"), target: "bot", status: .error)
        okThenFailed.error = ErrorInfo(code: "timeout", message: "slow")
        try await journal.append(ok, index: 0)
        try await journal.append(failed, index: 1)
        try await journal.append(failedThenOk, index: 2)
        try await journal.append(RunRecord(sample: TestSample(id: "c", input: "z"), target: "bot"), index: 2)
        try await journal.append(RunRecord(sample: TestSample(id: "d", input: "w"), target: "bot"), index: 3)
        try await journal.append(okThenFailed, index: 3)
        try await journal.close()

        let keep = try await journal.scan()
        #expect(keep.completedIDs.count == 4 && ["a", "b", "c", "d"].allSatisfy(keep.completedIDs.contains))
        #expect(keep.keptErrors == 1 && keep.retriedErrors == 0)
        #expect(keep.statistics.ok == 3 && keep.statistics.error == 1)
        #expect(keep.statistics.errorsByCode == ["connection_refused": 1])
        #expect(keep.errorExamples == ["connection_refused": "refused"])
        let retry = try await journal.scan(retryErrors: true)
        #expect(retry.completedIDs.count == 3 && ["a", "c", "d"].allSatisfy(retry.completedIDs.contains) && !retry.completedIDs.contains("b"))
        #expect(retry.retriedErrors == 1 && retry.keptErrors == 0)
        #expect(retry.statistics.ok == 3 && retry.statistics.error == 0)

        let records = try await results(store)
        #expect(records.map(\.sampleId) == ["a", "b", "c", "d"])
        #expect(records.map(\.status) == [.ok, .error, .ok, .ok])
    }
}
