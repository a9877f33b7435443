import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

@Suite struct ProtocolTests {
    let codec = ClusterMessageCodec()

    static let sample = TestSample(id: "q1", input: "Hello?", expected: "Hi")

    static var messages: [ClusterMessage] {
        let record = ClusterRecord(
            sampleId: "q1", index: 0, run: RunRecord(sample: sample, target: "bot", transcript: [Message(role: .user, content: "Hello?")]),
            evals: [EvalRecord(sampleId: "q1", metric: "m", type: "contains", score: 1, passed: true)])
        return [
            .hello(.init(workerId: "w1", pid: 42)),
            .welcome(.init(runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(["bot": ComponentSpec(type: "test-echo", options: ["apiKey": ["env": "KEY"]])]), job: ["target": "bot"]), heartbeatSeconds: 2)),
            .assign(.init(samples: [IndexedSample(index: 0, sample: sample)])),
            .records([record]),
            .heartbeat, .drain, .shutdown,
            .error(ErrorInfo(code: "protocol", message: "bad")),
            .budgetRequest(.init(requestId: 1, backend: "bot", tokens: 5)), .budgetGrant(.init(requestId: 1, backend: "bot")),
        ]
    }

    @Test(arguments: ProtocolTests.messages)
    func roundTrips(_ message: ClusterMessage) throws {
        #expect(try codec.decode(codec.encode(message), peer: "test") == message)
    }

    @Test func welcomeCarriesSecretReferencesNotValues() throws {
        let text = String(decoding: try codec.encode(Self.messages[1]), as: UTF8.self)
        #expect(text.contains(#"{"env":"KEY"}"#))
    }

    @Test(arguments: ["not json", #"{"type":"nope"}"#, #"{"type":"hello"}"#, #"{"type":"hello","body":{},"extra":1}"#, "[1,2]"])
    func malformedPayloadIsAProtocolError(_ text: String) {
        #expect {
            _ = try codec.decode(Data(text.utf8), peer: "pid 7")
        } throws: { error in
            (error as? ChatbotTesterError)?.code == .proto && (error as? ChatbotTesterError)?.location?.source == "pid 7"
        }
    }

    @Test func plannerBalancesBySizeAndCoversEverything() {
        let sizes = [100] + Array(repeating: 10, count: 19)
        let ranges = ShardPlanner.plan(sizes: sizes, maxSamples: 10)
        #expect(ranges.count == 2)
        #expect(ranges.flatMap { Array($0) } == Array(0..<20))
        // The big sample's shard holds fewer samples.
        #expect(ranges[0].count < ranges[1].count)
        for n in [1, 5, 63, 64, 65, 1000] {
            let plan = ShardPlanner.plan(sizes: Array(repeating: 7, count: n), maxSamples: 64, minShards: 4)
            #expect(plan.flatMap { Array($0) } == Array(0..<n))
            #expect(plan.allSatisfy { !$0.isEmpty && $0.count <= 64 })
            #expect(plan.count == min(n, max((n + 63) / 64, 4)))
        }
    }

    @Test func workerStateMachineFollowsTheProtocol() {
        var machine = WorkerStateMachine(hello: .init(workerId: "w", pid: 1))
        #expect(machine.start() == [.send(.hello(.init(workerId: "w", pid: 1)))])
        // An assign before the welcome is out of order.
        var early = machine
        #expect(early.received(.assign(.init(samples: []))).contains { if case .exit(let r) = $0 { r != nil } else { false } })
        let welcome = ClusterMessage.Welcome(runId: "r", setup: ClusterJobSetup(registry: RegistryConfig(), job: nil), heartbeatSeconds: 1)
        #expect(machine.received(.welcome(welcome)) == [.build(welcome)])
        let assignment = ClusterMessage.Assignment(samples: [IndexedSample(index: 0, sample: Self.sample)])
        #expect(machine.received(.assign(assignment)) == [.process(assignment)])
        #expect(machine.heldCount == 1)
        // Drain: no more work is taken; the worker leaves once it has returned what it holds.
        #expect(machine.received(.drain) == [])
        let record = ProtocolTests.messages.compactMap { if case .records(let r) = $0 { r } else { nil } }[0]
        #expect(machine.produced(record) == [.send(.records(record)), .exit(reason: nil)])
        #expect(machine.hasExited)
    }
}
