import ArgumentParser

/// `chatbot-tester generate` (not implemented yet: lands with its issue).
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate test cases from a config's generate section.")

    func run() async throws {
        throw CleanExit.message("'generate' is not implemented yet")
    }
}
