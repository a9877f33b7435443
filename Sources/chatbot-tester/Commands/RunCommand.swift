import ArgumentParser

/// `chatbot-tester run` (not implemented yet: lands with its issue).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Play a dataset against the target and write results.jsonl.")

    func run() async throws {
        throw CleanExit.message("'run' is not implemented yet")
    }
}
