import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester status --store URL [--json]`: where each index of an indexed run stands.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show which indexes of an indexed run are done, running or failed.",
        discussion: """
            Reads the attempts' state objects in the store: an index is done when an attempt \
            journaled every case, running while an attempt updates its state (every 15 s, worker \
            --heartbeat), failed when its last attempt stopped, failed, was interrupted or went silent \
            (no update for --lost-after seconds, 60 by default), pending before any attempt. Exit status: 0 every index done, 1 otherwise, 2 no plan at the store.
            """)

    @Option(help: "The store: s3://bucket/prefix, file:///path or a directory.") var store: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Seconds an attempt may go without updating its state before it counts as lost (failed).")
    var lostAfter = IndexedRunStatus.defaultLostAfterSeconds

    func validate() throws {
        if !(lostAfter > 0) { throw ValidationError("--lost-after must be more than 0 seconds") }
    }

    func run() async throws {
        try await withExitCodes {
            let target = try IndexedStore(store)
            let status = try await IndexedRunStatus.read(store: target.store, name: target.name, staleSeconds: lostAfter)
            if json {
                print(String(decoding: try JSONCoding.encoder(pretty: true).encode(status), as: UTF8.self))
            } else {
                print("run \(status.runId): \(status.sampleCount) cases in \(status.shards.count) shards")
                print("index  state     cases  recorded  errors  attempts  detail")
                for shard in status.shards {
                    let row = [
                        String(shard.index).padding(toLength: 7, withPad: " ", startingAt: 0),
                        shard.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                        String(shard.cases).padding(toLength: 7, withPad: " ", startingAt: 0),
                        String(shard.recorded).padding(toLength: 10, withPad: " ", startingAt: 0),
                        String(shard.errors).padding(toLength: 8, withPad: " ", startingAt: 0),
                        String(shard.attempts).padding(toLength: 10, withPad: " ", startingAt: 0),
                        shard.detail ?? "",
                    ]
                    print(row.joined())
                }
                let states: [IndexedRunStatus.State] = [.done, .running, .failed, .pending]
                print(states.map { "\($0.rawValue) \(status.count($0))" }.joined(separator: ", "))
            }
            return status.count(.done) == status.shards.count ? ExitStatus.ok : ExitStatus.failed
        }
    }
}
