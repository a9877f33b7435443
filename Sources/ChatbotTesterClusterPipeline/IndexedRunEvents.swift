import ChatbotTesterCore
import Foundation

extension IndexedRun {
    /// `events/shard-00003/`: each worker attempt's event log (`<attempt>.jsonl`, on S3 a sequence
    /// of part objects as its journal is).
    public static func eventsPrefix(shard: Int) -> String { "events/" + shardName(shard) + "/" }
}

/// Writes every event of one worker attempt as a JSON line (the lines of `events.jsonl`) to a
/// store journal: lines are masked (no secret value reaches the store), buffered and synced at
/// least every `syncSeconds` while events keep coming (on S3 each sync is one part object), and on
/// `finish()`. A failing store never fails the run: the log stops, the run goes on.
actor StoreEventLog: EventSink {
    private let journal: any ArtifactJournal
    private let syncSeconds: Double
    private var lastSync = ContinuousClock.now
    private var unsynced = 0
    private var failed = false
    private let encoder = JSONCoding.encoder()

    init(journal: any ArtifactJournal, syncSeconds: Double) {
        self.journal = journal
        self.syncSeconds = syncSeconds
    }

    func receive(_ envelope: EventEnvelope) async {
        guard !failed else { return }
        var line = SecretMasker.shared.mask(JSONLEventLogSink.line(for: envelope, encoder: encoder))
        if line.last == 0x0A { line.removeLast() }
        do {
            try await journal.append(line)
            unsynced += 1
            if ContinuousClock.now - lastSync >= .seconds(syncSeconds) {
                try await journal.sync()
                unsynced = 0
                lastSync = ContinuousClock.now
            }
        } catch {
            failed = true
        }
    }

    func finish() async {
        try? await journal.close()
    }
}

/// Re-emits every event it receives on another bus (a worker attempt's own bus feeds the
/// command's progress display and event log as well as the store's).
struct ForwardingEventSink: EventSink {
    let target: EventBus

    func receive(_ envelope: EventEnvelope) async {
        target.emit(envelope.event)
    }
}
