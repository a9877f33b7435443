import ArgumentParser

/// `chatbot-tester mock-server` (not implemented yet: lands with its issue).
struct MockServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mock-server", abstract: "Serve a loopback OpenAI- and Anthropic-compatible mock LLM.")

    func run() async throws {
        throw CleanExit.message("'mock-server' is not implemented yet")
    }
}
