import ChatbotTesterCore
import Foundation

/// The line phase of a run whose workers write their own `results.jsonl` and `evals.jsonl` lines
/// (protocol 11), as the coordinator sees it: the files, each worker's `writeLines` orders, what
/// its `linesWritten` answers must add up to, and until when to wait. Orders for the complete
/// prefix of the dataset may go out while the run plays (`add`); the last plan (`finish(with:)`)
/// gives the files their final size and starts the wait. The coordinator only forwards it
/// answers, departures and ticks, and acts on the steps it returns; no sockets here, so every
/// way the phase ends is tested on its own.
struct ClusterLinePhase {
    /// What the coordinator does after an answer.
    enum Step: Equatable {
        /// Other answers are awaited.
        case wait
        /// This worker wrote everything it was asked, the last plan included: it may leave. Once
        /// every worker has, the phase is `complete`.
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

    private var pending: [Int: Worker] = [:]
    private var files: [FileHandle]
    /// When the phase's wait started and until when answers are awaited (seconds on the
    /// coordinator's clock); nil until the last plan.
    private(set) var started: Double?
    private(set) var deadline: Double?
    /// The last plan (`finish(with:)`); nil while the run plays.
    private(set) var plan: ClusterLinePlaces.Plan?
    /// Records all the plans write, and how many of them the coordinator writes itself.
    private(set) var records = 0
    private(set) var recordsHere = 0
    /// Plans added while the run played.
    private(set) var earlyPlans = 0

    /// Makes `results` (and `evals`, for a scored run), empty; throws when a file cannot be made.
    init(results: URL, evals: URL?) throws {
        var handles: [FileHandle] = []
        do {
            for url in [results] + (evals.map { [$0] } ?? []) {
                let handle = try FileHandle.opening(url, for: .truncating)
                handles.append(handle)
            }
        } catch {
            for handle in handles { try? handle.close() }
            throw error
        }
        files = handles
    }

    /// The whole phase at the run's end: the files made at the sizes `plan` gives, the wait started.
    init(plan: ClusterLinePlaces.Plan, results: URL, evals: URL?, now: Double) throws {
        try self.init(results: results, evals: evals)
        do {
            try finish(with: plan, now: now)
        } catch {
            for handle in takeFiles() { try? handle.close() }
            throw error
        }
    }

    /// Adds the orders of `plan` (for indexes whose offsets are final) while the run plays.
    mutating func add(_ plan: ClusterLinePlaces.Plan) {
        merge(plan)
        earlyPlans += 1
    }

    /// Adds the last plan: gives the files their final size (what earlier orders wrote stays) and
    /// starts the wait — 30 s plus a second per 20 MB: a worker copies its part at page-cache
    /// speed, so the bound only catches one that hangs.
    mutating func finish(with plan: ClusterLinePlaces.Plan, now: Double) throws {
        merge(plan)
        for (handle, size) in zip(files, [plan.resultsBytes, plan.evalsBytes]) { try handle.truncate(atOffset: UInt64(size)) }
        self.plan = plan
        started = now
        deadline = now + 30 + Double(plan.resultsBytes + plan.evalsBytes) / 20e6
    }

    private mutating func merge(_ plan: ClusterLinePlaces.Plan) {
        for (worker, orders) in plan.orders {
            var entry = pending[worker] ?? Worker(orders: 0, expected: .init(records: 0, resultsBytes: 0, evalsBytes: 0))
            entry.orders += orders.count
            if let expected = plan.expected[worker] {
                entry.expected.records += expected.records
                entry.expected.resultsBytes += expected.resultsBytes
                entry.expected.evalsBytes += expected.evalsBytes
            }
            pending[worker] = entry
        }
        // The coordinator's own part (the lines of workers that left) answers as connection 0.
        if !plan.here.isEmpty {
            var entry = pending[Self.here] ?? Worker(orders: 0, expected: .init(records: 0, resultsBytes: 0, evalsBytes: 0))
            entry.orders += 1
            entry.expected.records += plan.hereExpected.records
            entry.expected.resultsBytes += plan.hereExpected.resultsBytes
            entry.expected.evalsBytes += plan.hereExpected.evalsBytes
            pending[Self.here] = entry
        }
        records += plan.records
        recordsHere += plan.hereExpected.records
    }

    /// The connection id the coordinator's own part answers as (connections count from 1).
    static let here = 0

    /// Whether the last plan is in (the run has ended).
    var isFinal: Bool { plan != nil }

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
        pending.keys.filter { $0 != Self.here }.sorted()
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
        // While the run plays, a worker that answered every order so far goes on playing.
        return isFinal ? .workerDone(id) : .wait
    }

    /// Why the phase gives up when the worker of connection `id` leaves after the run's end (nil:
    /// it had nothing left to write).
    func left(_ id: Int, peer: String) -> String? {
        awaits(id) ? "\(peer) left before it wrote its lines" : nil
    }

    /// A worker that left while the run played: its unanswered orders are no longer awaited (the
    /// last plan has the coordinator write its records again). Whether it had any.
    mutating func forget(_ id: Int) -> Bool {
        pending.removeValue(forKey: id) != nil
    }

    /// Why the phase gives up at `now` (nil: there is still time, or the run still plays).
    func expired(now: Double) -> String? {
        guard let deadline, let started else { return nil }
        return now >= deadline ? "the workers did not write their lines within \(Int(deadline - started)) s" : nil
    }

    /// Hands the files over to be finished (``finish(_:failure:)``); the phase holds none after.
    mutating func takeFiles() -> [FileHandle] {
        defer { files = [] }
        return files
    }

