import ArgumentParser
import ChatbotTester
import Foundation

/// The `chatbot-tester` command tree. Each verb is a small struct in `Commands/`.
@main
struct ChatbotTesterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chatbot-tester",
        abstract: "Generate test cases, run them against a chatbot, and evaluate the transcripts.",
        version: ChatbotTesterCoreInfo.version,
        subcommands: [
            TestCommand.self, GenerateCommand.self, RunCommand.self, EvaluateCommand.self, ReportCommand.self,
            CalibrateCommand.self, ValidateCommand.self, BackendsCommand.self, MetricsCommand.self, MockServerCommand.self,
            BenchCommand.self, CoordinatorCommand.self, WorkerCommand.self, PlanCommand.self, StatusCommand.self, MergeCommand.self,
        ]
    )

    /// Parses and runs the command; usage errors exit 2 (the promised code) instead of 64.
    static func main() async {
        if let unknown = unknownSubcommand(Array(CommandLine.arguments.dropFirst())) {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName }
            FileHandle.standardError.write(
                Data("error: unknown command '\(unknown)' (commands: \(names.joined(separator: ", "))); see chatbot-tester --help\n".utf8))
            Foundation.exit(ExitStatus.usage)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((SecretMasker.shared.mask(fullMessage(for: error)) + "\n").utf8))
                Foundation.exit(ExitStatus.usage)
            }
            exit(withError: error)
        }
    }

    /// The first argument when it names no command (the parser would print the root help and exit 0).
    static func unknownSubcommand(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-"), first != "help" else { return nil }
        let names = configuration.subcommands.compactMap { $0.configuration.commandName }
        return names.contains(first) ? nil : first
    }
}
