import ArgumentParser

/// `chatbot-tester backends` (not implemented yet: lands with its issue).
struct BackendsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backends", abstract: "List registered backend types and their options.")

    func run() async throws {
        throw CleanExit.message("'backends' is not implemented yet")
    }
}
