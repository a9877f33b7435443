import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester coordinator --socket PATH --spool DIR CONFIG`: serves a job's shards to workers
/// started on their own (`chatbot-tester worker --connect PATH`, docker-compose, systemd), then
/// merges and reports like `test`. Restarted on the same spool, it resumes.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator", abstract: "Coordinate a sharded run over a Unix-domain socket.",
        discussion: """
            The socket is created 0600 inside a 0700 directory (created when missing; refused when \
            others can enter it). Only processes of the same user may connect. Progress shows each \
            worker's throughput and every lost worker or re-queued shard.
            """)

    @OptionGroup var job: JobOptions
    @Option(help: "The Unix socket workers connect to (at most \(UVSocketPath.maxLength) bytes).") var socket: String
    @Option(help: "The spool directory (default: <out>/spool); an existing spool is resumed.") var spool: String?
    @Option(help: "Samples per shard file at most (shards also stay near 1 MiB).") var shardSize = ClusterSpoolWriter.defaultSamplesPerShard
    @Option(help: "Seconds without a heartbeat before a worker counts as lost.") var heartbeatTimeout = 15.0

    func validate() throws {
        if shardSize < 1 { throw ValidationError("--shard-size must be at least 1") }
        if heartbeatTimeout <= 0 { throw ValidationError("--heartbeat-timeout must be positive") }
    }

    func run() async throws {
        try await withExitCodes {
            let (prepared, events) = try await job.start()
            events.bus.subscribe(ClusterEventPrinter())
            let stage = ShardedRunStage(
                workers: 0, socketPath: socket, spool: spool.map { URL(fileURLWithPath: $0) }, samplesPerShard: shardSize,
                heartbeatTimeout: heartbeatTimeout)
            let outcome = try await prepared.closing(events) { try await prepared.test(stage: stage) }
            print(SummaryTable.render(outcome))
            return outcome.exitStatus
        }
    }
}

/// Prints cluster events that matter to an operator on stderr: joins, losses, re-queues and
/// refusals as they happen, and each worker's throughput at most every `interval` seconds.
struct ClusterEventPrinter: EventSink {
    var interval: TimeInterval = 10
    private let lastThroughput = Locked<[String: Date]>([:])

    func receive(_ envelope: EventEnvelope) async {
        guard let event = envelope.event as? ClusterTesterEvent else { return }
        switch event.event {
        case .runFinished: return
        case .progress(let workerId, _, let completed, let total, let workerCompleted):
            guard let rate = event.workerSamplesPerSecond else { return }
            let due = lastThroughput.withLock { last -> Bool in
                if let previous = last[workerId], envelope.time.timeIntervalSince(previous) < interval { return false }
                last[workerId] = envelope.time
                return true
            }
            if due {
                printError("cluster: \(workerId) \(DecimalText.fixed(rate, digits: 1)) samples/s (\(workerCompleted) done by it; \(completed)/\(total) overall)")
            }
        default: printError("cluster: \(event.summary)")
        }
    }
}
