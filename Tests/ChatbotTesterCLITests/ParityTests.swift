import ChatbotTester
import Foundation
import Testing

/// One semantics: every row runs the same job in one process and with `--workers 2` through the
/// CLI, as users do, and compares what users rely on — results, verdicts, summaries, stop reasons,
/// output files and exit codes. docs/cluster.md's parity table lists the rows.
@Suite(.serialized) struct ParityTests {
    enum Mode: String, CaseIterable {
        case single, sharded
        var flags: [String] { self == .single ? [] : ["--workers", "2"] }
        /// Where the run journals as it goes.
        func journal(_ out: URL) -> URL {
            self == .single ? out.appendingPathComponent("results.journal.jsonl") : out.appendingPathComponent("spool/journal.jsonl")
        }
    }

    static func cases(_ count: Int, prompt: (Int) -> String = { "hello \($0)" }) -> String {
        (0..<count).map { #"{"id":"c\#($0)","input":"\#(prompt($0))"}"# }.joined(separator: "\n") + "\n"
    }

    /// A job directory with `cases.jsonl` and `job.yaml`.
    static func job(_ yaml: String, cases: String) throws -> URL {
        let directory = try CLITests.temporaryDirectory()
        try cases.write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)
        try yaml.write(to: directory.appendingPathComponent("job.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    static func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// A record or verdict without the fields that differ run to run (times, latencies).
    static func normalized(_ line: String) -> JSONValue {
        guard let value = try? JSONValue(parsing: line) else { return .string(line) }
        return stripped(value)
    }

    static func stripped(_ value: JSONValue) -> JSONValue {
        var value = value
        func strip(_ value: inout JSONValue) {
            switch value {
            case .object(var object):
                for key in ["startedAt", "finishedAt", "latencyMs", "durationSeconds", "generatedAt", "time", "meanMs", "p50Ms", "p90Ms", "p99Ms", "maxMs", "latency", "turnLatency"] {
                    object[key] = nil
                }
                for key in object.keys { strip(&object[key]!) }
                value = .object(object)
            case .array(var items):
                for i in items.indices { strip(&items[i]) }
                value = .array(items)
            default: break
            }
        }
        strip(&value)
        return value
    }

    static func json(_ url: URL) -> JSONValue? {
        (try? String(contentsOf: url, encoding: .utf8)).flatMap { try? JSONValue(parsing: $0) }
    }

    /// The `status` of each line of `results.jsonl`.
    static func statuses(_ out: URL) -> [String] {
        lines(out.appendingPathComponent("results.jsonl")).compactMap { (try? JSONValue(parsing: $0))?["status"]?.stringValue }
    }

    static func ids(_ out: URL) -> [String] {
        lines(out.appendingPathComponent("results.jsonl")).compactMap { (try? JSONValue(parsing: $0))?["sampleId"]?.stringValue }
    }

    static let outputs = ["results.jsonl", "evals.jsonl", "summary.json", "report.html", "report.md", "junit.xml", "results.csv", "run-summary.json", "job.json", "events.jsonl"]

    /// `earlyLineRecords`: with 2, the workers write the lines of the dataset's complete prefix
    /// while the run plays (`CHATBOT_TESTER_EARLY_LINE_RECORDS`), each on one thread, so on the
    /// HTTP client's loop whatever the machine's cores (`CHATBOT_TESTER_WORKER_THREADS=1`);
    /// without, at its end only, on the threads the coordinator gives them.
    @Test(arguments: [nil, 2] as [Int?])
    func aPlainJobWritesTheSameFilesResultsVerdictsAndSummaries(earlyLineRecords: Int?) async throws {
        var outs: [Mode: URL] = [:]
        let environment = earlyLineRecords.map { ["CHATBOT_TESTER_EARLY_LINE_RECORDS": String($0), "CHATBOT_TESTER_WORKER_THREADS": "1"] } ?? [:]
        for mode in Mode.allCases {
            let out = try CLITests.temporaryDirectory()
            let result = try await CLITests.run(
                ["test", "examples/quickstart.yaml", "--out", out.path, "--no-progress"] + mode.flags, environment: environment)
            #expect(result.status == 0, "\(mode): \(result.stderr)")
            for name in Self.outputs {
                #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(mode) misses \(name)")
            }
            outs[mode] = out
        }
        let single = outs[.single]!, sharded = outs[.sharded]!
        for name in ["results.jsonl", "evals.jsonl"] {
            #expect(Self.lines(single.appendingPathComponent(name)).map(Self.normalized) == Self.lines(sharded.appendingPathComponent(name)).map(Self.normalized), "\(name)")
        }
        #expect(Self.json(single.appendingPathComponent("summary.json")).map(Self.stripped) == Self.json(sharded.appendingPathComponent("summary.json")).map(Self.stripped))
        // The row reports: one process writes them while the run plays, the coordinator puts the
        // workers' pieces of them together; both must give the same rows (timings aside).
        for name in ["results.csv", "junit.xml"] {
            let rows = Self.untimed(single.appendingPathComponent(name))
            #expect(rows != nil && rows == Self.untimed(sharded.appendingPathComponent(name)), "\(name)")
        }
        let runSummaries = Mode.allCases.map { Self.json(outs[$0]!.appendingPathComponent("run-summary.json")) }
        #expect(runSummaries.map { $0?["stopReason"] } == [.string("completed"), .string("completed")])
        #expect(runSummaries.map { $0?["statistics"].map(Self.stripped) }[0] == runSummaries.map { $0?["statistics"].map(Self.stripped) }[1])
        for key in Self.summaryCounts {
            #expect(runSummaries[0]?[key] != nil && runSummaries[0]?[key] == runSummaries[1]?[key], "run-summary.json \(key)")
        }
        // Each case's events: one process writes them to events.jsonl, each worker to its own log
        // in events/; the same events either way, each case once.
        let singleEvents = Self.caseEvents(in: [single.appendingPathComponent("events.jsonl")])
        let logs = try FileManager.default.contentsOfDirectory(at: sharded.appendingPathComponent("events"), includingPropertiesForKeys: nil)
        // One log per worker process that joined in time (a worker may join after a small run ended).
        #expect((1...2).contains(logs.count) && logs.allSatisfy { $0.pathExtension == "jsonl" }, "\(logs)")
        let shardedEvents = Self.caseEvents(in: logs)
        #expect(!singleEvents.isEmpty && singleEvents == shardedEvents)
        // The sharded run took the workers' own journal appends (protocol 8), not the socket path.
        let appended = Self.lines(sharded.appendingPathComponent("events.jsonl")).compactMap { line -> String? in
            guard case .object(let event)? = try? JSONValue(parsing: line), event["source"]?.stringValue == "cluster.journal" else { return nil }
            return event["message"]?.stringValue
        }
        let cases = Self.lines(single.appendingPathComponent("results.jsonl")).count
        #expect(appended == ["the workers appended \(cases) of the \(cases) records journaled to the journal themselves"], "\(appended)")
        // The workers wrote the lines; with early orders, some of them while the run played.
        let written = Self.lines(sharded.appendingPathComponent("events.jsonl")).compactMap { line -> String? in
            guard case .object(let event)? = try? JSONValue(parsing: line), event["source"]?.stringValue == "cluster.output",
                let message = event["message"]?.stringValue, message.hasPrefix("the workers wrote")
            else { return nil }
            return message
        }
        #expect(written.count == 1 && written.first?.contains("orders sent while the run played") == (earlyLineRecords != nil), "\(written)")
        // The workers made the reports' pieces (protocol 12), and one of them put them together
        // (protocol 13); the coordinator made none itself.
        let pieces = Self.lines(sharded.appendingPathComponent("events.jsonl")).compactMap { line -> String? in
            guard case .object(let event)? = try? JSONValue(parsing: line), event["source"]?.stringValue == "cluster.reports" else { return nil }
            return event["message"]?.stringValue
        }
        #expect(
            pieces.count == 1 && pieces[0].hasPrefix("the workers made the reports' pieces") && !pieces[0].contains("itself")
                && pieces[0].hasSuffix("a worker put them together into the reports"), "\(pieces)")
        #expect(Set(singleEvents.keys.map(\.kind)) == ["run.sample.started", "run.sample.completed", "evaluate.sample.completed"])
        #expect(singleEvents.values.allSatisfy { $0 == 1 })
    }

    /// How many times each (kind, sampleId) of a case's events (`run.sample.*`,
    /// `evaluate.sample.*`) appears in the event logs at `urls`.
    static func caseEvents(in urls: [URL]) -> [CaseEvent: Int] {
        var counts: [CaseEvent: Int] = [:]
        for url in urls {
            for line in lines(url) {
                guard case .object(let event)? = try? JSONValue(parsing: line), let kind = event["kind"]?.stringValue,
                    kind.hasPrefix("run.sample.") || kind.hasPrefix("evaluate.sample."), let id = event["sampleId"]?.stringValue
                else { continue }
                counts[CaseEvent(kind: kind, sampleId: id), default: 0] += 1
            }
        }
        return counts
    }

    struct CaseEvent: Hashable {
        var kind: String
        var sampleId: String
    }

    /// A row report's text without its timings: `results.csv`'s `latency_ms` column and
    /// `junit.xml`'s `time` attributes (nil when the file is missing or empty).
    static func untimed(_ url: URL) -> String? {
        guard let text = try? String(contentsOf: url, encoding: .utf8), !text.isEmpty else { return nil }
        if url.pathExtension == "xml" { return text.replacingOccurrences(of: #"time="[^"]*""#, with: "time=\"\"", options: .regularExpression) }
        // RFC 4180 lines end in CR LF, which a Swift `String` holds as one `Character`.
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count > 1, let column = lines.first.map(csvFields)?.firstIndex(of: "latency_ms") else { return nil }
        return lines.map { line in
            var fields = csvFields(line)
            if fields.count > column, line != lines[0] { fields[column] = "" }
            return fields.joined(separator: ",")
        }.joined(separator: "\n")
    }

    /// The fields of one CSV line as written (quotes kept): a comma inside a quoted field (a
    /// reason naming several values) does not split it.
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        for character in line {
            if character == "\"" { quoted.toggle() }
            if character == "," && !quoted {
                fields.append(field)
                field = ""
            } else {
                field.append(character)
            }
        }
        fields.append(field)
        return fields
    }

    /// The counts of `run-summary.json` both modes must agree on, besides `statistics`.
    static let summaryCounts = ["resumed", "skipped", "duplicates", "abandoned", "played", "errorExamples", "keptErrors"]

    /// The `metadata` member of a `results.jsonl` line, as written (no nested object in these cases).
    static func metadataText(_ line: String) -> String? {
        guard let start = line.range(of: #""metadata":{"#), let end = line[start.upperBound...].firstIndex(of: "}") else { return nil }
        return String(line[start.lowerBound...end])
    }

    /// A job against a scripted bot that always answers the refund policy, scored on it.
    static let scriptedRefundJob = """
        backends:
          bot: {type: scripted, default: "You can return any item within 30 days."}
        dataset: cases.jsonl
        evaluate:
          metrics: [{type: contains, value: "30 days"}]
        """

    /// Numbers at the byte parser's edges (a fraction or exponent on a number of 2^53 or more, one
    /// too small for a `Double`, the largest and smallest doubles) and a value nested 250 deep (datasets allow 256)
    /// travel from the dataset to `results.jsonl` byte for byte the same in one process and through
    /// the spool and the workers, with the same summary and exit status.
    @Test func edgeNumbersAndDeepValuesReachTheResultsTheSameEitherWay() async throws {
        let numbers = [
            "777777777777777777.7", "6666666266666666666.5", "7777777777755555.55e2", "9007199254740993.0", "12345678901234567890",
            "1e-400", "1.7976931348623157e308", "4.9e-324", "-0.0", "0.1",
        ]
        let deep = String(repeating: "[", count: 250) + "1" + String(repeating: "]", count: 250)
        let cases = numbers.enumerated().map { #"{"id":"n\#($0.offset)","input":"refund","metadata":{"n":\#($0.element)}}"# }.joined(separator: "\n")
            + "\n" + #"{"id":"deep","input":"refund","metadata":{"deep":\#(deep)}}"# + "\n"
        let outs = try await Self.testBothWays(try Self.job(Self.scriptedRefundJob, cases: cases))
        let single = Self.lines(outs[.single]!.appendingPathComponent("results.jsonl"))
        let sharded = Self.lines(outs[.sharded]!.appendingPathComponent("results.jsonl"))
        #expect(single.count == numbers.count + 1)
        #expect(single.map(Self.normalized) == sharded.map(Self.normalized))
        let written = single.prefix(numbers.count).map(Self.metadataText)
        #expect(written.allSatisfy { $0 != nil }, "\(written)")
        #expect(written == sharded.prefix(numbers.count).map(Self.metadataText), "single \(written), sharded \(sharded.prefix(numbers.count).map(Self.metadataText))")
        #expect(Self.json(outs[.single]!.appendingPathComponent("summary.json")).map(Self.stripped)
            == Self.json(outs[.sharded]!.appendingPathComponent("summary.json")).map(Self.stripped))
    }

    /// The `sample` member of a results line, as its bytes (the test's cases hold no braces in strings).
    static func sampleText(_ line: String) -> String? {
        guard let start = line.range(of: #""sample":{"#) else { return nil }
        var depth = 0
        for index in line[line.index(before: start.upperBound)...].indices {
            if line[index] == "{" { depth += 1 }
            if line[index] == "}" {
                depth -= 1
                if depth == 0 { return String(line[start.lowerBound...index]) }
            }
        }
        return nil
    }

    /// Cases written as people and scripts write them — spaces after colons and commas, members in
    /// another order, an escaped id, CRLF line ends, whitespace around a line, numbers with
    /// exponents, a multi-turn case — are spooled byte for byte as written (the shards hold the
    /// dataset's JSON, not an encoding of it), and `results.jsonl` holds each case the same bytes in
    /// one process and through the workers, for `test` (workers append to the journal) and `run`
    /// (records travel in frames and the coordinator puts the case back).
    @Test func casesAsWrittenAreSpooledAsWrittenAndRecordedTheSameEitherWay() async throws {
        let written = [
            #"{"input": "refund please", "id": "a1"}"#,
            #"  {"id":"a\u0032","input":"refund"}"# + "\t",
            #"{"id": "a3", "input": "refund", "metadata": {"n": 6.666666266666667e+18, "m": 1E2, "list": [1, 2.50, -0.0]}}"#,
            #"{"tags": ["x", "y"], "id":"a4","input":"tab\there"}"#,
            #"{"id": "é5", "turns": ["hi", "refund?"], "schemaVersion": 1}"#,
        ]
        let cases = written.enumerated().map { $0.element + ($0.offset % 2 == 0 ? "\r\n" : "\n") }.joined()
        let directory = try Self.job(Self.scriptedRefundJob, cases: cases)
        for verb in ["test", "run"] {
            var samples: [Mode: [String?]] = [:]
            var records: [Mode: [JSONValue]] = [:]
            var summaries: [Mode: JSONValue?] = [:]
            for mode in Mode.allCases {
                let out = try CLITests.temporaryDirectory()
                let result = try await CLITests.run([verb, directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags)
                #expect(result.status == 0, "\(verb) \(mode): \(result.stderr)")
                let lines = Self.lines(out.appendingPathComponent("results.jsonl"))
                samples[mode] = lines.map(Self.sampleText)
                records[mode] = lines.map(Self.normalized)
                summaries[mode] = Self.json(out.appendingPathComponent(verb == "test" ? "summary.json" : "run-summary.json")).map(Self.stripped)
                guard mode == .sharded else { continue }
                // The spool holds each case as its line wrote it, without the whitespace around it.
                let shards = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("spool/shards").path).sorted()
                let spooled = shards.flatMap { Self.lines(out.appendingPathComponent("spool/shards").appendingPathComponent($0)) }
                #expect(spooled == written.enumerated().map { #"{"index":\#($0.offset),"sample":\#($0.element.trimmingCharacters(in: .whitespaces))}"# })
                let manifest = try JSONValue(parsing: String(contentsOf: out.appendingPathComponent("spool/manifest.json"), encoding: .utf8))
                #expect(manifest["samplesAsWritten"] == .bool(true))
            }
            #expect(samples[.single]?.count == written.count)
            #expect(samples[.single]?.allSatisfy { $0 != nil } == true, "\(samples[.single] ?? [])")
            #expect(samples[.single] == samples[.sharded], "\(verb): single \(samples[.single] ?? []), sharded \(samples[.sharded] ?? [])")
            #expect(records[.single] == records[.sharded], "\(verb)")
            #expect(summaries[.single] != nil && summaries[.single] == summaries[.sharded], "\(verb): summaries differ")
            // The case is written back encoded, not as the dataset wrote it.
            #expect(samples[.sharded]?.first == #""sample":{"id":"a1","input":"refund please","schemaVersion":\#(TestSample.currentSchemaVersion)}"#, "\(samples[.sharded] ?? [])")
        }
    }

    /// `test` of the job in `directory` in one process and with `--workers 2`, each of which must
    /// exit 0: the output directory of each mode.
    static func testBothWays(_ directory: URL) async throws -> [Mode: URL] {
        var outs: [Mode: URL] = [:]
        for mode in Mode.allCases {
            let out = try CLITests.temporaryDirectory()
            let result = try await CLITests.run(["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags)
            #expect(result.status == 0, "\(mode): \(result.stderr)")
            outs[mode] = out
        }
        return outs
    }

    /// How many samples the workers of a sharded `test` read from the spool themselves, as its
    /// `events.jsonl` says (`source: cluster.assign`); nil when it does not say.
    static func readByReference(_ out: URL) -> Int? {
        let counts = lines(out.appendingPathComponent("events.jsonl")).compactMap { line -> Int? in
            guard case .object(let event)? = try? JSONValue(parsing: line), event["source"]?.stringValue == "cluster.assign",
                let message = event["message"]?.stringValue, message.hasPrefix("the workers read ")
            else { return nil }
            return Int(message.dropFirst("the workers read ".count).prefix { $0.isNumber })
        }
        return counts.count == 1 ? counts[0] : nil
    }

    /// Case lines in shapes a spool keeps as written: spaces and a tab around them, a `\u` escape in
    /// an id, numbers at the byte parser's edges, an id that must be escaped, turns, members in any
    /// order. Case `n` takes shape `n % count`.
    static let awkwardShapes: [@Sendable (Int) -> String] = [
        { #"{"input": "refund please", "id": "a\#($0)"}"# },
        { #"  {"id":"b\u0032-\#($0)","input":"refund"}"# + "\t" },
        { #"{"id": "c\#($0)", "input": "refund", "metadata": {"n": 6.666666266666667e+18, "m": 1E2, "list": [1, 2.50, -0.0]}}"# },
        { #"{"tags": ["x", "y"], "id":"q\"\#($0)","input":"tab\there"}"# },
        { #"{"id": "é\#($0)", "turns": ["hi", "refund?"], "schemaVersion": 1}"# },
    ]

    /// Cases the workers read from the spool's shards themselves (protocol 10: handed out by
    /// reference once a worker's first `journaled` frame shows it journals) — in the shapes of the
    /// row above, an id that must be escaped among them, so the worker reads some frames with the
    /// decoder — are recorded as one process records them: the same bytes of each case, records,
    /// evaluations, summaries and exit status. Most of them went by reference.
    @Test func casesReadByReferenceAreRecordedTheSameEitherWay() async throws {
        let shapes = Self.awkwardShapes
        let count = 600
        let outs = try await Self.testBothWays(try Self.job(Self.scriptedRefundJob, cases: (0..<count).map { shapes[$0 % shapes.count]($0) + "\n" }.joined()))
        let single = outs[.single]!, sharded = outs[.sharded]!
        let byReference = Self.readByReference(sharded)
        #expect(byReference.map { $0 > count / 2 && $0 < count } == true, "\(String(describing: byReference)) of \(count) read by reference")
        let results = Mode.allCases.map { Self.lines(outs[$0]!.appendingPathComponent("results.jsonl")) }
        #expect(results[0].count == count)
        #expect(results[0].map(Self.sampleText) == results[1].map(Self.sampleText))
        #expect(results[0].map(Self.normalized) == results[1].map(Self.normalized))
        #expect(Self.lines(single.appendingPathComponent("evals.jsonl")).map(Self.normalized) == Self.lines(sharded.appendingPathComponent("evals.jsonl")).map(Self.normalized))
        #expect(Self.json(single.appendingPathComponent("summary.json")).map(Self.stripped) == Self.json(sharded.appendingPathComponent("summary.json")).map(Self.stripped))
        let runSummaries = Mode.allCases.map { Self.json(outs[$0]!.appendingPathComponent("run-summary.json")) }
        #expect(runSummaries[0]?["statistics"].map(Self.stripped) == runSummaries[1]?["statistics"].map(Self.stripped))
        for key in Self.summaryCounts {
            #expect(runSummaries[0]?[key] != nil && runSummaries[0]?[key] == runSummaries[1]?[key], "run-summary.json \(key)")
        }
    }

    @Test func runAloneWritesResultsAndNoVerdictsEitherWay() async throws {
        var results: [Mode: [JSONValue]] = [:]
        for mode in Mode.allCases {
            let out = try CLITests.temporaryDirectory()
            let result = try await CLITests.run(["run", "examples/quickstart.yaml", "--out", out.path, "--no-progress"] + mode.flags)
            #expect(result.status == 0, "\(mode): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("evals.jsonl").path), "\(mode) scored a `run`")
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("run-summary.json").path))
            results[mode] = Self.lines(out.appendingPathComponent("results.jsonl")).map(Self.normalized)
        }
        #expect(results[.single] == results[.sharded])
    }

    /// A job whose every token costs a thousandth of a dollar, stopping at `budget` (written into
    /// the YAML as given: a number or a `${VAR}`).
    static func budgetJob(_ server: MockLLMServer, concurrency: Int, budget: String, cases: String) throws -> URL {
        try job(
            """
            backends:
              bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, pricing: {inputPerMTok: 1000, outputPerMTok: 1000}}
            dataset: cases.jsonl
            run:
              concurrency: \(concurrency)
              budgetUSD: \(budget)
            """, cases: cases)
    }

    @Test func theBudgetStopsBothWithExitThreeAndResumeFinishesEveryIdOnce() async throws {
        try await withMockLLMServer(.init(latencyMs: 5)) { server in
            var finished: [Mode: [JSONValue]] = [:]
            for mode in Mode.allCases {
                let directory = try Self.budgetJob(server, concurrency: 2, budget: "${BUDGET}", cases: Self.cases(60))
                let out = directory.appendingPathComponent("out")
                let config = directory.appendingPathComponent("job.yaml").path
                let stopped = try await CLITests.run(["test", config, "--out", out.path, "--no-progress"] + mode.flags, environment: ["BUDGET": "0.2"])
                #expect(stopped.status == 3, "\(mode): \(stopped.stderr)")
                #expect(Self.json(out.appendingPathComponent("run-summary.json"))?["stopReason"] == .string("budgetExceeded"), "\(mode)")
                let kept = Self.ids(out)
                #expect(!kept.isEmpty && kept.count < 60, "\(mode): \(kept.count) results")
                let resumed = try await CLITests.run(
                    ["test", config, "--out", out.path, "--no-progress", "--resume"] + mode.flags, environment: ["BUDGET": "1000"])
                #expect(resumed.status == 0, "\(mode): \(resumed.stderr)")
                let all = Self.ids(out)
                #expect(all.count == 60 && Set(all).count == 60, "\(mode): \(all.count) results")
                finished[mode] = Self.resumedOutcome(out)
            }
            // What the resumed run leaves is the same either way, wherever each mode stopped.
            #expect(finished[.single] != nil && finished[.single] == finished[.sharded])
        }
    }

    /// A budget stop with a prefetch window (concurrency 32 over two workers: a share of 16, and
    /// samples queued beyond it): once what the run may hold could spend the rest, the window
    /// closes and queues are handed back, so the stop finds no more samples started than one
    /// process can have — the record that reached the budget and the others in flight then. Every
    /// case costs the same here, so that bound is exact for both modes.
    @Test func aBudgetStopWithAPrefetchWindowStartsNoMoreThanOneProcessCan() async throws {
        try await withMockLLMServer(.init(latencyMs: 0)) { server in
            var finished: [Mode: [JSONValue]] = [:]
            for mode in Mode.allCases {
                let directory = try Self.budgetJob(
                    server, concurrency: 32, budget: "${BUDGET}", cases: Self.cases(3000, prompt: { "MOCK_REPLY: refunds take \($0 % 10) days" }))
                let out = directory.appendingPathComponent("out")
                let config = directory.appendingPathComponent("job.yaml").path
                let stopped = try await CLITests.run(["test", config, "--out", out.path, "--no-progress"] + mode.flags, environment: ["BUDGET": "12"])
                #expect(stopped.status == 3, "\(mode): \(stopped.stderr)")
                #expect(Self.json(out.appendingPathComponent("run-summary.json"))?["stopReason"] == .string("budgetExceeded"), "\(mode)")
                let costs = Self.lines(out.appendingPathComponent("results.jsonl")).compactMap { (try? JSONValue(parsing: $0))?["costUSD"]?.doubleValue }
                let cost = try #require(costs.first, "\(mode): no costed result")
                #expect(costs.allSatisfy { abs($0 - cost) < 1e-12 }, "\(mode): costs differ")
                // The record that reached 12 USD (summed as the run sums), and at most 31 others in flight.
                var spent = 0.0
                var reaching = 0
                while spent < 12 {
                    spent += cost
                    reaching += 1
                }
                #expect(costs.count >= reaching && costs.count <= reaching + 31, "\(mode): \(costs.count) results, \(reaching) reach the budget")
                let resumed = try await CLITests.run(
                    ["test", config, "--out", out.path, "--no-progress", "--resume"] + mode.flags, environment: ["BUDGET": "1000"])
                #expect(resumed.status == 0, "\(mode): \(resumed.stderr)")
                finished[mode] = Self.resumedOutcome(out)
            }
            // The resumed runs leave the same results and statistics either way.
            #expect(finished[.single] != nil && finished[.single] == finished[.sharded])
        }
    }

    /// A resumed run's results (normalized) and its run summary's statistics (without timings):
    /// the same whichever session played which case.
    static func resumedOutcome(_ out: URL) -> [JSONValue] {
        lines(out.appendingPathComponent("results.jsonl")).map(normalized)
            + [json(out.appendingPathComponent("run-summary.json"))?["statistics"].map(stripped) ?? .null]
    }

    /// The failure policy with a prefetch window (concurrency 32 over two workers) against a target
    /// failing every request: no more results than one process can have — the 50 failures and at
    /// most what was in flight when the 50th was counted (31). A worker's first failed record leaves
    /// at once and stops its queue, which it hands back right after (`welcome`'s
    /// `handBackQueueAtFirstFailure`), and the window closes once a failure is counted. Without the
    /// hand-back queued samples kept starting until a `release` arrived: 81–93 results, 84 and 86
    /// under load; with the window kept open and records batched, 140–159.
    @Test func theFailurePolicyWithAPrefetchWindowStopsWhereOneProcessCan() async throws {
        try await withMockLLMServer(.init(latencyMs: 0)) { server in
            let counts = try await Self.failingRuns(server, concurrency: 32, maxFailures: 50, cases: 3000)
            for mode in Mode.allCases { #expect((50...(50 + 31)).contains(counts[mode] ?? 0), "\(mode): \(counts[mode] ?? 0) results") }
        }
    }

    /// Runs a job against a target failing every request (one attempt each) in both modes; checks
    /// that each stops with exit 3 and `failurePolicy`, and returns how many results each kept.
    static func failingRuns(_ server: MockLLMServer, concurrency: Int, maxFailures: Int, cases: Int) async throws -> [Mode: Int] {
        var counts: [Mode: Int] = [:]
        for mode in Mode.allCases {
            let directory = try job(
                """
                backends:
                  bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, retry: {attempts: 1}}
                dataset: cases.jsonl
                run: {concurrency: \(concurrency), failurePolicy: {maxFailures: \(maxFailures)}}
                """, cases: Self.cases(cases) { "MOCK_FAULT: 500 case \($0)" })
            let out = directory.appendingPathComponent("out")
            let result = try await CLITests.run(["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags)
            #expect(result.status == 3, "\(mode): \(result.stderr)")
            #expect(json(out.appendingPathComponent("run-summary.json"))?["stopReason"] == .string("failurePolicy"), "\(mode): \(result.stderr)")
            counts[mode] = ids(out).count
        }
        return counts
    }

    @Test func theFailurePolicyStopsBothWithExitThree() async throws {
        try await withMockLLMServer(.init(latencyMs: 2)) { server in
            let counts = try await Self.failingRuns(server, concurrency: 2, maxFailures: 5, cases: 200)
            // Stopped after 5 failures, give or take what was in flight (2 slots in either mode).
            for mode in Mode.allCases { #expect((5...7).contains(counts[mode] ?? 0), "\(mode): \(counts[mode] ?? 0) results") }
        }
    }

    /// A target that is down (nothing listens; `circuitBreaker: {consecutiveFailures: 5}`, one
    /// attempt, c2): one breaker for the whole run, so both modes record the same four connection
    /// failures before the fifth opens it, stop with `targetDown` and exit 3. With a breaker per
    /// worker process, `--workers 2` recorded 5–8.
    @Test func aTargetDownStopsBothAfterTheSameFailures() async throws {
        // Port 9 (discard): nothing listens on loopback there.
        let port = 9
        var counts: [Mode: Int] = [:]
        for mode in Mode.allCases {
            let directory = try Self.job(
                """
                backends:
                  bot: {type: openai, baseURL: "http://127.0.0.1:\(port)/v1", model: m, retry: {attempts: 1}, circuitBreaker: {consecutiveFailures: 5}}
                dataset: cases.jsonl
                run: {concurrency: 2}
                """, cases: Self.cases(200))
            let out = directory.appendingPathComponent("out")
            let result = try await CLITests.run(["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags)
            #expect(result.status == 3, "\(mode): \(result.stderr)")
            let summary = Self.json(out.appendingPathComponent("run-summary.json"))
            #expect(summary?["stopReason"] == .string("targetDown"), "\(mode)")
            let records = Self.lines(out.appendingPathComponent("results.jsonl")).compactMap { try? JSONValue(parsing: $0) }
            #expect(records.allSatisfy { $0["error"]?["code"] == .string("connection_refused") }, "\(mode)")
            counts[mode] = records.count
        }
        #expect(counts[.single] == 4 && counts[.sharded] == 4, "\(counts)")
    }

    /// Switching between one process and `--workers` on one output directory: a fresh run clears
    /// what a run of either way left for a resume (after `--overwrite`, another job's journal would
    /// otherwise be "resumed" into this job's results), and a `--resume` played the other way takes
    /// the run's records into its own journal and continues it (the other way's state removed).
    @Test func aFreshRunClearsTheOtherWaysStateAndAResumeTakesOverTheOtherWaysJournal() async throws {
        let directory = try Self.job(
            """
            backends:
              bot: {type: scripted, default: "fine"}
            dataset: cases.jsonl
            evaluate: {metrics: [{type: contains, value: fine}]}
            """, cases: Self.cases(5))
        let job = directory.appendingPathComponent("job.yaml").path
        let out = directory.appendingPathComponent("out")
        func run(_ arguments: [String]) async throws -> CLITests.Result {
            try await CLITests.run(["test"] + arguments + ["--out", out.path, "--no-progress"])
        }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path) }
        // Another job's run in one process, then this job over workers in its place.
        #expect(try await run(["examples/quickstart.yaml"]).status == 0)
        #expect(exists("results.journal.jsonl") && exists("evals.journal.jsonl"))
        let sharded = try await run([job, "--overwrite", "--workers", "2"])
        #expect(sharded.status == 0, "\(sharded.stderr)")
        #expect(!exists("results.journal.jsonl") && !exists("evals.journal.jsonl") && exists("spool/journal.jsonl"))
        let verdicts = Self.lines(out.appendingPathComponent("evals.jsonl")).map(Self.normalized)
        // Resumed in one process: the spool's records are taken over, nothing is played again.
        let single = try await run([job, "--resume"])
        #expect(single.status == 0, "\(single.stderr)")
        #expect(!exists("spool") && !exists("events") && exists("results.journal.jsonl") && exists("evals.journal.jsonl"))
        #expect(Self.ids(out) == (0..<5).map { "c\($0)" })
        #expect(Self.json(out.appendingPathComponent("run-summary.json"))?["resumed"] == .int(5))
        #expect(Self.lines(out.appendingPathComponent("evals.jsonl")).map(Self.normalized) == verdicts)
        // And back over workers.
        let back = try await run([job, "--resume", "--workers", "2"])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(!exists("results.journal.jsonl") && !exists("evals.journal.jsonl") && exists("spool/journal.jsonl"))
        #expect(Self.ids(out) == (0..<5).map { "c\($0)" })
        #expect(Self.json(out.appendingPathComponent("run-summary.json"))?["resumed"] == .int(5))
        #expect(Self.lines(out.appendingPathComponent("evals.jsonl")).map(Self.normalized) == verdicts)
        // A fresh run in one process clears the spool and the workers' logs.
        #expect(try await run([job]).status == 0)
        #expect(!exists("spool") && !exists("events") && exists("results.journal.jsonl"))
        // Both ways' journals at once (a crash while one was taken over) are refused, naming both.
        try FileManager.default.createDirectory(at: out.appendingPathComponent("spool"), withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: out.appendingPathComponent("spool/journal.jsonl"))
        let both = try await run([job, "--resume", "--workers", "2"])
        #expect(both.status == 2)
        #expect(both.stderr.contains("results.journal.jsonl") && both.stderr.contains("spool/journal.jsonl"), "\(both.stderr)")
    }

    /// A run that recorded errors in one way, resumed with `--retry-errors` the other way: only the
    /// errored cases are played again, and both orders end with the same results, verdicts,
    /// statistics and exit status.
    @Test func aRunIsResumedTheOtherWayWithOnlyItsErrorsPlayedAgain() async throws {
        var outcomes: [Mode: [JSONValue]] = [:]
        for first in Mode.allCases {
            let second: Mode = first == .single ? .sharded : .single
            try await withMockLLMServer(.init(latencyMs: 1)) { server in
                let directory = try Self.mockJob(
                    server, backend: "retry: {attempts: 1}", evaluate: "hello",
                    cases: Self.cases(12) { $0 % 4 == 0 ? #"MOCK_FAULT: 500 times=1\nMOCK_REPLY: hello \#($0)"# : "MOCK_REPLY: hello \($0)" })
                let out = directory.appendingPathComponent("out")
                let config = directory.appendingPathComponent("job.yaml").path
                let played = try await CLITests.run(["test", config, "--out", out.path, "--no-progress"] + first.flags)
                #expect(Self.statuses(out).filter { $0 == "error" }.count == 3, "\(first): \(played.stderr)")
                let before = server.stats.requests
                let resumed = try await CLITests.run(["test", config, "--out", out.path, "--no-progress", "--resume", "--retry-errors"] + second.flags)
                #expect(resumed.status == 0, "\(first) then \(second): \(resumed.stderr)")
                #expect(server.stats.requests - before == 3, "\(first) then \(second): only the errored cases are played again")
                #expect(Self.ids(out) == (0..<12).map { "c\($0)" })
                #expect(Self.statuses(out) == Array(repeating: "ok", count: 12))
                let summary = Self.json(out.appendingPathComponent("run-summary.json"))
                #expect(summary?["resumed"] == .int(9) && summary?["played"] == .int(3), "\(String(describing: summary))")
                let events = (try? String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8)) ?? ""
                #expect(events.contains("its records were taken over"))
                outcomes[first] = Self.resumedOutcome(out) + Self.lines(out.appendingPathComponent("evals.jsonl")).map(Self.normalized) + [.int(Int(resumed.status))]
            }
        }
        #expect(outcomes[.single] != nil && outcomes[.single] == outcomes[.sharded])
    }

    /// A job directory whose bot is the mock server's OpenAI-compatible endpoint (`backend`: more
    /// of the bot's options), run at concurrency 2, scored by one `contains` metric when
    /// `evaluate` names its text.
    static func mockJob(_ server: MockLLMServer, backend: String? = nil, evaluate: String? = nil, cases: String) throws -> URL {
        try job(
            """
            backends:
              bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m\(backend.map { ", " + $0 } ?? "")}
            dataset: cases.jsonl
            run: {concurrency: 2}
            \(evaluate.map { "evaluate: {metrics: [{type: contains, value: \($0)}]}" } ?? "")
            """, cases: cases)
    }

    /// A resume keeps only journal lines whose record is the dataset's case at the line's position:
    /// a line whose id was edited, or one moved to another position, is skipped with a warning
    /// naming its line, and the cases it claimed run again — in one process as over workers (whose
    /// spool journal is checked against its manifest).
    @Test func aResumeSkipsJournalLinesThatAreNotTheDatasetsCaseAtTheirPosition() async throws {
        var outcomes: [Mode: [JSONValue]] = [:]
        for mode in Mode.allCases {
            try await withMockLLMServer(.init(latencyMs: 1)) { server in
                let directory = try Self.mockJob(server, evaluate: "hello", cases: Self.cases(6))
                let out = directory.appendingPathComponent("out")
                let config = directory.appendingPathComponent("job.yaml").path
                let first = try await CLITests.run(["test", config, "--out", out.path, "--no-progress"] + mode.flags)
                #expect(first.status == 0, "\(mode): \(first.stderr)")
                // Line 1 gets another id (same length); line 2 is copied to the end at position 5.
                let journal = mode.journal(out)
                var lines = Self.lines(journal)
                #expect(lines.count == 6, "\(mode)")
                let firstId = try #require(Self.journaledId(lines[0]), "\(mode): \(lines[0].prefix(200))")
                let secondIndex = try #require(Self.journaledIndex(lines[1]))
                #expect(secondIndex != 5)
                lines[0] = lines[0].replacingOccurrences(of: "\"\(firstId)\"", with: "\"x\(firstId.dropFirst())\"")
                lines.append(lines[1].replacingOccurrences(of: "\"index\":\(secondIndex),", with: "\"index\":5,"))
                try (lines.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
                let played = server.stats.requests
                let resumed = try await CLITests.run(["test", config, "--out", out.path, "--no-progress", "--resume"] + mode.flags)
                #expect(resumed.status == 0, "\(mode): \(resumed.stderr)")
                #expect(Self.ids(out) == (0..<6).map { "c\($0)" }, "\(mode): \(Self.ids(out))")
                #expect(server.stats.requests - played == 1, "\(mode): only the case whose line was edited plays again")
                let events = (try? String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8)) ?? ""
                #expect(events.contains("journal line 1 ") && events.contains("journal line 7 ") && events.contains("runs again"), "\(mode): \(events.suffix(3000))")
                outcomes[mode] = Self.resumedOutcome(out)
            }
        }
        #expect(outcomes[.single] != nil && outcomes[.single] == outcomes[.sharded])
    }

    /// The sample id of a journal line, in either mode's shape.
    static func journaledId(_ line: String) -> String? {
        guard let value = try? JSONValue(parsing: line) else { return nil }
        return value["record"]?["sampleId"]?.stringValue ?? value["sampleId"]?.stringValue ?? value["id"]?.stringValue
    }

    /// The dataset index of a journal line, in either mode's shape.
    static func journaledIndex(_ line: String) -> Int? {
        guard let value = try? JSONValue(parsing: line), case .int(let index)? = value["index"] else { return nil }
        return index
    }

    @Test func concurrencyBoundsWhatIsInFlightToTheTargetForTheWholeRun() async throws {
        for mode in Mode.allCases {
            try await withMockLLMServer(.init(latencyMs: 40)) { server in
                let directory = try Self.job(
                    """
                    backends:
                      bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m}
                    dataset: cases.jsonl
                    run: {concurrency: 3}
                    """, cases: Self.cases(40))
                let result = try await CLITests.run(
                    ["test", directory.appendingPathComponent("job.yaml").path, "--out", directory.appendingPathComponent("out").path, "--no-progress"] + mode.flags)
                #expect(result.status == 0, "\(mode): \(result.stderr)")
                #expect(server.stats.requests == 40)
                #expect(server.stats.maxInFlight <= 3, "\(mode): \(server.stats.maxInFlight) in flight")
                #expect(server.stats.maxInFlight >= 2, "\(mode): the run did not use its concurrency")
            }
        }
    }

    @Test func theResponseCacheIsOnePerJobSharedByItsWorkers() async throws {
        for mode in Mode.allCases {
            try await withMockLLMServer(.init(latencyMs: 1)) { server in
                let directory = try Self.job(
                    """
                    backends:
                      bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, cache: true}
                    dataset: cases.jsonl
                    run: {concurrency: 4}
                    """, cases: Self.cases(30))
                let arguments = ["test", directory.appendingPathComponent("job.yaml").path, "--out", directory.appendingPathComponent("out").path, "--no-progress"] + mode.flags
                let first = try await CLITests.run(arguments)
                #expect(first.status == 0, "\(mode): \(first.stderr)")
                #expect(server.stats.requests == 30)
                // Replies the job paid for are private to the user.
                let state = directory.appendingPathComponent("out/.state").path
                let permissions = (try FileManager.default.attributesOfItem(atPath: state)[.posixPermissions] as? Int) ?? -1
                #expect(permissions == 0o700, "\(mode): .state is \(String(permissions, radix: 8))")
                let second = try await CLITests.run(arguments)
                #expect(second.status == 0, "\(mode): \(second.stderr)")
                #expect(server.stats.requests == 30, "\(mode): the second run missed the cache \(server.stats.requests - 30) times")
            }
        }
    }

    @Test(arguments: [("INT", true), ("TERM", false)])
    func anInterruptStopsBothWithExitThreeAndResumeFinishesEveryIdOnce(signal: String, toGroup: Bool) async throws {
        try await withMockLLMServer(.init(latencyMs: 100)) { server in
            var finished: [Mode: [JSONValue]] = [:]
            for mode in Mode.allCases {
                let directory = try Self.job(
                    """
                    backends:
                      bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m}
                    dataset: cases.jsonl
                    run: {concurrency: 4, syncEvery: 1}
                    """, cases: Self.cases(120))
                let out = directory.appendingPathComponent("out")
                let config = directory.appendingPathComponent("job.yaml").path
                let journal = mode.journal(out)
                let result = try await CLITests.run(
                    ["test", config, "--out", out.path, "--no-progress"] + mode.flags,
                    signal: signal == "INT" ? SIGINT : SIGTERM, toGroup: toGroup
                ) { Self.lines(journal).count >= 8 }
                #expect(result.status == 3, "\(mode) SIG\(signal): \(result.stderr)")
                let kept = Self.ids(out).count
                #expect(kept >= 8 && kept < 120, "\(mode) SIG\(signal): kept \(kept)")
                let resumed = try await CLITests.run(["test", config, "--out", out.path, "--no-progress", "--resume"] + mode.flags)
                #expect(resumed.status == 0, "\(mode) SIG\(signal): \(resumed.stderr)")
                let all = Self.ids(out)
                #expect(all.count == 120 && Set(all).count == 120, "\(mode) SIG\(signal): \(all.count) results")
                finished[mode] = Self.resumedOutcome(out)
            }
            #expect(finished[.single] != nil && finished[.single] == finished[.sharded], "SIG\(signal)")
        }
    }

    @Test func maxErrorRateFailsBothRunsTheSameWay() async throws {
        try await withMockLLMServer(.init(latencyMs: 1)) { server in
            var statuses: [Int32] = []
            for mode in Mode.allCases {
                let directory = try Self.job(
                    """
                    backends:
                      bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, retry: {attempts: 1}}
                    dataset: cases.jsonl
                    run: {concurrency: 4}
                    evaluate:
                      maxErrorRate: 0.1
                      metrics: [{type: contains, value: "hello"}]
                    """, cases: Self.cases(20) { $0 % 4 == 0 ? "MOCK_FAULT: 500 case \($0)" : "MOCK_REPLY: hello \($0)" })
                let out = directory.appendingPathComponent("out")
                let result = try await CLITests.run(["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags)
                statuses.append(result.status)
                #expect(Self.json(out.appendingPathComponent("summary.json"))?["passed"] == .bool(false), "\(mode)")
            }
            #expect(statuses == [1, 1])
        }
    }

    @Test func retryErrorsReplaysRecordedErrorsEitherWay() async throws {
        var keptSummaries: [Mode: [JSONValue?]] = [:]
        defer {
            #expect(keptSummaries[.single] != nil && keptSummaries[.single] == keptSummaries[.sharded], "\(keptSummaries[.single] ?? []) vs \(keptSummaries[.sharded] ?? [])")
        }
        for mode in Mode.allCases {
            // Every fourth case fails once (`times=1`): recorded as an error the first time.
            try await withMockLLMServer(.init(latencyMs: 1)) { server in
                let directory = try Self.job(
                    """
                    backends:
                      bot: {type: openai, baseURL: "\(server.openAIBaseURL)", model: m, retry: {attempts: 1}}
                    dataset: cases.jsonl
                    run: {concurrency: 2}
                    """, cases: Self.cases(12) { $0 % 4 == 0 ? "MOCK_FAULT: 500 times=1 case \($0)" : "hello \($0)" })
                let out = directory.appendingPathComponent("out")
                let config = directory.appendingPathComponent("job.yaml").path
                let first = try await CLITests.run(["test", config, "--out", out.path, "--no-progress"] + mode.flags)
                #expect(first.status == 1, "\(mode): \(first.stderr)")
                #expect(Self.statuses(out).filter { $0 == "error" }.count == 3, "\(mode)")
                // A resume without --retry-errors keeps the errors: the summary says so, the same way.
                let kept = try await CLITests.run(["test", config, "--out", out.path, "--no-progress", "--resume"] + mode.flags)
                let summary = Self.json(out.appendingPathComponent("run-summary.json"))
                // Error examples name the server's port: compare their codes.
                keptSummaries[mode] = Self.summaryCounts.map { key in
                    key == "errorExamples" ? summary?[key]?.objectValue.map { .array($0.keys.sorted().map(JSONValue.string)) } : summary?[key]
                } + [summary?["statistics"].map(Self.stripped), .int(Int(kept.status))]
                #expect(summary?["keptErrors"] == .int(3) && summary?["resumed"] == .int(12) && summary?["played"] == .int(0), "\(mode)")
                #expect(summary?["errorExamples"]?.objectValue?.isEmpty == false, "\(mode)")
                let before = server.stats.requests
                let retried = try await CLITests.run(["test", config, "--out", out.path, "--no-progress", "--resume", "--retry-errors"] + mode.flags)
                #expect(retried.status == 0, "\(mode): \(retried.stderr)")
                #expect(server.stats.requests - before == 3, "\(mode): only the errored cases are played again")
                #expect(Self.statuses(out) == Array(repeating: "ok", count: 12), "\(mode)")
                #expect(Set(Self.ids(out)).count == 12)
            }
        }
    }

    @Test func anAgentJobWithToolsRecordsTheSameCallsEitherWay() async throws {
        let cases = (0..<8).map { n in
            #"{"id":"a\#(n)","input":"Two seats to London, case \#(n)","tools":[{"name":"search_flights","results":[{"match":{"to":"LON"},"result":{"flights":["BA303"]}}]}],"expectedTools":[{"name":"search_flights"},{"name":"book_flight"}]}"#
        }.joined(separator: "\n") + "\n"
        let directory = try Self.job(
            """
            backends:
              bot:
                type: scripted
                rules:
                  - {match: "to London", toolCalls: [{name: search_flights, arguments: {to: LON}}]}
                  - {match: "BA303", toolCalls: [{name: book_flight, arguments: {flight: BA303}}, {name: search_flights, arguments: {to: NYC}}]}
                  - {match: "PNR-", reply: "Booked BA303, PNR-7Q2."}
            dataset: cases.jsonl
            run:
              concurrency: 2
              maxSteps: 4
              tools: [{name: book_flight, result: "booked: PNR-7Q2"}]
            evaluate: {metrics: [{type: contains, value: "PNR-7Q2"}]}
            """, cases: cases)
        var results: [Mode: [JSONValue]] = [:]
        for mode in Mode.allCases {
            let out = directory.appendingPathComponent("out-\(mode.rawValue)")
            let result = try await CLITests.run(["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path, "--no-progress"] + mode.flags)
            #expect(result.status == 0, "\(mode): \(result.stderr)")
            results[mode] = Self.lines(out.appendingPathComponent("results.jsonl")).map(Self.normalized)
        }
        #expect(results[.single]?.count == 8)
        #expect(results[.single] == results[.sharded])
        let first = try #require(results[.sharded]?.first)
        let transcript = first["transcript"]?.arrayValue ?? []
        #expect(transcript.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "tool", "assistant", "tool", "tool", "assistant"])
        #expect(transcript[5]["isError"] == .bool(true))
        #expect(first["turns"]?.arrayValue?.count == 3 && first["output"] == .string("Booked BA303, PNR-7Q2."))
    }
}
