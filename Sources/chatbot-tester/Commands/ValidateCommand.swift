import ArgumentParser

/// `chatbot-tester validate` (not implemented yet: lands with its issue).
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check dataset and result files line by line.")

    func run() async throws {
        throw CleanExit.message("'validate' is not implemented yet")
    }
}
