import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester validate FILE…`: checks every line of dataset, results and evals files (and job
/// configs), reporting every bad line with file:line: field. Exit 1 when any line is bad.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check dataset, result and eval files line by line, and job configs.",
        discussion: """
            The kind of each file is taken from its name: *.yaml / *.yml / *.json are job configs, \
            results*.jsonl run records, evals*.jsonl eval records, any other *.jsonl test cases. \
            Use --kind to force one. A job config gets every check `test` runs before its first \
            request (the same code): the config, backends, metrics and the dataset file. Unset secret \
            references are warnings unless --require-secrets.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case auto, dataset, results, evals, config
    }

    @Argument(help: "Files to check: paths or s3://bucket/key objects.") var files: [String]
    @Option(help: "What the files hold: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).") var kind: Kind = .auto
    @Option(help: "Stop listing errors after this many per file.") var maxErrors: Int = 50
    @Flag(help: "Print nothing but errors.") var quiet = false
    @Flag(help: "Treat unset secret references in job configs as errors, as `test` does.") var requireSecrets = false

    func run() async throws {
        try await withExitCodes {
            var anyBad = false
            for path in files {
                var url = URL(fileURLWithPath: path)
                let fileKind = kind == .auto ? Self.guess(url) : kind
                // A remote file is checked from a private local copy; errors name the s3:// URL.
                var scratch: URL?
                defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
                if RemoteLocation.isRemote(path) {
                    let directory = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-validate")
                    scratch = directory
                    url = directory.appendingPathComponent(url.lastPathComponent)
                    try await RemoteLocation.download(path, opener: PipelineComponents.builtin().stores, to: url)
                }
                var report: FileValidationReport
                switch fileKind {
                case .config:
                    report = await Self.validateConfig(url, requireSecrets: requireSecrets, quiet: quiet)
                case .results:
                    report = try await FileValidation.validate(RunRecord.self, at: url, maxErrors: maxErrors)
                case .evals:
                    report = try await FileValidation.validate(EvalRecord.self, at: url, maxErrors: maxErrors)
                case .dataset, .auto:
                    report = try await FileValidation.validate(TestSample.self, at: url, maxErrors: maxErrors)
                }
                if scratch != nil { report.errors = report.errors.map { RemoteLocation.relabel($0, local: url, as: path) as? ChatbotTesterError ?? $0 } }
                for error in report.errors { printError("error: \(error)") }
                if report.badLines > report.errors.count {
                    printError("\(path): … and \(report.badLines - report.errors.count) more bad lines")
                }
                if report.badLines > 0 { anyBad = true }
                if !quiet {
                    print("\(path): \(fileKind.rawValue == "auto" ? "dataset" : fileKind.rawValue), \(report.goodLines) valid, \(report.badLines) invalid")
                }
            }
            return anyBad ? ExitStatus.failed : ExitStatus.ok
        }
    }

    static func guess(_ url: URL) -> Kind {
        let name = url.lastPathComponent.lowercased()
        if name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json") { return .config }
        if name.hasPrefix("results") { return .results }
        if name.hasPrefix("evals") { return .evals }
        return .dataset
    }

    /// Runs the checks of `test` (``TestJob/check(config:components:settings:requireSecrets:)``).
    static func validateConfig(_ url: URL, requireSecrets: Bool, quiet: Bool) async -> FileValidationReport {
        do {
            let config = try JobConfig.load(contentsOf: url)
            let check = await TestJob.check(config: config, components: .builtin(), requireSecrets: requireSecrets)
            if !quiet { for warning in check.warnings { printError("warning: \(warning)") } }
            if let error = check.error { return FileValidationReport(goodLines: 0, badLines: 1, errors: [error]) }
            return FileValidationReport(goodLines: 1, badLines: 0, errors: [])
        } catch {
            let tester = ChatbotTesterError.wrap(error, code: .invalidConfig)
            return FileValidationReport(goodLines: 0, badLines: 1, errors: [tester])
        }
    }
}
