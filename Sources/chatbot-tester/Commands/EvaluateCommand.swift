import ArgumentParser

/// `chatbot-tester evaluate` (not implemented yet: lands with its issue).
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Score results.jsonl and write evals.jsonl and reports.")

    func run() async throws {
        throw CleanExit.message("'evaluate' is not implemented yet")
    }
}
