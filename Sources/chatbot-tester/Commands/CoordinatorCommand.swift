import ArgumentParser

/// `chatbot-tester coordinator` (not implemented yet: lands with its issue).
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Coordinate a sharded run over a Unix-domain socket.")

    func run() async throws {
        throw CleanExit.message("'coordinator' is not implemented yet")
    }
}
