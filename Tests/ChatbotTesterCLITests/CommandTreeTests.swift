import ArgumentParser
import Testing

@testable import chatbot_tester

/// The command tree names every verb itself. ArgumentParser builds the whole tree on every start
/// (each worker process too), and a command without `commandName` is named by
/// `String(describing:)` of its type: reflection whose failed conformance lookups scan every
/// conformance record of a 170 MB binary (about 16 % of the argument parsing's CPU at start-up,
/// measured with `perf record` of `chatbot-tester --version`).
@Suite struct CommandTreeTests {
    static func unnamed(_ command: any ParsableCommand.Type, path: String) -> [String] {
        let configuration = command.configuration
        let name = configuration.commandName ?? "<\(command)>"
        let here = path.isEmpty ? name : path + " " + name
        return (configuration.commandName == nil ? [here] : [])
            + configuration.subcommands.flatMap { unnamed($0, path: here) }
    }

    @Test func everyCommandDeclaresItsName() {
        #expect(Self.unnamed(ChatbotTesterCommand.self, path: "") == [])
        // The verbs users type, unchanged (DESIGN.md's user-facing contracts).
        let verbs = ChatbotTesterCommand.configuration.subcommands.compactMap { $0.configuration.commandName }
        #expect(verbs.contains("test") && verbs.contains("worker") && verbs.contains("backends"))
        #expect(BackendsCommand.List.configuration.commandName == "list")
        #expect(MetricsCommand.List.configuration.commandName == "list")
    }
}
