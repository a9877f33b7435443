import ChatbotTesterCluster
import ChatbotTesterCore
import Foundation

/// The coordinator alone: a spool of N cases served to in-process workers over in-memory
/// connections. The workers are trivial and cheap (each record is spliced from a template around
/// the sample's bytes, no JSON encoder), so the figures are the coordinator's own: records/s it
/// reads, checks and journals, the merge's records/s, and the process's peak RSS in each phase.
enum CoordinatorBench {
    static func run(samples count: Int, workers: Int, concurrency: Int) async {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ctbench-coord-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            var start = ContinuousClock.now
            let writer = try ClusterSpoolWriter(
                at: directory.appendingPathComponent("spool"), setup: ClusterJobSetup(registry: RegistryConfig(), job: nil),
                // The shard sizes `test --workers` uses.
                samplesPerShard: ClusterSpoolWriter.defaultSamplesPerShard, maxShardBytes: ClusterSpoolWriter.defaultMaxShardBytes)
            for index in 0..<count {
                try writer.add(TestSample(
                    id: "case-\(index)", input: "Customer \(index) asks: where is my order? It has been three weeks.",
                    expected: "apologise and check tracking", tags: ["shipping"]))
            }
            let spool = try writer.finish()
            ClusterBench.print(String(
                format: "coordinator: spooled %d cases into %d shards in %.2f s (peak RSS %.0f MB)", count, spool.manifest.shards.count,
                ClusterBench.seconds(since: start), Memory.peakMB()))

            Memory.resetPeak()
            let listener = MemoryListener()
            let template = try RecordTemplate()
            var tasks: [Task<Void, Never>] = []
            for worker in 0..<workers {
                let (coordinatorSide, workerSide) = MemoryConnection.pair()
                listener.offer(coordinatorSide)
                tasks.append(Task { await fakeWorker(workerSide, id: "w\(worker)", template: template) })
            }
            start = ContinuousClock.now
            let stats = try await ClusterCoordinator.run(
                spool: spool, listener: listener,
                options: ClusterCoordinator.Options(machine: .init(concurrency: concurrency, expectedWorkers: workers), shutdownGrace: 0.2))
            let runSeconds = ClusterBench.seconds(since: start)
            for task in tasks { await task.value }
            let journalBytes = (try? FileManager.default.attributesOfItem(atPath: spool.journalURL.path)[.size] as? Int) ?? 0
            ClusterBench.print(String(
                format: "coordinator: journaled %d records (%.0f MB) in %.2f s: %.0f records/s; peak RSS %.0f MB",
                stats.journaled, Double(journalBytes) / 1e6, runSeconds, Double(stats.journaled) / runSeconds, Memory.peakMB()))

            Memory.resetPeak()
            start = ContinuousClock.now
            let merged = try spool.merge(into: directory.appendingPathComponent("out"))
            let mergeSeconds = ClusterBench.seconds(since: start)
            ClusterBench.print(String(
                format: "coordinator: merged %d records in %.2f s: %.0f records/s; peak RSS %.0f MB",
                merged, mergeSeconds, Double(merged) / mergeSeconds, Memory.peakMB()))
        } catch {
            ClusterBench.print("coordinator bench failed: \(error)")
        }
    }

    /// Says hello, answers every assignment at once with one `records` frame, leaves on shutdown.
    static func fakeWorker(_ connection: MemoryConnection, id: String, template: RecordTemplate) async {
        let codec = ClusterMessageCodec()
        guard let hello = try? codec.encode(.hello(.init(workerId: id, pid: 0))) else { return }
        connection.enqueue([hello])
        while let frame = await connection.receive() {
            guard let members = try? JSONByteScanner.members(ofObject: frame),
                let typeRange = members.first(where: { $0.name == "type" })?.value,
                let type = try? JSONByteScanner.string(frame, at: typeRange)
            else { break }
            switch type {
            case "assign":
                guard let body = members.first(where: { $0.name == "body" })?.value,
                    let records = try? template.records(answering: frame, body: body)
                else { return }
                connection.enqueue([records])
            case "shutdown":
                connection.close(reason: nil)
                return
            default:
                continue
            }
        }
    }
}

