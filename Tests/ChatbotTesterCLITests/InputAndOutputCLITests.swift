import ChatbotTester
import Foundation
import Testing

/// `validate` runs `test`'s checks, hostile input ends in clear errors, runs are not overwritten,
/// and the README/docs commands that run offline do run.
@Suite struct InputAndOutputCLITests {
    static let base = """
        name: table
        backends:
          bot: {type: scripted, default: "Refunds take 30 days."}
          judge: {type: scripted, default: '{"score": 5, "reason": "fine"}'}
        dataset: cases.jsonl
        run: {target: bot, concurrency: 2}
        evaluate:
          metrics:
            - {type: contains, value: "30 days"}
        """

    /// Configs `test` rejects before its first request, each as (name, text replaced, replacement).
    static let badConfigs: [(String, String, String)] = [
        ("run.concurency", "concurrency: 2", "concurency: 2"),
        ("concurrency as a string", "concurrency: 2", "concurrency: \"8\""),
        ("zero concurrency", "concurrency: 2", "concurrency: 0"),
        ("literal apiKey", "bot: {type: scripted, default: \"Refunds take 30 days.\"}",
         "bot: {type: openai, baseURL: \"http://127.0.0.1:9/v1\", model: m, apiKey: sk-literal-value-123456}"),
        ("unset secret", "bot: {type: scripted, default: \"Refunds take 30 days.\"}",
         "bot: {type: openai, baseURL: \"http://127.0.0.1:9/v1\", model: m, apiKey: {env: CT_INPUT_TEST_UNSET_KEY}}"),
        ("unknown metric type", "{type: contains, value: \"30 days\"}", "{type: containz, value: \"30 days\"}"),
        ("metric option misspelt", "{type: contains, value: \"30 days\"}", "{type: contains, valeu: \"30 days\"}"),
        ("threshold out of range", "{type: contains, value: \"30 days\"}", "{type: contains, value: \"30 days\", threshold: 2}"),
        ("judge without backend", "{type: contains, value: \"30 days\"}", "{type: llm-judge, rubric: \"ok?\"}"),
        ("judge names a ghost", "{type: contains, value: \"30 days\"}", "{type: llm-judge, backend: ghost, rubric: \"ok?\"}"),
        ("unknown backend type", "type: scripted, default: \"Refunds", "type: scriptd, default: \"Refunds"),
        ("unknown backend option", "default: \"Refunds take 30 days.\"}", "default: \"Refunds take 30 days.\", temprature: 1}"),
        ("target is a ghost", "target: bot", "target: ghost"),
        ("simulator is a ghost", "target: bot,", "target: bot, simulator: ghost,"),
        ("no target among two", "run: {target: bot, concurrency: 2}", "run: {concurrency: 2}"),
        ("no dataset", "dataset: cases.jsonl\n", ""),
        ("dataset and generate", "dataset: cases.jsonl", "dataset: cases.jsonl\ngenerate: {templates: []}"),
        ("missing dataset file", "dataset: cases.jsonl", "dataset: nowhere.jsonl"),
        ("bad dataset line", "dataset: cases.jsonl", "dataset: bad.jsonl"),
        ("maxLineBytes zero", "dataset: cases.jsonl", "dataset: {path: cases.jsonl, maxLineBytes: 0}"),
        ("unknown top-level key", "run:", "cluster: {workers: 2}\nrun:"),
        ("missing baseline", "  metrics:", "  baseline: runs/none\n  metrics:"),
        ("run section a list", "run: {target: bot, concurrency: 2}", "run: [bot]"),
    ]

    static func directory() throws -> URL {
        let url = try CLITests.temporaryDirectory()
        try Data("{\"id\":\"q1\",\"input\":\"refund?\"}\n{\"id\":\"q2\",\"input\":\"how long?\"}\n".utf8)
            .write(to: url.appendingPathComponent("cases.jsonl"))
        try Data("{\"id\":\"q1\",\"input\":\"refund?\"}\n{\"id\":\"q2\",\"input\":\"how long?\",}\n".utf8)
            .write(to: url.appendingPathComponent("bad.jsonl"))
        return url
    }

