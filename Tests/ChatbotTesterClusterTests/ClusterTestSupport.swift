import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import ClusterTestProcessors
import Foundation
import Testing

@testable import cluster_test_host

/// Shared helpers for the socket-level cluster tests.
enum ClusterTestSupport {
    /// The `cluster-test-host` executable built beside the test bundle.
    static var hostPath: String { BuiltExecutable.path("cluster-test-host") }

    /// A fresh private (0700) directory with a short path (socket paths must fit sun_path).
    static func temporaryDirectory() throws -> URL {
        var template = Array("/tmp/ctc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ChatbotTesterError(.io, "mkdtemp failed") }
        return URL(fileURLWithPath: String(cString: made))
    }

    static func samples(_ count: Int) -> [TestSample] {
        (0..<count).map { index in
            TestSample(id: "case-\(index)", input: "question \(index) about refunds" + String(repeating: " and more", count: index % 7), expected: index % 3 == 0 ? "refunds" : "nothing")
        }
    }

    static func setup(delayMs: Int = 0, concurrency: Int = 4, requestsPerMinute: Int? = nil, reportsThread: Bool = false) -> ClusterJobSetup {
        var options: [String: JSONValue] = ["delayMs": .int(delayMs), "prefix": "bot says: "]
        if reportsThread { options["reportsThread"] = true }
        if let requestsPerMinute { options["rateLimit"] = ["requestsPerMinute": .int(requestsPerMinute), "burstSeconds": 60] }
        return ClusterJobSetup(
            registry: RegistryConfig(["bot": ComponentSpec(type: "test-echo", options: options)]),
            job: ["processor": "chat", "target": "bot", "concurrency": .int(concurrency)])
    }

    /// The same job run in this process, without any cluster: the reference output.
    static func singleProcess(_ samples: [TestSample], setup: ClusterJobSetup) async throws -> [ClusterRecord] {
        var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
        TestEchoBackend.register(in: &registry)
        let processor = try await ChatShardProcessor.factory(setup, registry, ClusterWorkerContext())
        let collected = Locked<[ClusterRecord]>([])
        try await processor.process(samples.enumerated().map { IndexedSample(index: $0.offset, sample: $0.element) }) { record in
            collected.withLock { $0.append(record) }
        }
        return collected.current.sorted { $0.index < $1.index }
    }

    /// Records as the bytes written to results files, for exact comparison.
    static func encoded(_ records: [ClusterRecord]) throws -> [String] {
        let encoder = JSONCoding.encoder()
        return try records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
    }

    /// Sample ids of every journal line (duplicates kept), skipping a torn last line.
    static func journalIds(_ spool: URL) throws -> [String] {
        let url = spool.appendingPathComponent("journal.jsonl")
        guard let data = try? Data(contentsOf: url) else { return [] }
        var splitter = JSONL.LineSplitter()
        let decoder = JSONCoding.decoder()
        return try splitter.feed(data).map { try decoder.decode(ClusterRecord.self, from: $0.bytes).sampleId }
    }

    static func options(workers: Int, spool: URL, output: URL? = nil) -> ClusterRun.Options {
        ClusterRun.Options(
            workers: workers, spool: spool, output: output,
            workerCommand: .init(executable: hostPath, arguments: ["worker"]), samplesPerShard: 8,
            coordinator: .init(machine: .init(heartbeatInterval: 1, heartbeatTimeout: 30, helloTimeout: 30)))
    }
}

/// Collects events for assertions, and runs a hook on each.
final class RecordingClusterSink: EventSink, @unchecked Sendable {
    let events = Locked<[ClusterEvent]>([])
    let hook: @Sendable (ClusterEvent) -> Void

    init(hook: @escaping @Sendable (ClusterEvent) -> Void = { _ in }) {
        self.hook = hook
    }

    func receive(_ envelope: EventEnvelope) async {
        guard let event = envelope.event as? ClusterTesterEvent else { return }
        events.withLock { $0.append(event.event) }
        hook(event.event)
    }
}
