import ArgumentParser

/// `chatbot-tester bench` (not implemented yet: lands with its issue).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure throughput and memory against the mock server.")

    func run() async throws {
        throw CleanExit.message("'bench' is not implemented yet")
    }
}
