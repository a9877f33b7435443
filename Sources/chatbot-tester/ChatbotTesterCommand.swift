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
            CalibrateCommand.self, ValidateCommand.self, BackendsCommand.self, MockServerCommand.self,
            BenchCommand.self, CoordinatorCommand.self, WorkerCommand.self,
        ]
    )

    /// Parses and runs the command; usage errors exit 2 (the promised code) instead of 64.
    static func main() async {
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
}