/// A `records` frame spliced around the assigned samples' bytes: a realistic record (sample,
/// two-message transcript, one turn, usage, one eval) written by `JSONCoding` once, with
/// placeholders for the id, the index and the sample.
struct RecordTemplate: Sendable {
    /// The record's bytes cut at its placeholders: id, index, id, sample, id, id.
    let pieces: [[UInt8]]
    let order: [Slot]

    enum Slot: Sendable { case id, index, sample }

    init() throws {
        let marker = "\u{1}ID\u{1}"
        let sample = TestSample(id: marker, input: "\u{1}SAMPLE\u{1}")
        let run = RunRecord(
            sample: sample, target: "bot", transcript: [Message(role: .user, content: "question"), Message(role: .assistant, content: "bot says: an answer")],
            turns: [TurnRecord(index: 0, latencyMs: 0.4, usage: Usage(promptTokens: 12, completionTokens: 8))],
            usage: Usage(promptTokens: 12, completionTokens: 8), latencyMs: 0.4, attempts: 1, stopReason: "completed",
            startedAt: Date(timeIntervalSince1970: 1_760_000_000), finishedAt: Date(timeIntervalSince1970: 1_760_000_001))
        let record = ClusterRecord(
            sampleId: marker, index: 987_654_321, run: run,
            evals: [EvalRecord(sampleId: marker, metric: "contains", type: "contains", score: 1, passed: true, threshold: 0.5)])
        var text = String(decoding: try JSONCoding.encoder().encode(record), as: UTF8.self)
        let sampleText = String(decoding: try JSONCoding.encoder().encode(sample), as: UTF8.self)
        text = text.replacingOccurrences(of: sampleText, with: "\u{2}S")
        text = text.replacingOccurrences(of: "\"\(marker.replacingOccurrences(of: "\u{1}", with: "\\u0001"))\"", with: "\u{2}I")
        text = text.replacingOccurrences(of: "987654321", with: "\u{2}N")
        var pieces: [[UInt8]] = [[]]
        var order: [Slot] = []
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first {
            bytes = bytes.dropFirst()
            if first == 0x02, let kind = bytes.first {
                bytes = bytes.dropFirst()
                order.append(kind == UInt8(ascii: "S") ? .sample : kind == UInt8(ascii: "I") ? .id : .index)
                pieces.append([])
            } else {
                pieces[pieces.count - 1].append(first)
            }
        }
        self.pieces = pieces
        self.order = order
    }

    /// The `records` frame answering the `assign` frame `frame` whose body is at `body` (protocol
    /// 6: a binary head per record, `ClusterMessageCodec.encodeRecordsFrame(_:)`).
    func records(answering frame: Data, body: Range<Int>) throws -> Data {
        let samplesRange = try JSONByteScanner.members(ofObject: frame, in: body).first { $0.name == "samples" }!.value
        var units: [Data] = []
        for element in try JSONByteScanner.elements(ofArray: frame, in: samplesRange) {
            let members = try JSONByteScanner.members(ofObject: frame, in: element)
            let index = members.first { $0.name == "index" }!.value
            let sample = members.first { $0.name == "sample" }!.value
            let idRange = try JSONByteScanner.members(ofObject: frame, in: sample).first { $0.name == "id" }!.value
            var out: [UInt8] = []
            out.append(contentsOf: pieces[0])
            for (slot, piece) in zip(order, pieces.dropFirst()) {
                switch slot {
                case .id: out.append(contentsOf: frame[idRange.lowerBound..<idRange.upperBound])
                case .index: out.append(contentsOf: frame[index.lowerBound..<index.upperBound])
                // Protocol 3: the sample stays out (the coordinator puts its bytes back).
                case .sample: out.append(contentsOf: Array("null".utf8))
                }
                out.append(contentsOf: piece)
            }
            var unit = Data()
            ByteCoding.append(UInt32(try JSONByteScanner.int(frame, at: index)), to: &unit)
            ByteCoding.append(UInt32(out.count), to: &unit)
            ByteCoding.append(UInt32(0), to: &unit)
            unit.append(contentsOf: out)
            units.append(unit)
        }
        return ClusterMessageCodec().encodeRecordsFrame(units)
    }
}

