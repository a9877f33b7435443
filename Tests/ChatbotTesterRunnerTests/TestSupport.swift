import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation

/// A scripted chat backend for tests: records every request, counts requests in flight, and
/// answers with `reply` (which may throw or wait).
final class RecordingBackend: ChatBackend, @unchecked Sendable {
    struct Stats {
        var requests: [ChatRequest] = []
        var inFlight = 0
        var maxInFlight = 0
    }

    let stats = Locked(Stats())
    private let reply: @Sendable (ChatRequest, Int) async throws -> ChatResponse

    /// `reply` gets the request and its 0-based arrival number.
    init(_ reply: @escaping @Sendable (ChatRequest, Int) async throws -> ChatResponse = { request, _ in
        ChatResponse(content: "echo: \(request.messages.last?.content ?? "")", usage: Usage(promptTokens: 3, completionTokens: 2))
    }) {
        self.reply = reply
    }

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let number = stats.withLock { s -> Int in
            s.requests.append(request)
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            return s.requests.count - 1
        }
        defer { stats.withLock { $0.inFlight -= 1 } }
        return try await reply(request, number)
    }

    var requests: [ChatRequest] { stats.current.requests }
    var maxInFlight: Int { stats.current.maxInFlight }

    /// Requests of one sample, in order.
    func requests(for sampleId: String) -> [ChatRequest] {
        requests.filter { $0.tags["sampleId"] == sampleId }
    }
}

/// An async sequence of samples that counts how many were read.
struct CountingSamples: AsyncSequence, Sendable {
    typealias Element = TestSample
    let samples: [TestSample]
    let reads = Locked(0)

    func makeAsyncIterator() -> Iterator { Iterator(samples: samples, reads: reads) }

    struct Iterator: AsyncIteratorProtocol {
        let samples: [TestSample]
        let reads: Locked<Int>
        var position = 0
        mutating func next() async -> TestSample? {
            guard position < samples.count else { return nil }
            defer { position += 1 }
            reads.withLock { $0 += 1 }
            return samples[position]
        }
    }
}

/// Waits until `count` parties have arrived (or the deadline passes: then the test fails on its
/// assertions instead of hanging).
actor Barrier {
    private let count: Int
    private var arrived = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { self.count = count }

    func arrive() async {
        arrived += 1
        if arrived >= count {
            for waiter in waiters { waiter.resume() }
            waiters.removeAll()
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func releaseAll() {
        arrived = max(arrived, count)
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    var arrivedCount: Int { arrived }
}

/// Collects every event.
final class EventRecorder: EventSink, @unchecked Sendable {
    let envelopes = Locked<[EventEnvelope]>([])
    func receive(_ envelope: EventEnvelope) async { envelopes.withLock { $0.append(envelope) } }
    var kinds: [String] { envelopes.current.map(\.kind) }
    func events<E: TesterEvent>(_ type: E.Type) -> [E] { envelopes.current.compactMap { $0.event as? E } }
}

func samples(_ count: Int, prefix: String = "s") -> [TestSample] {
    (0..<count).map { TestSample(id: "\(prefix)\($0)", input: "question \($0)") }
}

func temporaryStore() throws -> FileArtifactStore {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runner-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return FileArtifactStore(root: dir)
}

/// Reads the journal's sample ids (in journal order).
func journaledIDs(_ store: any ArtifactStore, key: String = RunJournal.defaultKey) async throws -> [String] {
    var ids: [String] = []
    for try await (_, text) in store.lines(of: key) {
        if let line = JournalLine.parse(text) { ids.append(line.sampleId) }
    }
    return ids
}

/// Reads `results.jsonl` back as records.
func resultRecords(_ store: any ArtifactStore, key: String = "results.jsonl") async throws -> [RunRecord] {
    var records: [RunRecord] = []
    let decoder = JSONCoding.decoder()
    for try await (_, text) in store.lines(of: key) {
        records.append(try decoder.decode(RunRecord.self, from: Data(text.utf8)))
    }
    return records
}