    @Test func theBaseConfigPassesBoth() async throws {
        let directory = try Self.directory()
        let config = directory.appendingPathComponent("job.yaml")
        try Data(Self.base.utf8).write(to: config)
        let validate = try await CLITests.run(["validate", "--require-secrets", config.path])
        #expect(validate.status == 0, "\(validate.stderr)")
        let test = try await CLITests.run(["test", config.path, "--out", directory.appendingPathComponent("out").path, "--no-progress"])
        #expect(test.status == 0, "\(test.stderr)")
    }

    @Test(arguments: InputAndOutputCLITests.badConfigs.map(\.0))
    func validateRejectsWhatTestRejectsWithTheSameMessage(_ name: String) async throws {
        let (_, old, new) = try #require(Self.badConfigs.first { $0.0 == name })
        #expect(Self.base.contains(old), "the table's \(name) no longer applies")
        let directory = try Self.directory()
        let config = directory.appendingPathComponent("job.yaml")
        try Data(Self.base.replacingOccurrences(of: old, with: new).utf8).write(to: config)
        let test = try await CLITests.run(["test", config.path, "--out", directory.appendingPathComponent("out").path, "--no-progress"])
        let validate = try await CLITests.run(["validate", "--require-secrets", config.path])
        #expect(test.status == 2, "test accepted \(name): \(test.stdout)")
        #expect(validate.status == 1, "validate accepted \(name): \(validate.stdout)")
        #expect(test.stderr.hasPrefix("error: "), "\(test.stderr)")
        #expect(validate.stderr == test.stderr, "validate:\n\(validate.stderr)\ntest:\n\(test.stderr)")
    }

