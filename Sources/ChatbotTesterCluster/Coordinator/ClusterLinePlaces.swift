import Foundation

/// Where each journaled record's `results.jsonl` and `evals.jsonl` lines go, kept by the
/// coordinator while the run plays (protocol 11): per dataset index, the connection of the worker
/// that appended the record's journal line and the sizes of its lines, 12 bytes a sample. `plan`
/// turns them into each worker's `writeLines` orders — runs of consecutive indexes the same worker
/// journaled, with their offsets in the two files (a prefix sum in dataset order) — for the
/// complete ``prefix`` while the run plays and for the rest at its end, so the workers write every
/// line and the coordinator copies none.
///
/// The coordinator also keeps where each record's line is in the journal (12 bytes more a
/// sample): the lines of a worker that has left by the end (lost mid-run) are written by the
/// coordinator itself (`Plan.here`), so the other workers still write theirs and no merge pass
/// runs. A record the coordinator appended itself (a worker that sends its records' bytes) has no
/// worker to write it: it is counted in `unplaced`, and then there is no plan (the merge writes
/// the files from the journal).
public struct ClusterLinePlaces: Sendable, Hashable {
    /// By dataset index: the connection that journaled the record (0: none).
    private var owners: [UInt32] = []
    /// By dataset index: the bytes of its `results.jsonl` line and of its `evals.jsonl` lines.
    private var resultsBytes: [UInt32] = []
    private var evalsBytes: [UInt32] = []
    /// By dataset index: where its line starts in the journal, and its length (newline included;
    /// 0: not known).
    private var lineStarts: [UInt64] = []
    private var lineLengths: [UInt32] = []
    /// The worker connections that placed records.
    public private(set) var workers: Set<Int> = []
    /// Records placed.
    public private(set) var placed = 0
    /// Records journaled that no worker can write (or placed twice).
    public private(set) var unplaced = 0
    /// How many indexes from 0 on are all placed: the records whose lines may be written before
    /// the run ends (their offsets no longer change).
    public private(set) var prefix = 0

    public init() {}

    /// Records that worker connection `worker` journaled the record at `index`, whose `results.jsonl`
    /// line is `resultsBytes` long and whose evaluation lines together `evalsBytes` (newlines
    /// included), its line at `line` in the journal (offsets, newline included; nil: not known,
    /// then only its worker can write it).
    public mutating func place(index: Int, worker: Int, resultsBytes: Int, evalsBytes: Int, line: Range<Int>? = nil) {
        guard index >= 0, worker > 0, worker <= Int(UInt32.max), resultsBytes > 0, resultsBytes <= Int(UInt32.max), evalsBytes >= 0,
            evalsBytes <= Int(UInt32.max)
        else { return unplace() }
        if index >= owners.count {
            let grown = max(index + 1, owners.count * 2, 1024)
            owners.append(contentsOf: repeatElement(0, count: grown - owners.count))
            self.resultsBytes.append(contentsOf: repeatElement(0, count: grown - self.resultsBytes.count))
            self.evalsBytes.append(contentsOf: repeatElement(0, count: grown - self.evalsBytes.count))
            lineStarts.append(contentsOf: repeatElement(0, count: grown - lineStarts.count))
            lineLengths.append(contentsOf: repeatElement(0, count: grown - lineLengths.count))
        }
        guard owners[index] == 0 else { return unplace() }
        owners[index] = UInt32(worker)
        self.resultsBytes[index] = UInt32(resultsBytes)
        self.evalsBytes[index] = UInt32(evalsBytes)
        if let line, line.lowerBound >= 0, line.count > 1, line.count <= Int(UInt32.max) {
            lineStarts[index] = UInt64(line.lowerBound)
            lineLengths[index] = UInt32(line.count)
        }
        workers.insert(worker)
        placed += 1
        while prefix < owners.count, owners[prefix] != 0 { prefix += 1 }
    }

    /// Where the line of the record at `index` is in the journal (newline included); nil when it
    /// is not known.
    public func journalLine(of index: Int) -> Range<UInt64>? {
        guard index >= 0, index < lineLengths.count, lineLengths[index] > 0 else { return nil }
        return lineStarts[index]..<(lineStarts[index] + UInt64(lineLengths[index]))
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
        /// Records the plan writes (its orders' and `here`'s).
        public var records: Int
        /// The runs the coordinator writes itself (the records of workers that left), and where
        /// each of their lines is in the journal, in the same order (`writeHere`).
        public var here: [ClusterMessage.LineRun] = []
        public var hereLines: [Range<UInt64>] = []
        /// What writing `here` must add up to.
        public var hereExpected = ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
    }

