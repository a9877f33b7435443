import Foundation

/// The end of a run whose workers write their own `results.jsonl` and `evals.jsonl` lines
/// (protocol 11), as the coordinator sees it: the files made at their final size, each worker's
/// `writeLines` orders, what its `linesWritten` answers must add up to, and until when to wait.
/// The coordinator only forwards it answers, departures and ticks, and acts on the steps it
/// returns; no sockets here, so every way the phase ends is tested on its own.
struct ClusterLinePhase {
    /// What the coordinator does after an answer.
    enum Step: Equatable {
        /// Other answers are awaited.
        case wait
        /// This worker wrote everything it was asked: it may leave. Once every worker has, the phase
        /// is `complete`.
        case workerDone(Int)
        /// Why the phase gives up (the merge writes the files instead).
        case fail(String)
    }

    private struct Worker {
        var orders: Int
        var expected: ClusterMessage.LinesWritten
        var answered = 0
        var got = ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
    }

    private var pending: [Int: Worker]
    private var files: [FileHandle]
    /// When the phase started and until when answers are awaited (seconds on the coordinator's clock).
    let started: Double
    let deadline: Double
    /// What the workers were asked to write.
    let plan: ClusterLinePlaces.Plan

    /// Makes `results` (and `evals`, for a scored run) at the sizes `plan` gives; throws when a file
    /// cannot be made. Answers are awaited for 30 s plus a second per 20 MB: a worker copies its
    /// part at page-cache speed, so the bound only catches one that hangs.
    init(plan: ClusterLinePlaces.Plan, results: URL, evals: URL?, now: Double) throws {
        var handles: [FileHandle] = []
        do {
            for (url, size) in [(results, plan.resultsBytes)] + (evals.map { [($0, plan.evalsBytes)] } ?? []) {
                let handle = try FileHandle.opening(url, for: .truncating)
                handles.append(handle)
                try handle.truncate(atOffset: UInt64(size))
            }
        } catch {
            for handle in handles { try? handle.close() }
            throw error
        }
        files = handles
        self.plan = plan
        started = now
        deadline = now + 30 + Double(plan.resultsBytes + plan.evalsBytes) / 20e6
        pending = plan.orders.mapValues { Worker(orders: $0.count, expected: .init(records: 0, resultsBytes: 0, evalsBytes: 0)) }
        for (worker, expected) in plan.expected { pending[worker]?.expected = expected }
    }

    /// Each worker's orders, by connection, in connection order.
    var orders: [(worker: Int, orders: [ClusterMessage.WriteLines])] {
        plan.orders.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Whether the worker of connection `id` has yet to answer every order.
    func awaits(_ id: Int) -> Bool {
        pending[id] != nil
    }

    /// Whether every worker has written everything it was asked.
    var complete: Bool {
        pending.isEmpty
    }

    /// The workers that have not answered every order.
    var stillWriting: [Int] {
        pending.keys.sorted()
    }

    /// An answer from the worker of connection `id` (called `peer` in messages); the caller makes
    /// sure the worker is awaited (`awaits`).
    mutating func answered(_ answer: ClusterMessage.LinesWritten, from id: Int, peer: String) -> Step {
        guard var worker = pending[id] else { return .wait }
        if let why = answer.failure { return .fail("\(peer) could not write its lines: \(why.prefix(2000))") }
        worker.answered += 1
        worker.got.records += answer.records
        worker.got.resultsBytes += answer.resultsBytes
        worker.got.evalsBytes += answer.evalsBytes
        guard worker.answered == worker.orders else {
            pending[id] = worker
            return .wait
        }
        guard worker.got == worker.expected else {
            let got = worker.got, expected = worker.expected
            return .fail(
                "\(peer) wrote \(got.records) records (\(got.resultsBytes) + \(got.evalsBytes) bytes), not \(expected.records) (\(expected.resultsBytes) + \(expected.evalsBytes))")
        }
        pending[id] = nil
        return .workerDone(id)
    }

    /// Why the phase gives up when the worker of connection `id` leaves (nil: it had nothing left to write).
    func left(_ id: Int, peer: String) -> String? {
        awaits(id) ? "\(peer) left before it wrote its lines" : nil
    }

    /// Why the phase gives up at `now` (nil: there is still time).
    func expired(now: Double) -> String? {
        now >= deadline ? "the workers did not write their lines within \(Int(deadline - started)) s" : nil
    }

    /// Hands the files over to be finished (``finish(_:failure:)``); the phase holds none after.
    mutating func takeFiles() -> [FileHandle] {
        defer { files = [] }
        return files
    }

    /// Ends the phase's files: with no `failure`, syncs them; closes them. Why the lines are not
    /// all written (`failure`, or a sync that failed), or nil when they are. Blocking: the
    /// coordinator runs it on `BlockingIO`'s queue, off the cooperative pool.
    static func finish(_ files: [FileHandle], failure: String?) -> String? {
        var why = failure
        for handle in files {
            do {
                if why == nil { try handle.synchronize() }
                try handle.close()
            } catch {
                if why == nil { why = "cannot sync the lines: \(error)" }
            }
        }
        return why
    }
}