/// Peak resident memory of this process (Linux `/proc/self/status`).
enum Memory {
    static func peakMB() -> Double { statusMB("VmHWM") }

    /// Resident memory of this process now (`VmRSS`).
    static func residentMB() -> Double { statusMB("VmRSS") }

    /// A `/proc/self/status` figure in MB (`VmHWM`, `VmRSS`), or -1.
    private static func statusMB(_ field: String) -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "").map { $0 / 1024 } ?? -1
        }
        return -1
    }

    /// Resets the peak to the current RSS (Linux ≥ 4.0).
    static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }
}

/// Items handed from one side to another in order (frames of one direction of a connection, or
/// connections to accept); a waiting taker is woken on put, and gets `nil` once closed and empty.
final class Mailbox<Item: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [Item] = []
    private var head = 0
    private var closed = false
    private var waiter: CheckedContinuation<Item?, Never>?

    func put(_ payloads: [Item]) {
        lock.lock()
        guard !closed else { return lock.unlock() }
        frames.append(contentsOf: payloads)
        let waiter = takeWaiterLocked()
        let next = waiter == nil ? nil : popLocked()
        lock.unlock()
        waiter?.resume(returning: next)
    }

    func take() async -> Item? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
            lock.lock()
            if let next = popLocked() {
                lock.unlock()
                continuation.resume(returning: next)
            } else if closed {
                lock.unlock()
                continuation.resume(returning: nil)
            } else {
                waiter = continuation
                lock.unlock()
            }
        }
    }

    func close() {
        lock.lock()
        closed = true
        let waiter = takeWaiterLocked()
        lock.unlock()
        waiter?.resume(returning: nil)
    }

    private func takeWaiterLocked() -> CheckedContinuation<Item?, Never>? {
        defer { waiter = nil }
        return waiter
    }

    private func popLocked() -> Item? {
        guard head < frames.count else { return nil }
        let next = frames[head]
        head += 1
        if head > 1024 && head * 2 > frames.count {
            frames.removeFirst(head)
            head = 0
        }
        return next
    }
}

/// An in-memory `ClusterConnection`: what one side enqueues, the other receives.
final class MemoryConnection: ClusterConnection, @unchecked Sendable {
    private let inbox: Mailbox<Data>
    private let outbox: Mailbox<Data>
    let peerDescription: String
    private let lock = NSLock()
    private var reason: String?

    private init(inbox: Mailbox<Data>, outbox: Mailbox<Data>, peer: String) {
        self.inbox = inbox
        self.outbox = outbox
        self.peerDescription = peer
    }

    /// (coordinator side, worker side).
    static func pair() -> (MemoryConnection, MemoryConnection) {
        let up = Mailbox<Data>(), down = Mailbox<Data>()
        return (MemoryConnection(inbox: up, outbox: down, peer: "memory worker"), MemoryConnection(inbox: down, outbox: up, peer: "memory coordinator"))
    }

    func receive() async -> Data? { await inbox.take() }
    func enqueue(_ payloads: [Data]) { outbox.put(payloads) }
    func waitUntilWritable() async {}
    func close(reason: String?) {
        lock.withLock { self.reason = reason }
        inbox.close()
        outbox.close()
    }
    var closeReason: String? { lock.withLock { reason } }
}

/// Hands out the offered connections, then waits until closed.
final class MemoryListener: ClusterListener, @unchecked Sendable {
    private let pending = Mailbox<MemoryConnection>()

    func offer(_ connection: MemoryConnection) { pending.put([connection]) }
    func accept() async -> (any ClusterConnection)? { await pending.take() }
    func close() { pending.close() }
}