    @Test func anUnsetSecretIsAWarningUnlessRequired() async throws {
        let directory = try Self.directory()
        let config = directory.appendingPathComponent("job.yaml")
        let text = Self.base.replacingOccurrences(
            of: "bot: {type: scripted, default: \"Refunds take 30 days.\"}",
            with: "bot: {type: openai, baseURL: \"http://127.0.0.1:9/v1\", model: m, apiKey: {env: CT_INPUT_TEST_UNSET_KEY}}")
        try Data(text.utf8).write(to: config)
        let lenient = try await CLITests.run(["validate", config.path])
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stderr.contains("warning: ") && lenient.stderr.contains("CT_INPUT_TEST_UNSET_KEY"), "\(lenient.stderr)")
        let strict = try await CLITests.run(["validate", "--require-secrets", config.path])
        #expect(strict.status == 1)
        #expect(strict.stderr.contains("error: ") && strict.stderr.contains("CT_INPUT_TEST_UNSET_KEY"))
    }

    // MARK: Hostile input

    @Test func aBillionLaughsConfigIsRefusedAtOnce() async throws {
        let directory = try Self.directory()
        var text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        for (previous, name) in zip("abcdefgh", "bcdefghi") {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
        }
        let config = directory.appendingPathComponent("lol.yaml")
        try Data(text.utf8).write(to: config)
        for arguments in [["validate", config.path], ["test", config.path, "--out", directory.appendingPathComponent("out").path]] {
            let result = try await CLITests.run(arguments)
            #expect(result.status == (arguments[0] == "test" ? 2 : 1))
            #expect(result.stderr.contains("expands to more than 100000 values"), "\(result.stderr)")
        }
        // An ordinary config with anchors still loads.
        let anchors = """
            backends:
              bot: &scripted {type: scripted, default: "Refunds take 30 days."}
              other: *scripted
            dataset: cases.jsonl
            run: {target: bot}
            """
        try Data(anchors.utf8).write(to: directory.appendingPathComponent("anchors.yaml"))
        let result = try await CLITests.run(["validate", directory.appendingPathComponent("anchors.yaml").path])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func aDeviceAsDatasetIsRefusedAndStandardInputStreams() async throws {
        let directory = try Self.directory()
        let zero = try await CLITests.run(["validate", "--kind", "dataset", "/dev/zero"])
        #expect(zero.status == 2)
        #expect(zero.stderr.contains("/dev/zero is a device"), "\(zero.stderr)")
        let zeroConfig = try await CLITests.run(["test", "/dev/zero"])
        #expect(zeroConfig.status == 2)
        #expect(zeroConfig.stderr.contains("/dev/zero is a device"), "\(zeroConfig.stderr)")
        let config = directory.appendingPathComponent("job.yaml")
        try Data(Self.base.replacingOccurrences(of: "dataset: cases.jsonl", with: "dataset: /dev/zero").utf8).write(to: config)
        let test = try await CLITests.run(["test", config.path, "--out", directory.appendingPathComponent("out").path, "--no-progress"])
        #expect(test.status == 2)
        #expect(test.stderr.contains("/dev/zero is a device"), "\(test.stderr)")
        // `dataset: -` reads standard input (here a pipe from a shell).
        try Data(Self.base.replacingOccurrences(of: "dataset: cases.jsonl", with: "dataset: \"-\"").utf8).write(to: config)
        let piped = try await CLITests.run([
            "-c", "cat \(directory.appendingPathComponent("cases.jsonl").path) | \(CLITests.binary.path) test \(config.path) --out \(directory.appendingPathComponent("stdin").path) --no-progress",
        ], executable: URL(fileURLWithPath: "/bin/sh"))
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.contains("Run: 2 cases"), "\(piped.stdout)")
    }

    // MARK: No overwrite

    @Test func theSameJobRunsTwiceAndAnotherJobNeedsOverwrite() async throws {
        let out = try CLITests.temporaryDirectory()
        for _ in 0..<2 {
            let result = try await CLITests.run(["test", "examples/quickstart.yaml", "--out", out.path, "--no-progress"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let other = try await CLITests.run(["test", "examples/exec-bot.yaml", "--out", out.path, "--no-progress"])
        #expect(other.status == 2)
        #expect(other.stderr.contains("holds the run of another job") && other.stderr.contains("--overwrite"), "\(other.stderr)")
        let record = try String(contentsOf: out.appendingPathComponent("job.json"), encoding: .utf8)
        #expect(record.contains("quickstart.yaml"), "the quickstart's run was kept")
        let forced = try await CLITests.run(["test", "examples/exec-bot.yaml", "--out", out.path, "--no-progress", "--overwrite"])
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test func aVariableTunesTheSameJob() async throws {
        // As examples/ci-gates.yaml's comments run it: the same file, a gate tuned by a variable.
        let out = try CLITests.temporaryDirectory()
        let plain = try await CLITests.run(["test", "examples/ci-gates.yaml", "--out", out.path, "--no-progress"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let strict = try await CLITests.run(
            ["test", "examples/ci-gates.yaml", "--out", out.path, "--no-progress"], environment: ["MIN_PASS_RATE": "1"])
        #expect(strict.status == 1, "\(strict.stderr)")
    }

    @Test func evaluateWithResultsWritesNextToThemAndNowhereElse() async throws {
        let directory = try Self.directory()
        let own = directory.appendingPathComponent("own")
        let config = directory.appendingPathComponent("job.yaml")
        try Data((Self.base + "\noutput: \(own.path)\n").utf8).write(to: config)
        let other = directory.appendingPathComponent("other")
        let first = try await CLITests.run(["test", config.path, "--out", other.path, "--no-progress"])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try FileManager.default.contentsOfDirectory(atPath: other.path).sorted()
        try FileManager.default.removeItem(at: other.appendingPathComponent("evals.jsonl"))
        let result = try await CLITests.run(["evaluate", config.path, "--results", other.appendingPathComponent("results.jsonl").path, "--no-progress"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: own.path), "evaluate wrote into the config's own output")
        #expect(FileManager.default.fileExists(atPath: other.appendingPathComponent("evals.jsonl").path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: other.path).sorted() == before)
    }

    // MARK: Words

    @Test func anUnknownCommandIsAUsageError() async throws {
        let result = try await CLITests.run(["frobnicate"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("unknown command 'frobnicate'"))
        #expect(!result.stdout.contains("SUBCOMMANDS"))
    }

    @Test func metricsListNamesEveryBuiltInType() async throws {
        let text = try await CLITests.run(["metrics", "list"])
        #expect(text.status == 0)
        let json = try await CLITests.run(["metrics", "list", "--json"])
        #expect(json.status == 0)
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.stdout.utf8))
        let names = value["types"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names == MetricRegistry.builtinMetrics.typeNames)
        for name in names { #expect(text.stdout.contains("\(name) — "), "\(name)") }
    }
}

/// Every `chatbot-tester …` line in a shell code block of README.md and docs/*.md that can run
/// offline runs with the built binary and exits as its `# exits N` comment says (0 when silent).
/// A line is skipped when it has placeholders (`CONFIG`, `DIR`, `…`, `<x>`), an `s3://` store, environment
/// variables, background jobs or continuations, starts a server or cluster process, or names an
/// input file that does not exist. Lines run in order, in a scratch directory where `examples/`
/// is the repository's, so what one line writes the next can read.
@Suite struct DocsCommandsTests {
    struct Command: CustomStringConvertible, Sendable {
        var file: String
        var line: Int
        var arguments: [String]
        var expectedStatus: Int32
        var description: String { "\(file):\(line): chatbot-tester \(arguments.joined(separator: " "))" }
    }

    static let skippedVerbs: Set<String> = ["mock-server", "coordinator", "worker", "bench", "view", "history"]

    /// The candidate commands of one Markdown file, in order.
    static func commands(in file: String) throws -> [Command] {
        let text = try String(contentsOf: CLITests.repository.appendingPathComponent(file), encoding: .utf8)
        var commands: [Command] = []
        var language: String?
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                language = language == nil ? String(line.dropFirst(3)) : nil
                continue
            }
            guard let language, ["sh", "bash", "shell", ""].contains(language), line.hasPrefix("chatbot-tester ") else { continue }
            var code = line
            var expected: Int32 = 0
            if let hash = line.range(of: " #") {
                code = String(line[..<hash.lowerBound])
                let comment = line[hash.upperBound...]
                if let exits = comment.range(of: "exits "), let digit = comment[exits.upperBound...].first?.wholeNumberValue {
                    expected = Int32(digit)
                }
            }
            let words = code.split(separator: " ").map(String.init).dropFirst()
            commands.append(Command(file: file, line: index + 1, arguments: Array(words), expectedStatus: expected))
        }
        return commands
    }

    /// Why a command cannot run offline here, or nil.
    static func skipReason(_ command: Command, in directory: URL) -> String? {
        guard let verb = command.arguments.first else { return "no verb" }
        if skippedVerbs.contains(verb) { return "a server or cluster process" }
        for word in command.arguments {
            if word.contains("…") || word.contains("<") || word.contains("&") || word == "\\" || word.contains("[") { return "placeholder" }
            if word.count >= 1, word == word.uppercased(), word.first?.isLetter == true { return "placeholder \(word)" }
            if word.contains("$") { return "environment variable" }
            if word.lowercased().hasPrefix("s3://") { return "a remote store (S3OutputCLITests runs these against a real one)" }
        }
        var previous = ""
        for word in command.arguments {
            defer { previous = word }
            if ["-o", "--out"].contains(previous) { continue }
            if [".yaml", ".yml", ".jsonl", ".json"].contains(where: word.hasSuffix),
                !FileManager.default.fileExists(atPath: directory.appendingPathComponent(word).path)
            {
                return "no file \(word)"
            }
        }
        return nil
    }

    static let files: [String] = {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: CLITests.repository.appendingPathComponent("docs").path)) ?? []
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
    }()

    @Test(arguments: DocsCommandsTests.files)
    func theOfflineCommandsRun(_ file: String) async throws {
        let directory = try CLITests.temporaryDirectory()
        try FileManager.default.createSymbolicLink(
            at: directory.appendingPathComponent("examples"), withDestinationURL: CLITests.repository.appendingPathComponent("examples"))
        var ran = 0
        for command in try Self.commands(in: file) {
            if Self.skipReason(command, in: directory) != nil { continue }
            let result = try await CLITests.run(command.arguments, directory: directory)
            #expect(result.status == command.expectedStatus, "\(command) exited \(result.status):\n\(result.stderr.suffix(2000))")
            ran += 1
        }
        if file == "README.md" { #expect(ran >= 7, "the README's offline block is not found or not run") }
    }
}
