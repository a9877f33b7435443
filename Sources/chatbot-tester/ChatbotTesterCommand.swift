import ArgumentParser
import ChatbotTester

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
}
