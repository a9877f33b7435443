import ChatbotTesterCore
import Foundation

/// The worker's protocol logic as a pure state machine; `ClusterWorker` is its I/O shell.
///
/// A worker plays at most `slots` of the samples it holds at once (its share of `run.concurrency`,
/// sent with each `assign`), queues the rest, and returns each record as it finishes; on `release`
/// it hands back the samples it has not started.
public struct WorkerStateMachine: Sendable {
    /// What the shell must do.
    public enum Action: Sendable, Hashable {
        case send(ClusterMessage)
        /// Rebuild backends and the shard processor from the welcome.
        case build(ClusterMessage.Welcome)
        /// Play these samples (in addition to any being played).
        case process(ClusterMessage.Assignment)
        /// Start nothing more of what is queued: hand it back (`released(_:)`).
        case release
        /// Send these encoded records as one `records` frame (each a
        /// `ClusterRecord.recordsFrameUnit(omittingSample:)`).
        case sendRecords([Data])
        /// Send this frame as it is (a `journaled` frame: the records' lines are in the journal).
        case sendFrame(Data)
        /// The coordinator granted a budget request.
        case granted(ClusterMessage.BudgetGrant)
        /// The coordinator's circuit breaker answered a report, or opened.
        case breaker(ClusterMessage.BreakerState)
        /// Write these records' lines into the run's outputs, then answer `linesWritten`
        /// (protocol 11).
        case writeLines(ClusterMessage.WriteLines)
        /// Put the reports' pieces together into the reports, then answer `reportsMade`
        /// (protocol 13).
        case makeReports(ClusterMessage.MakeReports)
        /// Leave: `reason` nil for an orderly shutdown, else a protocol failure to report.
        case exit(reason: String?)
    }

    private enum Phase: Sendable, Hashable {
        case initial, awaitingWelcome, ready, exited
    }

    public let hello: ClusterMessage.Hello
    private var phase = Phase.initial
    private var draining = false
    /// Samples given and not yet returned.
    private var held: Set<String> = []

    public init(hello: ClusterMessage.Hello) {
        self.hello = hello
    }

    /// Whether the worker has left.
    public var hasExited: Bool { phase == .exited }
    /// Samples being played.
    public var heldCount: Int { held.count }

    /// Opening actions: say hello.
    public mutating func start() -> [Action] {
        guard phase == .initial else { return [] }
        phase = .awaitingWelcome
        return [.send(.hello(hello))]
    }

    /// A message from the coordinator.
    public mutating func received(_ message: ClusterMessage) -> [Action] {
        switch (phase, message) {
        case (.exited, _):
            return []
        case (_, .heartbeat):
            return []
        case (_, .budgetGrant(let grant)):
            return [.granted(grant)]
        case (_, .breakerState(let breaker)):
            return [.breaker(breaker)]
        case (_, .shutdown):
            phase = .exited
            return [.exit(reason: nil)]
        case (_, .error(let info)):
            phase = .exited
            return [.exit(reason: "coordinator reported \(info.code): \(info.message)")]
        case (.awaitingWelcome, .welcome(let welcome)):
            guard welcome.protocolVersion == clusterProtocolVersion else {
                return fail("coordinator speaks protocol \(welcome.protocolVersion), this worker \(clusterProtocolVersion)")
            }
            phase = .ready
            return [.build(welcome)]
        case (.ready, .assign(let assignment)) where !draining:
            for item in assignment.samples { held.insert(item.sample.id) }
            return [.process(assignment)]
        case (.ready, .release):
            return [.release]
        case (.ready, .writeLines(let order)):
            return [.writeLines(order)]
        case (.ready, .makeReports(let order)):
            return [.makeReports(order)]
        case (.ready, .drain):
            draining = true
            return leaveIfDrained()
        default:
            return fail("unexpected \(message.typeName) in state \(phase)\(draining ? " (draining)" : "")")
        }
    }

    /// The processor finished these samples: send their records as one frame.
    public mutating func produced(_ records: [ClusterRecord]) -> [Action] {
        guard phase == .ready, !records.isEmpty else { return [] }
        for record in records { held.remove(record.sampleId) }
        return [.send(.records(records))] + leaveIfDrained()
    }

    /// The processor finished these samples, their records already encoded
    /// (`ClusterRecord.recordsFrameUnit(omittingSample:)`): send them as one frame.
    public mutating func produced(sampleIds: [String], records: [Data]) -> [Action] {
        guard phase == .ready, !records.isEmpty else { return [] }
        for id in sampleIds { held.remove(id) }
        return [.sendRecords(records)] + leaveIfDrained()
    }

    /// The processor finished these samples and the shell appended their lines to the journal:
    /// send `frame` (`ClusterMessageCodec.encodeJournaledFrame(base:units:)`).
    public mutating func produced(sampleIds: [String], frame: Data) -> [Action] {
        guard phase == .ready, !sampleIds.isEmpty else { return [] }
        for id in sampleIds { held.remove(id) }
        return [.sendFrame(frame)] + leaveIfDrained()
    }

    /// The shell dropped these queued samples after a `release`, or could not read the samples of
    /// an `assignByReference` (`unreadable` says why; they were never held): tell the coordinator.
    public mutating func released(_ sampleIds: [String], unreadable: String? = nil) -> [Action] {
        guard phase == .ready else { return [] }
        for id in sampleIds { held.remove(id) }
        return [.send(.released(.init(sampleIds: sampleIds, unreadable: unreadable)))] + leaveIfDrained()
    }

    private mutating func leaveIfDrained() -> [Action] {
        guard draining, held.isEmpty else { return [] }
        phase = .exited
        return [.exit(reason: nil)]
    }

    /// The processor or the backends failed beyond a per-sample error.
    public mutating func failed(_ error: ChatbotTesterError) -> [Action] {
        guard phase != .exited else { return [] }
        phase = .exited
        return [.send(.error(ErrorInfo(error))), .exit(reason: error.description)]
    }

    private mutating func fail(_ reason: String) -> [Action] {
        phase = .exited
        return [.send(.error(ErrorInfo(code: ChatbotTesterError.Code.proto.rawValue, message: reason))), .exit(reason: reason)]
    }
}
