import Foundation

/// Where each journaled record's `results.jsonl` and `evals.jsonl` lines go, kept by the
/// coordinator while the run plays (protocol 11): per dataset index, the connection of the worker
/// that appended the record's journal line and the sizes of its lines, 12 bytes a sample. At the
/// end, `plan` turns them into each worker's `writeLines` orders — runs of consecutive indexes the
/// same worker journaled, with their offsets in the two files (a prefix sum in dataset order) — so
/// the workers write every line at once and the coordinator copies none.
///
/// A record the coordinator appended itself (a worker that sends its records' bytes) has no
/// worker to write it: it is counted in `unplaced`, and then there is no plan (the merge writes
/// the files from the journal).
public struct ClusterLinePlaces: Sendable, Hashable {
    /// By dataset index: the connection that journaled the record (0: none).
    private var owners: [UInt32] = []
    /// By dataset index: the bytes of its `results.jsonl` line and of its `evals.jsonl` lines.
    private var resultsBytes: [UInt32] = []
    private var evalsBytes: [UInt32] = []
    /// Records placed.
    public private(set) var placed = 0
    /// Records journaled that no worker can write (or placed twice).
    public private(set) var unplaced = 0

    public init() {}

    /// Records that worker connection `worker` journaled the record at `index`, whose `results.jsonl`
    /// line is `resultsBytes` long and whose evaluation lines together `evalsBytes` (newlines
    /// included).
    public mutating func place(index: Int, worker: Int, resultsBytes: Int, evalsBytes: Int) {
        guard index >= 0, worker > 0, worker <= Int(UInt32.max), resultsBytes > 0, resultsBytes <= Int(UInt32.max), evalsBytes >= 0,
            evalsBytes <= Int(UInt32.max)
        else { return unplace() }
        if index >= owners.count {
            let grown = max(index + 1, owners.count * 2, 1024)
            owners.append(contentsOf: repeatElement(0, count: grown - owners.count))
            self.resultsBytes.append(contentsOf: repeatElement(0, count: grown - self.resultsBytes.count))
            self.evalsBytes.append(contentsOf: repeatElement(0, count: grown - self.evalsBytes.count))
        }
        guard owners[index] == 0 else { return unplace() }
        owners[index] = UInt32(worker)
        self.resultsBytes[index] = UInt32(resultsBytes)
        self.evalsBytes[index] = UInt32(evalsBytes)
        placed += 1
    }

    /// Records a journaled record no worker can write.
    public mutating func unplace() {
        unplaced += 1
    }

    /// What the workers are asked to write, and what the files then hold.
    public struct Plan: Sendable, Hashable {
        /// Per worker connection: its orders (one unless it has more than `maxRunsPerOrder` runs).
        public var orders: [Int: [ClusterMessage.WriteLines]]
        /// Per worker connection: what its answers must add up to.
        public var expected: [Int: ClusterMessage.LinesWritten]
        /// The files' sizes.
        public var resultsBytes: Int
        public var evalsBytes: Int
        /// Records placed.
        public var records: Int
    }

    /// The orders for the files at `results` and `evals` (nil: the run is not scored, no
    /// evaluations are written); nil when a journaled record has no worker to write it.
    public func plan(results: String, evals: String?, maxRunsPerOrder: Int = 100_000) -> Plan? {
        guard unplaced == 0 else { return nil }
        var runs: [Int: [ClusterMessage.LineRun]] = [:]
        var expected: [Int: ClusterMessage.LinesWritten] = [:]
        var resultsAt = 0, evalsAt = 0
        var current: (worker: Int, run: ClusterMessage.LineRun)?
        func close() {
            guard let (worker, run) = current else { return }
            runs[worker, default: []].append(run)
            current = nil
        }
        for index in owners.indices {
            let owner = Int(owners[index])
            guard owner != 0 else {
                close()
                continue
            }
            let results = Int(resultsBytes[index]), evals = evals == nil ? 0 : Int(evalsBytes[index])
            if let open = current, open.worker == owner, open.run.first + open.run.count == index {
                current?.run.count += 1
            } else {
                close()
                current = (owner, ClusterMessage.LineRun(first: index, count: 1, resultsOffset: resultsAt, evalsOffset: evalsAt))
            }
            expected[owner, default: ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)].records += 1
            expected[owner]?.resultsBytes += results
            expected[owner]?.evalsBytes += evals
            resultsAt += results
            evalsAt += evals
        }
        close()
        let chunk = max(1, maxRunsPerOrder)
        let orders = runs.mapValues { runs in
            stride(from: 0, to: runs.count, by: chunk).map {
                ClusterMessage.WriteLines(results: results, evals: evals, runs: Array(runs[$0..<min(runs.count, $0 + chunk)]))
            }
        }
        return Plan(orders: orders, expected: expected, resultsBytes: resultsAt, evalsBytes: evalsAt, records: placed)
    }
}
