import ArgumentParser

/// `chatbot-tester test` (not implemented yet: lands with its issue).
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test", abstract: "Run the whole pipeline of a job config: dataset or generation, run, evaluate, reports.")

    func run() async throws {
        throw CleanExit.message("'test' is not implemented yet")
    }
}
