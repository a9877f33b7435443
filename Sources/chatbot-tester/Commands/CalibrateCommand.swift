import ArgumentParser

/// `chatbot-tester calibrate` (not implemented yet: lands with its issue).
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "calibrate", abstract: "Compare an LLM judge with human labels.")

    func run() async throws {
        throw CleanExit.message("'calibrate' is not implemented yet")
    }
}
