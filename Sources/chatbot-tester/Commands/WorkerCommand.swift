import ArgumentParser

/// `chatbot-tester worker` (not implemented yet: lands with its issue).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run shards for a coordinator.")

    func run() async throws {
        throw CleanExit.message("'worker' is not implemented yet")
    }
}
