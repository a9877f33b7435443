import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// Runs the built `chatbot-tester` binary as users do and checks exit codes and output.
@Suite struct CLITests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent(), Bundle.main.bundleURL.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("chatbot-tester")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/chatbot-tester")
    }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A fresh directory under the temporary directory, removed when the test process exits
    /// (`atexit`): a test may hand it to a child that outlives the test's own scope, so no test
    /// removes it itself.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        _ = removeAtExit
        madeDirectories.withLock { $0.append(url) }
        return url
    }

    /// The directories ``temporaryDirectory()`` made.
    static let madeDirectories = Locked<[URL]>([])
    /// Registers, once, the removal of ``madeDirectories`` at exit.
    static let removeAtExit: Void = {
        atexit {
            for url in CLITests.madeDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
        }
    }()

    /// Starts the binary; with `ready`, sends `signal` once `ready()` is true — to the process, or,
    /// with `toGroup`, to its whole process group (as a terminal's Ctrl-C does: workers included).
    static func run(
        _ arguments: [String], environment: [String: String] = [:], signal: Int32 = SIGINT, toGroup: Bool = false,
        executable: URL? = nil, directory: URL? = nil, interruptWhen ready: (@Sendable () -> Bool)? = nil
    ) async throws -> Result {
        let process = Process()
        process.executableURL = executable ?? binary
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? repository
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Blocking reads run on threads of their own: on a 2-core machine two blocked cooperative
        // threads would stall every other task of the test process.
        let outData = Self.readToEnd(out.fileHandleForReading)
        let errData = Self.readToEnd(err.fileHandleForReading)
        if let ready {
            // Watched on a thread of its own: with the whole suite running, the cooperative pool can
            // be busy with other tests for seconds, and a sleeping task would look only after the
            // child had finished.
            let pid = process.processIdentifier
            let (sent, sharedGroup) = await withCheckedContinuation { (continuation: CheckedContinuation<(Bool, Bool), Never>) in
                Thread.detachNewThread {
                    let deadline = Date().addingTimeInterval(120)
                    while Date() < deadline {
                        if ready() {
                            // Foundation starts the child as the leader of a process group of its
                            // own; never signal our own group.
                            let group = getpgid(pid)
                            let shared = group == getpgrp()
                            let sent = kill(toGroup && !shared ? -group : pid, signal) == 0
                            return continuation.resume(returning: (sent, shared))
                        }
                        usleep(20_000)
                    }
                    continuation.resume(returning: (false, false))
                }
            }
            #expect(!toGroup || !sharedGroup, "the child shares the test runner's process group")
            #expect(sent, "the run ended before it could be interrupted")
        }
        let stdout = String(decoding: await outData.value, as: UTF8.self)
        let stderr = String(decoding: await errData.value, as: UTF8.self)
        return Result(status: ChildExit.wait(for: process), stdout: stdout, stderr: stderr)
    }

    static func readToEnd(_ handle: FileHandle) -> Task<Data, Never> {
        Task {
            await withCheckedContinuation { continuation in
                // A thread of its own: Dispatch's few pool threads, all blocked in reads of long runs,
                // would starve the Dispatch work of every other test (ProcessRunner's timers).
                Thread.detachNewThread { continuation.resume(returning: ProcessRunner.readAll(handle.fileDescriptor)) }
            }
        }
    }

    @Test func quickstartPasses() async throws {
        let out = try Self.temporaryDirectory()
        let result = try await Self.run(["test", "examples/quickstart.yaml", "--out", out.path, "--no-progress"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Result: PASS"))
        // The quickstart's backends have no price table: its cost is unknown, not $0.
        #expect(result.stdout.contains("cost unknown (no price table)"), "\(result.stdout)")
        for name in ["results.jsonl", "evals.jsonl", "summary.json", "report.html", "report.md", "junit.xml", "events.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "missing \(name)")
        }
        let events = try String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(events.contains(#""kind":"run.completed""#))
    }

    @Test func workersGiveTheSameVerdictsAsOneProcess() async throws {
        let single = try Self.temporaryDirectory()
        let sharded = try Self.temporaryDirectory()
        let one = try await Self.run(["test", "examples/quickstart.yaml", "--out", single.path, "--no-progress"])
        let two = try await Self.run(["test", "examples/quickstart.yaml", "--out", sharded.path, "--no-progress", "--workers", "2"])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(two.status == 0, "\(two.stderr)")
        func verdicts(_ directory: URL) async throws -> [String] {
            var lines: [String] = []
            for try await entry in JSONL.read(EvalRecord.self, from: directory.appendingPathComponent("evals.jsonl")) {
                let eval = try entry.result.get()
                lines.append("\(eval.sampleId) \(eval.metric) \(eval.score ?? -1) \(eval.passed.map(String.init) ?? "-")")
            }
            return lines
        }
        #expect(try await verdicts(sharded) == verdicts(single))
        #expect(FileManager.default.fileExists(atPath: sharded.appendingPathComponent("spool/manifest.json").path))
    }

    /// `--workers auto` starts one worker per core the process may use, and says so; a value that is
    /// neither a number nor `auto` is a usage error naming the option.
    @Test func workersAutoStartsOnePerCore() async throws {
        let out = try Self.temporaryDirectory()
        let result = try await Self.run(["test", "examples/quickstart.yaml", "--out", out.path, "--no-progress", "--workers", "auto"])
        #expect(result.status == 0, "\(result.stderr)")
        let events = try String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8)
        let joined = events.split(separator: "\n").filter { $0.contains(#""type":"workerJoined""#) }.count
        #expect(joined == AvailableCores.count)
        // Pinned to one CPU (`taskset`, as a container's cpuset pins it), `auto` is one worker.
        let pinnedOut = try Self.temporaryDirectory()
        let pinned = try await Self.run(
            ["-c", "0", Self.binary.path, "test", "examples/quickstart.yaml", "--out", pinnedOut.path, "--no-progress", "--workers", "auto"],
            executable: URL(fileURLWithPath: "/usr/bin/taskset"))
        #expect(pinned.status == 0, "\(pinned.stderr)")
        let pinnedEvents = try String(contentsOf: pinnedOut.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(pinnedEvents.split(separator: "\n").filter { $0.contains(#""type":"workerJoined""#) }.count == 1)
        let bad = try await Self.run(["test", "examples/quickstart.yaml", "--out", out.path, "--no-progress", "--workers", "many"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--workers"), "\(bad.stderr)")
    }

    /// `events.jsonl` ends with what the command used of the CPU, its own and its workers' (what
    /// `ops/bench/sharded-vs-single.py` reads for the coordinator's share of a run).
    @Test func theLastEventSaysHowMuchCPUTheProcessAndItsWorkersUsed() async throws {
        func cpu(_ flags: [String]) async throws -> (own: Double, user: Double, system: Double, children: Double) {
            let out = try Self.temporaryDirectory()
            let result = try await Self.run(["test", "examples/quickstart.yaml", "--out", out.path, "--no-progress"] + flags)
            #expect(result.status == 0, "\(result.stderr)")
            let lines = try String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8).split(separator: "\n")
            let last = try #require(lines.last.map { Data($0.utf8) })
            let event = try #require(try JSONSerialization.jsonObject(with: last) as? [String: Any])
            #expect(event["source"] as? String == "process.cpu")
            #expect(event["level"] as? String == "debug")
            let message = try #require(event["message"] as? String)
            let numbers = message.split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
            try #require(numbers.count == 4, "\(message)")
            return (numbers[0], numbers[1], numbers[2], numbers[3])
        }
        let single = try await cpu([])
        #expect(single.own > 0)
        #expect(abs(single.own - single.user - single.system) < 0.000_002)
        let sharded = try await cpu(["--workers", "2"])
        #expect(sharded.own > 0)
        // Two workers were started, did the run's work and were waited for before the event.
        #expect(sharded.children > single.children)
        #expect(sharded.children > 0.01, "workers' CPU: \(sharded.children) s")
    }

    @Test func failingThresholdExitsOne() async throws {
        let directory = try Self.temporaryDirectory()
        let config = directory.appendingPathComponent("job.yaml")
        try """
            backends:
              bot: {type: scripted, default: "I cannot help with that."}
            dataset: \(Self.repository.path)/examples/data/quickstart.jsonl
            evaluate:
              metrics:
                - {type: contains, value: "30 days"}
            """.write(to: config, atomically: true, encoding: .utf8)
        let result = try await Self.run(["test", config.path, "--out", directory.appendingPathComponent("out").path, "--no-progress"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.contains("Result: FAIL"))
    }

    @Test func configErrorExitsTwoNamingTheLine() async throws {
        let directory = try Self.temporaryDirectory()
        let config = directory.appendingPathComponent("job.yaml")
        try "backends:\n  bot: {type: scripted}\ndataset: cases.jsonl\nrun: {target: bot, concurency: 4}\n".write(to: config, atomically: true, encoding: .utf8)
        let result = try await Self.run(["test", config.path, "--no-progress"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("job.yaml:4: field 'run.concurency'"), "\(result.stderr)")
    }

    @Test func usageErrorsExitTwo() async throws {
        let unknownFlag = try await Self.run(["test", "examples/quickstart.yaml", "--no-such-flag"])
        #expect(unknownFlag.status == 2)
        let badValue = try await Self.run(["run", "examples/quickstart.yaml", "--concurrency", "0"])
        #expect(badValue.status == 2)
        #expect(badValue.stderr.contains("--concurrency must be at least 1"))
    }

    @Test func benchShowsTheServersHoldNextToTheAskedLatency() async throws {
        let before = Self.monotonicNow()
        let result = try await Self.run([
            "bench", "--samples", "40", "--latency-ms", "5", "--concurrency", "8", "--warmup", "8", "--json",
        ])
        let after = Self.monotonicNow()
        #expect(result.status == 0, "\(result.stderr)")
        let measured = try JSONValue(parsing: result.stdout)
        #expect(measured["ok"]?.intValue == 40)
        // The server's own measure of its holds, reset after the warm-up: never shorter than asked,
        // and the ratios stay against the nominal latency.
        let hold = try #require(measured["serverHoldMeanMs"]?.doubleValue)
        #expect(hold >= 5)
        #expect(try #require(measured["serverHoldOvershootMinMs"]?.doubleValue) >= 0)
        #expect(try #require(measured["serverHoldOvershootP50Ms"]?.doubleValue) >= 0)
        #expect(measured["latencyMs"]?.doubleValue == 5)
        let ideal: Double = 40 * 5 / 1000 / 8
        #expect(measured["idealSeconds"]?.doubleValue == ideal)
        // The window's ends on CLOCK_MONOTONIC, which this test reads around the process: inside
        // it, in order, and as long as the window bench reports.
        let start = try #require(measured["monotonicWindowStart"]?.doubleValue)
        let end = try #require(measured["monotonicWindowEnd"]?.doubleValue)
        #expect(before < start && start < end && end < after)
        let seconds = try #require(measured["seconds"]?.doubleValue)
        #expect(abs((end - start) - seconds) < 0.005)
    }

    /// `CLOCK_MONOTONIC` in seconds (what bench reports its window's ends on).
    static func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    @Test func backendsListShowsTypesAndMiddleware() async throws {
        let result = try await Self.run(["backends", "list", "--json"])
        #expect(result.status == 0)
        let listing = try JSONValue(parsing: result.stdout)
        let names = Set(listing["types"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        #expect(names.isSuperset(of: ["openai", "azure-openai", "anthropic", "http", "exec", "scripted"]))
        let shared = Set(listing["sharedOptions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        #expect(shared.isSuperset(of: ["retry", "rateLimit", "cache", "timeoutSeconds", "pricing"]))
    }

    @Test func validateReportsEveryBadLine() async throws {
        let directory = try Self.temporaryDirectory()
        let file = directory.appendingPathComponent("cases.jsonl")
        try """
            {"id":"a","input":"ok"}
            {"id":"b"}
            not json
            {"id":"a","input":"again"}
            """.write(to: file, atomically: true, encoding: .utf8)
        let bad = try await Self.run(["validate", file.path])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("cases.jsonl:2: field 'input'"))
        #expect(bad.stderr.contains("cases.jsonl:3:"))
        #expect(bad.stderr.contains("cases.jsonl:4: field 'id': duplicate id 'a'"))
        let good = try await Self.run(["validate", "examples/data/quickstart.jsonl", "examples/quickstart.yaml"])
        #expect(good.status == 0, "\(good.stderr)")
    }

    @Test func interruptKeepsRecordedResultsAndExitsThree() async throws {
        try await withMockLLMServer(.init(latencyMs: 150)) { server in
            let directory = try Self.temporaryDirectory()
            let cases = (0..<200).map { #"{"id":"c\#($0)","input":"hello \#($0)"}"# }.joined(separator: "\n")
            try cases.write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
            let config = directory.appendingPathComponent("job.yaml")
            try """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m}
                dataset: cases.jsonl
                run: {concurrency: 4, syncEvery: 1}
                """.write(to: config, atomically: true, encoding: .utf8)
            let out = directory.appendingPathComponent("out")
            let journal = out.appendingPathComponent("results.journal.jsonl")
            let result = try await Self.run(["test", config.path, "--out", out.path, "--no-progress"]) {
                ((try? String(contentsOf: journal, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 8
            }
            #expect(result.status == 3, "stderr: \(result.stderr)")
            let kept = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n").count
            #expect(kept >= 8 && kept < 200)
            // Resuming finishes the rest without replaying what was kept.
            let before = server.stats.byPath["/v1/chat/completions"] ?? 0
            let resumed = try await Self.run(["test", config.path, "--out", out.path, "--no-progress", "--resume"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let total = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n").count
            #expect(total == 200)
            #expect((server.stats.byPath["/v1/chat/completions"] ?? 0) - before <= 200 - kept + 4)
        }
    }
}
