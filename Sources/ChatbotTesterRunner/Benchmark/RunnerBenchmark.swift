import ChatbotTesterCore
import Foundation

/// Measures the Runner against a target (the CLI's `bench` points it at the mock server through
/// the `openai` backend): throughput, ratio to the ideal time, latency the stack adds per request,
/// and memory.
public enum RunnerBenchmark {
    /// One measured run.
    public struct Measurement: Sendable, Hashable, Codable {
        public var samples: Int
        public var concurrency: Int
        /// The latency the server was configured with.
        public var latencyMs: Double
        public var seconds: Double
        public var samplesPerSecond: Double
        /// `samples × latency / concurrency`: the time a zero-overhead runner would take.
        public var idealSeconds: Double
        /// `seconds / idealSeconds` (1.00 is ideal; `nil` at latency 0).
        public var ratioToIdeal: Double?
        /// Per request: wall time seen by the Runner minus the configured latency.
        public var addedLatencyP50Ms: Double?
        public var addedLatencyP99Ms: Double?
        /// Wall time from the process's start (exec, loading, everything before the run) to the
        /// end of this run (`ProcessStart`; `nil` where unknown). For the first run of a process
        /// this is `seconds` plus the start-up.
        public var processSeconds: Double?
        /// `processSeconds / idealSeconds` (`nil` at latency 0).
        public var processRatioToIdeal: Double?
        /// `VmHWM` after the run (peak over the whole process so far).
        public var peakRSSBytes: Int?
        /// `VmRSS` after the run.
        public var rssBytes: Int?
        public var ok: Int
        public var failed: Int
        /// The server's own measure of how long it held each reply (request read → reply written),
        /// when the server reports it (the mock server does): the mean hold, and the median and
        /// smallest overshoot past `latencyMs`. The ratios stay against the nominal `latencyMs`.
        public var serverHoldMeanMs: Double?
        public var serverHoldOvershootP50Ms: Double?
        public var serverHoldOvershootMinMs: Double?
        /// `CLOCK_MONOTONIC` (seconds) when the measured window started and ended (`nil` where that
        /// clock is not read): a parent that reads the same clock around the process (Python's
        /// `time.monotonic()`) gets the start-up before the window and the teardown after it
        /// exactly, without `processSeconds`' clock-tick rounding.
        public var monotonicWindowStart: Double?
        public var monotonicWindowEnd: Double?
    }

    /// Wraps the target to time each call as the Runner sees it.
    private struct TimedBackend: ChatBackend {
        let base: any ChatBackend
        let histogram: Locked<LatencyHistogram>
        let latencyMs: Double

        func send(_ request: ChatRequest) async throws -> ChatResponse {
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await base.send(request)
            let added = (clock.now - start).milliseconds - latencyMs
            histogram.withLock { $0.record(max(0, added)) }
            return response
        }
    }

    /// Runs `samples` synthetic single-prompt samples through `target` and measures.
    ///
    /// - Parameters:
    ///   - latencyMs: the latency the target adds per request (for the ideal time and added latency).
    ///   - journal: journal results too (measures the journal's cost); `nil` runs without.
    ///   - tools: tools offered in every sample (`agentTools` with `inProcessAgentTarget` measures
    ///     agent conversations); none by default.
    public static func measure(
        target: any ChatBackend, samples: Int, latencyMs: Double, concurrency: Int, journal: RunJournal? = nil,
        tools: [ToolSpec]? = nil
    ) async throws -> Measurement {
        let histogram = Locked(LatencyHistogram())
        let timed = TimedBackend(base: target, histogram: histogram, latencyMs: latencyMs)
        let runner = Runner(
            target: timed, targetName: "bench", options: RunnerOptions(concurrency: concurrency, tools: tools), journal: journal)
        let clock = ContinuousClock()
        let monotonicStart = ProcessStart.monotonicSeconds
        let start = clock.now
        let summary = try await runner.run(SyntheticSamples(count: samples), total: samples).finish()
        let seconds = (clock.now - start).milliseconds / 1000
        let monotonicEnd = ProcessStart.monotonicSeconds
        let processSeconds = ProcessStart.elapsedSeconds
        let ideal = Double(samples) * latencyMs / 1000 / Double(concurrency)
        let added = histogram.current
        return Measurement(
            samples: samples, concurrency: concurrency, latencyMs: latencyMs, seconds: seconds,
            samplesPerSecond: seconds > 0 ? Double(samples) / seconds : 0, idealSeconds: ideal,
            ratioToIdeal: ideal > 0 ? seconds / ideal : nil, addedLatencyP50Ms: added.percentile(0.5),
            addedLatencyP99Ms: added.percentile(0.99), processSeconds: processSeconds,
            processRatioToIdeal: ideal > 0 ? processSeconds.map { $0 / ideal } : nil, peakRSSBytes: ProcessMemory.peakResidentBytes,
            rssBytes: ProcessMemory.residentBytes, ok: summary.ok, failed: summary.failed,
            monotonicWindowStart: monotonicStart, monotonicWindowEnd: monotonicEnd)
    }

