import ArgumentParser
import ChatbotTester
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

/// Which workers run their tasks on the HTTP client's loop: those with one thread, unless the
/// variable says 0; another value is a config error naming it.
@Suite struct WorkerExecutorTests {
    /// A coordinator runs its tasks on its libuv loop unless its options name an executor or
    /// `CHATBOT_TESTER_COORDINATOR_ON_LOOP=0`; another value is a config error naming the variable.
    @Test func aCoordinatorRunsOnItsLoop() throws {
        let variable = ClusterCoordinatorHost.loopVariable
        var options = ClusterCoordinator.Options()
        #expect(try ClusterCoordinatorHost.runsOnLoop(options, environment: [:]))
        #expect(try ClusterCoordinatorHost.runsOnLoop(options, environment: [variable: " 1"]))
        #expect(try !ClusterCoordinatorHost.runsOnLoop(options, environment: [variable: "0"]))
        let own = ThreadTaskExecutor(name: "own")
        defer { own.shutdown() }
        options.taskExecutor = own
        #expect(try !ClusterCoordinatorHost.runsOnLoop(options, environment: [:]))
        for bad in ["yes", "2", ""] {
            do {
                _ = try ClusterCoordinatorHost.runsOnLoop(ClusterCoordinator.Options(), environment: [variable: bad])
                Issue.record("accepted \(variable)=\(bad)")
            } catch let error as ChatbotTesterError {
                #expect(error.code == .invalidConfig && error.message.contains(variable), "\(error)")
            }
        }
    }

    @Test func oneThreadWorkersRunOnTheHTTPLoop() throws {
        let threads = ClusterWorkerHost.threadsVariable, loop = WorkerCommand.httpLoopVariable
        #expect(try WorkerCommand.runsOnHTTPLoop(threads: nil, environment: [threads: "1"]))
        #expect(try WorkerCommand.runsOnHTTPLoop(threads: 1, environment: [:]))
        #expect(try WorkerCommand.runsOnHTTPLoop(threads: 1, environment: [loop: " 1 "]))
        #expect(try !WorkerCommand.runsOnHTTPLoop(threads: 2, environment: [:]))
        #expect(try !WorkerCommand.runsOnHTTPLoop(threads: nil, environment: [threads: "2"]))
        // A worker started by hand with no thread count runs on Swift's pool.
        #expect(try !WorkerCommand.runsOnHTTPLoop(threads: nil, environment: [:]))
        #expect(try !WorkerCommand.runsOnHTTPLoop(threads: 1, environment: [loop: "0"]))
        for bad in ["yes", "2", ""] {
            do {
                _ = try WorkerCommand.runsOnHTTPLoop(threads: 1, environment: [loop: bad])
                Issue.record("accepted \(loop)=\(bad)")
            } catch let error as ChatbotTesterError {
                #expect(error.code == .invalidConfig && error.message.contains(loop), "\(error)")
            }
        }
    }
}

