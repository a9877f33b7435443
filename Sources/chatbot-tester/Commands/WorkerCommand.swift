import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester worker --connect PATH`: runs shards for a coordinator until it says shutdown.
///
/// Backends and metrics are rebuilt from the config the coordinator sends, with every built-in
/// type; secrets (`{env: NAME}`) are resolved from this process' environment. To add your own
/// types, host a worker from your own executable with `ClusterWorkerHost.run`.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run shards for a coordinator.",
        discussion: "Exit status: 0 after the coordinator's shutdown, 3 when no coordinator could be reached or it was lost.")

    @Option(help: "The coordinator's Unix socket.") var connect: String
    @Option(help: "The name shown in the coordinator's progress (default: host-pid).") var workerId: String?
    @Option(help: "Seconds to keep retrying while the coordinator is not listening yet.") var connectTimeout = 30.0

    func run() async throws {
        try await withExitCodes {
            let exit: ClusterWorker.Exit
            do {
                exit = try await ClusterWorkerHost.run(
                    connect: connect, registry: .builtin(), factory: ClusterProcessors.factory(metrics: .builtinMetrics),
                    options: ClusterWorker.Options(workerId: workerId), connectTimeout: connectTimeout)
            } catch let error as ChatbotTesterError where error.code == .transport {
                // No coordinator (not started, or the run is over): aborted, not a usage error.
                printError("worker: \(error)")
                return ExitStatus.aborted
            }
            if let failure = exit.failure {
                printError("worker stopped: \(failure)")
                return ExitStatus.aborted
            }
            return ExitStatus.ok
        }
    }
}
