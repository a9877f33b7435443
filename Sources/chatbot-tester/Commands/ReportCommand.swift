import ArgumentParser

/// `chatbot-tester report` (not implemented yet: lands with its issue).
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Regenerate reports from results, or compare two runs.")

    func run() async throws {
        throw CleanExit.message("'report' is not implemented yet")
    }
}
