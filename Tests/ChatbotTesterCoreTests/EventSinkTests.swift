import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

struct SampleDoneEvent: ProgressEvent {
    static let kind = "test.sample.completed"
    var sampleId: String
    var ok: Bool
    var progress: ProgressUpdate { .advanced(stage: "run", succeeded: ok, count: 1) }
}

struct StageEvent: ProgressEvent {
    static let kind = "test.stage"
    var update: String
    var total: Int?
    var progress: ProgressUpdate { update == "start" ? .started(stage: "run", total: total) : .finished(stage: "run") }
}

@Suite struct EventSinkTests {
    @Test func jsonlLogWritesOneLinePerEventWithKindTimeAndFields() async throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("out/events.jsonl")
        let bus = EventBus()
        bus.subscribe(try JSONLEventLogSink(url: url))
        bus.emit(LogEvent(.warning, "careful", source: "backends.bot"))
        bus.emit(BackendRetryEvent(backend: "bot", attempt: 1, delaySeconds: 2, code: "http_status", status: 429, retryAfterSeconds: 2, message: "slow down"))
        for i in 0..<100 { bus.emit(SampleDoneEvent(sampleId: "s\(i)", ok: i % 10 != 0)) }
        await bus.shutdown()

        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 102)
        let first = try JSONValue(parsing: String(lines[0]))
        #expect(first["kind"] == "log")
        #expect(first["level"] == "warning")
        #expect(first["message"] == "careful")
        #expect(first["source"] == "backends.bot")
        let time = try #require(first["time"]?.stringValue)
        #expect(try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(time) <= Date())
        let retry = try JSONValue(parsing: String(lines[1]))
        #expect(retry["kind"] == "backend.retry")
        #expect(retry["status"] == 429)
        #expect(retry["delaySeconds"]?.doubleValue == 2)
        let last = try JSONValue(parsing: String(lines[101]))
        #expect(last["kind"] == "test.sample.completed")
        #expect(last["sampleId"] == "s99")
        // kind and time first, then the event's fields in sorted order.
        #expect(lines[0].hasPrefix(#"{"kind":"log","time":""#))
        #expect(lines[0].hasSuffix(#"Z","level":"warning","message":"careful","source":"backends.bot"}"#))
    }

    /// The bus hands an `InlineEventSink` every event in emission order without its `receive`, and
    /// runs `drain()` on the sink's task when `accept` asks for it (here every 10th event).
    @Test func inlineSinksTakeEventsInOrderAndDrainWhenAsked() async throws {
        final class Recorder: InlineEventSink {
            let state = Locked((accepted: [String](), drained: [Int](), received: 0, finishedAfter: -1))
            func accept(_ envelope: EventEnvelope) -> Bool {
                state.withLock { s in
                    s.accepted.append((envelope.event as? SampleDoneEvent)?.sampleId ?? "?")
                    return s.accepted.count % 10 == 0
                }
            }
            func drain() async { state.withLock { $0.drained.append($0.accepted.count) } }
            func receive(_ envelope: EventEnvelope) async { state.withLock { $0.received += 1 } }
            func finish() async { state.withLock { $0.finishedAfter = $0.accepted.count } }
        }
        let bus = EventBus()
        let sink = Recorder()
        bus.subscribe(sink)
        for i in 0..<1000 { bus.emit(SampleDoneEvent(sampleId: "s\(i)", ok: true)) }
        await bus.shutdown()
        let state = sink.state.current
        #expect(state.accepted == (0..<1000).map { "s\($0)" })
        #expect(state.received == 0)
        #expect(!state.drained.isEmpty)
        #expect(state.drained == state.drained.sorted())
        #expect(state.drained.allSatisfy { $0 >= 10 })
        #expect(state.finishedAfter == 1000)
    }

    @Test func jsonlLogFiltersByKindAndAppends() async throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("events.jsonl")
        for _ in 0..<2 {
            let bus = EventBus()
            bus.subscribe(try JSONLEventLogSink(url: url, include: { $0.hasPrefix("backend.") }))
            bus.emit(LogEvent(.info, "skipped"))
            bus.emit(BackendConcurrencyEvent(backend: "bot", limit: 4, reason: "rate_limited"))
            await bus.shutdown()
        }
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.contains(#""kind":"backend.concurrency""#) })
    }

    @Test func reservedFieldNamesAndEmptyEventsStayValidJSON() throws {
        struct Clashing: TesterEvent {
            static let kind = "test.clash"
            var kind = "mine"
            var time = 3
            var other = true
        }
        struct Empty: TesterEvent { static let kind = "test.empty" }
        let date = Date(timeIntervalSince1970: 1_764_000_000.5)
        let clash = try JSONValue(parsing: String(decoding: JSONLEventLogSink.line(for: EventEnvelope(event: Clashing(), time: date)), as: UTF8.self))
        #expect(clash == ["kind": "test.clash", "time": "2025-11-24T16:00:00.500Z", "other": true])
        let empty = String(decoding: JSONLEventLogSink.line(for: EventEnvelope(event: Empty(), time: date)), as: UTF8.self)
        #expect(empty == #"{"kind":"test.empty","time":"2025-11-24T16:00:00.500Z"}"# + "\n")
    }

    @Test func rendererPlainAndTerminal() {
        let s = ProgressSnapshot(stage: "run", total: 1000, completed: 412, failed: 3, startedAt: 100)
        // 412 in 10 s = 41.2/s, 588 left → 14.3 s.
        #expect(ProgressRenderer.line([s], now: 110, style: .plain) == "run: 412/1000 (41%) 41.2/s ETA 0:14 errors 3")
        #expect(
            ProgressRenderer.line([s], now: 110, style: .terminal(width: 120))
                == "run  [########------------]  412/1000  41%  41.2/s  ETA 0:14  errors 3")
        // Too narrow for the bar: drop it, then clip.
        #expect(ProgressRenderer.line([s], now: 110, style: .terminal(width: 50)) == "run  412/1000  41%  41.2/s  ETA 0:14  errors 3")
        #expect(ProgressRenderer.line([s], now: 110, style: .terminal(width: 20)) == "run  412/1000  41%…")
        let unknown = ProgressSnapshot(stage: "generate", completed: 7, startedAt: 0)
        #expect(ProgressRenderer.line([unknown], now: 0, style: .plain) == "generate: 7 dropped 0")
        #expect(
            ProgressRenderer.line([s, unknown], now: 110, style: .terminal(width: 200))
                == "run  412/1000  41%  41.2/s  ETA 0:14  errors 3 │ generate  7  0.1/s")
        var done = s
        done.completed = 1000
        done.finishedAt = 120
        #expect(ProgressRenderer.summary(done, now: 500) == "run: done 1000/1000 in 0:20 (50.0/s) errors 3")
        #expect(ProgressRenderer.duration(3725) == "1:02:05")
        #expect(ProgressRenderer.bar(done: 5, total: 10, width: 4) == "[##--]")
    }

    func runSink(isTerminal: Bool) async throws -> String {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("progress.txt")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        let clock = VirtualClock()
        let sink = ProgressSink(output: handle, isTerminal: isTerminal, width: 80, clock: clock, redrawIntervalSeconds: 1, plainIntervalSeconds: 10)
        let bus = EventBus()
        bus.subscribe(sink)
        // Each event happens 0.5 s after the previous one on the virtual clock.
        func emit(_ event: some TesterEvent) async throws {
            try await clock.sleep(seconds: 0.5)
            bus.emit(event)
        }
        try await emit(StageEvent(update: "start", total: 40))
        for i in 0..<40 {
            try await emit(SampleDoneEvent(sampleId: "s\(i)", ok: i != 7))
            if i == 20 { try await emit(LogEvent(.error, "judge unreachable")) }
            if i == 21 { try await emit(LogEvent(.debug, "hidden")) }
        }
        try await emit(StageEvent(update: "finish"))
        await bus.shutdown()
        try handle.close()
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func generatorDropsAreNotCalledErrors() {
        let generate = ProgressSnapshot(stage: "generate", total: 10, completed: 10, failed: 3, startedAt: 0, finishedAt: 2)
        #expect(ProgressRenderer.summary(generate, now: 2).hasSuffix("dropped 3"))
        let run = ProgressSnapshot(stage: "run", total: 10, completed: 10, failed: 3, startedAt: 0, finishedAt: 2)
        #expect(ProgressRenderer.summary(run, now: 2).hasSuffix("errors 3"))
    }

    @Test func plainSinkWritesPeriodicLinesAndASummary() async throws {
        // Events are delivered asynchronously but the clock only moves before emitting, so the sink
        // may see later clock readings; count lines rather than exact times.
        let text = try await runSink(isTerminal: false)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(!text.contains("\u{1B}"))
        #expect(lines.contains("error: judge unreachable"))
        #expect(!text.contains("hidden"))
        #expect(lines.last?.hasPrefix("run: done 40/40 in ") == true)
        #expect(lines.last?.hasSuffix("errors 1") == true)
        let periodic = lines.filter { $0.hasPrefix("run: ") && !$0.hasPrefix("run: done") }
        #expect(periodic.count >= 1 && periodic.count <= 4)
    }

    @Test func terminalSinkRedrawsOneLine() async throws {
        let text = try await runSink(isTerminal: true)
        #expect(text.contains("\r\u{1B}[K"))
        #expect(text.contains("[####"))
        #expect(text.contains("error: judge unreachable\n"))
        #expect(text.contains("run: done 40/40"))
        #expect(text.hasSuffix("\n"))
    }

    @Test func plainSinkShowsConcurrentStagesOnOneLine() async throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("p.txt")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        let clock = VirtualClock()
        let sink = ProgressSink(output: handle, isTerminal: false, clock: clock, plainIntervalSeconds: 0)
        struct Update: ProgressEvent {
            static let kind = "test.update"
            var progress: ProgressUpdate
            func encode(to encoder: any Encoder) throws {}
        }
        let events: [ProgressUpdate] = [
            .started(stage: "run", total: 4), .started(stage: "evaluate", total: 4),
            .advanced(stage: "run", succeeded: true, count: 2), .advanced(stage: "evaluate", succeeded: false, count: 1),
            .finished(stage: "run"),
        ]
        for update in events {
            try await clock.sleep(seconds: 1)
            await sink.receive(EventEnvelope(event: Update(progress: update)))
        }
        await sink.finish()
        try handle.close()
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.contains("run: 2/4 (50%) 0.7/s ETA 0:03 errors 0 | evaluate: 1/4 (25%) 0.5/s ETA 0:06 errors 1"))
        #expect(lines.contains("run: done 2/4 in 0:04 (0.5/s) errors 0"))
        #expect(lines.last == "evaluate: 1/4 (25%) 0.3/s ETA 0:09 errors 1")
        #expect(sink.snapshots.map(\.stage) == ["evaluate"])
    }
}