    /// Where the lines of the indexes from `index` on start in the two files: the sizes a plan that
    /// ended at `index` gave them (``Plan/resultsBytes``, ``Plan/evalsBytes``). A plan given it
    /// starts its walk at `index` instead of summing the table from 0.
    public struct Start: Sendable, Hashable {
        public var index: Int
        public var resultsOffset: Int
        public var evalsOffset: Int

        public init(index: Int, resultsOffset: Int, evalsOffset: Int) {
            self.index = index
            self.resultsOffset = resultsOffset
            self.evalsOffset = evalsOffset
        }

        /// Where the plan `plan`, which ended at `index`, leaves the files.
        public init(after plan: Plan, index: Int) {
            self.init(index: index, resultsOffset: plan.resultsBytes, evalsOffset: plan.evalsBytes)
        }
    }

    /// The orders for the files at `results` and `evals` (nil: the run is not scored, no
    /// evaluations are written), the records of the worker connections in `writtenHere` (workers
    /// that left) in `Plan.here`; nil when a journaled record has no worker to write it, or one
    /// to be written here has no known line.
    ///
    /// Orders sent earlier in the run covered the indexes below `from` (``prefix`` then): those are
    /// left out, except the records of the connections in `rewrittenHere` (workers that left
    /// before they answered an earlier order), which go to `Plan.here`. `upTo` ends the plan
    /// before the end of the table (an earlier order: ``prefix``); offsets always count from 0.
    /// `start`, where the earlier orders left the files at `from`, spares the walk over the indexes
    /// below it (unless records there are written again here, `rewrittenHere`).
    public func plan(
        results: String, evals: String?, maxRunsPerOrder: Int = 100_000, writtenHere: Set<Int> = [], from: Int = 0, upTo: Int? = nil,
        rewrittenHere: Set<Int> = [], start: Start? = nil
    ) -> Plan? {
        guard unplaced == 0 else { return nil }
        var here: [ClusterMessage.LineRun] = [], hereLines: [Range<UInt64>] = []
        var hereExpected = ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
        var runs: [Int: [ClusterMessage.LineRun]] = [:]
        var expected: [Int: ClusterMessage.LinesWritten] = [:]
        var resultsAt = 0, evalsAt = 0
        var current: (worker: Int, run: ClusterMessage.LineRun)?
        // A run's totals are added to its worker's when it closes (its bytes are where the files
        // stand then, less where it began): one dictionary update a run, not three a record.
        func close() {
            guard let (worker, run) = current else { return }
            runs[worker, default: []].append(run)
            var totals = expected[worker] ?? ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
            totals.records += run.count
            totals.resultsBytes += resultsAt - run.resultsOffset
            totals.evalsBytes += evalsAt - run.evalsOffset
            expected[worker] = totals
            current = nil
        }
        var records = 0
        var first = 0
        if let start, start.index == from, rewrittenHere.isEmpty, from <= owners.count {
            first = from
            resultsAt = start.resultsOffset
            evalsAt = evals == nil ? 0 : start.evalsOffset
        }
        for index in first..<max(first, min(owners.count, upTo ?? owners.count)) {
            let owner = Int(owners[index])
            guard owner != 0 else {
                close()
                continue
            }
            let results = Int(resultsBytes[index]), evals = evals == nil ? 0 : Int(evalsBytes[index])
            if index < from && !rewrittenHere.contains(owner) {
                // Ordered earlier in the run.
                resultsAt += results
                evalsAt += evals
                continue
            }
            records += 1
            if writtenHere.contains(owner) || index < from {
                close()
                guard lineLengths[index] > 0 else { return nil }
                if let last = here.last, last.first + last.count == index {
                    here[here.count - 1].count += 1
                } else {
                    here.append(ClusterMessage.LineRun(first: index, count: 1, resultsOffset: resultsAt, evalsOffset: evalsAt))
                }
                hereLines.append(lineStarts[index]..<(lineStarts[index] + UInt64(lineLengths[index])))
                hereExpected.records += 1
                hereExpected.resultsBytes += results
                hereExpected.evalsBytes += evals
                resultsAt += results
                evalsAt += evals
                continue
            }
            if let open = current, open.worker == owner, open.run.first + open.run.count == index {
                current?.run.count += 1
            } else {
                close()
                current = (owner, ClusterMessage.LineRun(first: index, count: 1, resultsOffset: resultsAt, evalsOffset: evalsAt))
            }
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
        return Plan(
            orders: orders, expected: expected, resultsBytes: resultsAt, evalsBytes: evalsAt, records: records, here: here, hereLines: hereLines,
            hereExpected: hereExpected)
    }
}