    /// A target that answers after `latencyMs` without any I/O: measures the Runner alone.
    public static func inProcessTarget(latencyMs: Double) -> any ChatBackend {
        ClosureChatBackend { request in
            if latencyMs > 0 { try await Task.sleep(for: .milliseconds(latencyMs)) }
            return ChatResponse(
                content: "ok", finishReason: "stop", usage: Usage(promptTokens: 12, completionTokens: 1),
                latencyMs: latencyMs)
        }
    }

    /// The two tools of the agent benchmark: `search` answered by matching its arguments, `book`
    /// with a fixed result.
    public static let agentTools: [ToolSpec] = [
        ToolSpec(
            ToolDefinition(name: "search", parameters: ["type": "object", "properties": ["to": ["type": "string"]]]),
            answer: .match([ToolResultRule(match: ["to": "LON"], outcome: .result(["flights": ["BA303"]]))], default: ["flights": []])),
        ToolSpec(ToolDefinition(name: "book"), answer: .result("booked")),
    ]

    /// An agent that answers each user message in three calls: it calls `search`, then `book`,
    /// then replies with text (its step is the number of tool results since the last user message).
    public static func inProcessAgentTarget(latencyMs: Double) -> any ChatBackend {
        ClosureChatBackend { request in
            if latencyMs > 0 { try await Task.sleep(for: .milliseconds(latencyMs)) }
            let step = request.messages.reversed().prefix(while: { $0.role != .user }).count(where: { $0.role == .tool })
            let calls: [ToolCall] =
                switch step {
                case 0: [ToolCall(id: "s", name: "search", arguments: ["to": "LON"])]
                case 1: [ToolCall(id: "b", name: "book", arguments: ["flight": "BA303"])]
                default: []
                }
            return ChatResponse(
                content: calls.isEmpty ? "Booked." : "", finishReason: calls.isEmpty ? "stop" : "tool_calls",
                usage: Usage(promptTokens: 12, completionTokens: 1), latencyMs: latencyMs, toolCalls: calls)
        }
    }

    /// A one-line human summary of a measurement.
    public static func describe(_ m: Measurement) -> String {
        func mb(_ bytes: Int?) -> String { bytes.map { String(format: "%.1f MB", Double($0) / 1_048_576) } ?? "n/a" }
        func ms(_ value: Double?) -> String { value.map { String(format: "%.2f ms", $0) } ?? "n/a" }
        var text = String(
            format: "%d samples, latency %.0f ms, concurrency %d: %.2f s, %.0f samples/s", m.samples, m.latencyMs,
            m.concurrency, m.seconds, m.samplesPerSecond)
        if let ratio = m.ratioToIdeal { text += String(format: ", %.3f× ideal (%.2f s)", ratio, m.idealSeconds) }
        if let process = m.processSeconds {
            text += String(format: "; from process start %.2f s", process)
            if let ratio = m.processRatioToIdeal { text += String(format: " = %.3f× ideal", ratio) }
        }
        text += ", added latency p50 \(ms(m.addedLatencyP50Ms)) p99 \(ms(m.addedLatencyP99Ms))"
        text += ", peak RSS \(mb(m.peakRSSBytes)), RSS \(mb(m.rssBytes))"
        if let hold = m.serverHoldMeanMs {
            text += String(format: "; server's mean hold %.3f ms for %.0f ms asked", hold, m.latencyMs)
            if let p50 = m.serverHoldOvershootP50Ms { text += String(format: " (overshoot p50 %.3f ms", p50) }
            if let least = m.serverHoldOvershootMinMs { text += String(format: ", min %.3f ms)", least) } else { text += ")" }
        }
        if m.failed > 0 { text += ", \(m.failed) failed" }
        return text
    }
}