    /// Writes the lines of `plan.here` (the records of workers that left) from the journal at
    /// `journal` into `results` and `evals` (nil: not scored), through handles of its own: each
    /// line's `run` value and its evaluations, found by the byte scanner (the lines were checked
    /// when their frames were read). What it wrote, with why it stopped when it could not write
    /// everything. Blocking: the coordinator runs it on `BlockingIO`'s queue, the one that then
    /// syncs and closes the files (``finish(_:failure:)``), so nothing writes after that.
    static func writeHere(_ plan: ClusterLinePlaces.Plan, journal: URL, results: URL, evals: URL?) -> ClusterMessage.LinesWritten {
        var written = ClusterMessage.LinesWritten(records: 0, resultsBytes: 0, evalsBytes: 0)
        func failed(_ why: String) -> ClusterMessage.LinesWritten {
            var answer = written
            answer.failure = why
            return answer
        }
        let source = open(journal.path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { return failed("cannot open the journal: \(String(cString: strerror(errno)))") }
        defer { close(source) }
        let resultsFile = open(results.path, O_WRONLY | O_CLOEXEC)
        guard resultsFile >= 0 else { return failed("cannot open \(results.lastPathComponent): \(String(cString: strerror(errno)))") }
        defer { close(resultsFile) }
        let evalsFile = evals.map { open($0.path, O_WRONLY | O_CLOEXEC) } ?? -1
        if let evals, evalsFile < 0 { return failed("cannot open \(evals.lastPathComponent): \(String(cString: strerror(errno)))") }
        defer { if evalsFile >= 0 { close(evalsFile) } }
        /// Writes `bytes` at `offset` of `fd` whole; false when it cannot.
        func put(_ bytes: [UInt8], at offset: Int, to fd: Int32) -> Bool {
            PositionalWrite.write(bytes, to: fd, at: offset) == nil
        }
        var next = 0
        var line = [UInt8]()
        for run in plan.here {
            var resultsAt = run.resultsOffset, evalsAt = run.evalsOffset
            var resultsOut: [UInt8] = [], evalsOut: [UInt8] = []
            for _ in 0..<run.count {
                guard next < plan.hereLines.count else { return failed("the plan names fewer lines than records") }
                let place = plan.hereLines[next]
                next += 1
                let length = Int(place.upperBound - place.lowerBound)
                line = [UInt8](repeating: 0, count: length)
                var got = 0
                while got < length {
                    let n = line.withUnsafeMutableBytes { pread(source, $0.baseAddress! + got, length - got, off_t(Int(place.lowerBound) + got)) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return failed("cannot read the journal at \(place.lowerBound)") }
                    got += n
                }
                guard line.last == 0x0A else { return failed("the journal's line at \(place.lowerBound) does not end there") }
                let body = Data(line.dropLast())
                guard let members = try? JSONByteScanner.members(ofObject: body), let runValue = members.first(where: { $0.name == "run" })?.value,
                    let evalsValue = members.first(where: { $0.name == "evals" })?.value,
                    let elements = try? JSONByteScanner.elements(ofArray: body, in: evalsValue)
                else { return failed("the journal's line at \(place.lowerBound) is not a record") }
                resultsOut.append(contentsOf: line[runValue])
                resultsOut.append(0x0A)
                if evalsFile >= 0 {
                    for element in elements {
                        evalsOut.append(contentsOf: line[element])
                        evalsOut.append(0x0A)
                    }
                }
                written.records += 1
                // A long run goes out a few megabytes at a time.
                if resultsOut.count + evalsOut.count >= 4 << 20 {
                    guard put(resultsOut, at: resultsAt, to: resultsFile), evalsFile < 0 || put(evalsOut, at: evalsAt, to: evalsFile) else {
                        return failed("cannot write the lines: \(String(cString: strerror(errno)))")
                    }
                    written.resultsBytes += resultsOut.count
                    written.evalsBytes += evalsOut.count
                    resultsAt += resultsOut.count
                    evalsAt += evalsOut.count
                    resultsOut.removeAll(keepingCapacity: true)
                    evalsOut.removeAll(keepingCapacity: true)
                }
            }
            guard put(resultsOut, at: resultsAt, to: resultsFile), evalsFile < 0 || put(evalsOut, at: evalsAt, to: evalsFile) else {
                return failed("cannot write the lines: \(String(cString: strerror(errno)))")
            }
            written.resultsBytes += resultsOut.count
            written.evalsBytes += evalsOut.count
        }
        return written
    }

    /// Ends the phase's files: with no `failure`, syncs them (at once, each on a thread of its
    /// own: `results.jsonl` and `evals.jsonl` were just written whole, and their write-backs
    /// overlap); closes them. Why the lines are not all written (`failure`, or a sync that
    /// failed), or nil when they are. Blocking: the coordinator runs it on `BlockingIO`'s queue,
    /// off the cooperative pool.
    static func finish(_ files: [FileHandle], failure: String?) -> String? {
        let errors = Locked<[Int: String]>([:])
        if failure == nil {
            BlockingIO.inLanes(files.count, lanes: files.count, label: "chatbot-tester.line-sync") { position in
                do {
                    try files[position].synchronize()
                } catch {
                    errors.withLock { $0[position] = "cannot sync the lines: \(error)" }
                }
            }
        }
        var why = failure ?? errors.current.sorted { $0.key < $1.key }.first?.value
        for handle in files {
            do {
                try handle.close()
            } catch {
                if why == nil { why = "cannot sync the lines: \(error)" }
            }
        }
        return why
    }
}
