import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

/// The Runner against the mock LLM server over real HTTP on loopback, counted at the server.
@Suite struct MockServerRunnerTests {
    /// An `openai` backend pointed at the server, with `model` naming its role.
    private func openAI(_ server: MockLLMServer, model: String) async throws -> any ChatBackend {
        let spec = ComponentSpec(type: "openai", options: ["baseURL": .string(server.openAIBaseURL), "model": .string(model)])
        let built = try await BuiltinBackends.registry().make(spec, context: ComponentContext(instanceName: model))
        return try #require(built as? any ChatBackend)
    }

    /// The `messages` of recorded chat requests for `model`, in arrival order.
    private func messages(_ server: MockLLMServer, model: String) -> [[Message]] {
        server.recordedRequests().compactMap { request -> [Message]? in
            guard request.path.hasSuffix("/chat/completions"), let json = request.json, json["model"]?.stringValue == model
            else { return nil }
            return (json["messages"]?.arrayValue ?? []).map { message in
                Message(
                    role: MessageRole(rawValue: message["role"]?.stringValue ?? "") ?? .tool,
                    content: message["content"]?.stringValue ?? "")
            }
        }
    }

    @Test func concurrencyIsBoundedAtTheServer() async throws {
        try await withMockLLMServer(.init(latencyMs: 20)) { server in
            let target = try await openAI(server, model: "bot")
            let runner = Runner(target: target, targetName: "bot", options: RunnerOptions(concurrency: 6))
            let summary = try await runner.run(SyntheticSamples(count: 150)).finish()
            let stats = server.stats
            #expect(summary.ok == 150)
            #expect(stats.requests == 150)
            #expect(stats.maxInFlight <= 6)
            #expect(stats.maxInFlight >= 2)
        }
    }

    @Test func scriptedTranscriptsArriveAtTheServer() async throws {
        try await withMockLLMServer { server in
            let runner = Runner(
                target: try await openAI(server, model: "bot"), targetName: "bot",
                options: RunnerOptions(systemPrompt: "You are a travel agent."))
            let record = await runner.play(TestSample(id: "trip", turns: ["Book Paris", "For two", "Thanks"]))
            #expect(record.status == .ok)
            let system = Message.system("You are a travel agent.")
            #expect(messages(server, model: "bot") == [
                [system, .user("Book Paris")],
                [system, .user("Book Paris"), .assistant("Echo: Book Paris"), .user("For two")],
                [
                    system, .user("Book Paris"), .assistant("Echo: Book Paris"), .user("For two"), .assistant("Echo: For two"),
                    .user("Thanks"),
                ],
            ])
            #expect(record.output == "Echo: Thanks")
            #expect(record.turns.count == 3 && record.usage.promptTokens > 0 && record.usage.completionTokens > 0)
            #expect(record.turns.allSatisfy { $0.finishReason == "stop" })
        }
    }

    @Test func simulatedTranscriptsArriveAtTheServerWithRolesFlipped() async throws {
        try await withMockLLMServer { server in
            let target = try await openAI(server, model: "bot")
            let simulator = try await openAI(server, model: "sim")
            // The opening message makes the bot answer with a directive, which makes the simulator
            // answer the scripted JSON turn; after that the simulator's schema-shaped default
            // answer is `done: true, reason: goal_reached`.
            let scripted = #"{"message":"And the price?","done":false,"reason":null}"#
            let opening = "MOCK_REPLY: MOCK_REPLY: \(scripted)"
            let scenario = Scenario(persona: "a budget traveller", goal: "learn the price", openingMessage: opening)
            let runner = Runner(target: target, targetName: "bot", simulator: simulator)
            let record = await runner.play(TestSample(id: "sim", system: "Travel bot.", scenario: scenario))

            #expect(record.status == .ok)
            #expect(record.stopReason == "goal_reached")
            let botReply1 = "MOCK_REPLY: \(scripted)"
            let botReply2 = "Echo: And the price?"
            #expect(messages(server, model: "bot") == [
                [.system("Travel bot."), .user(opening)],
                [.system("Travel bot."), .user(opening), .assistant(botReply1), .user("And the price?")],
            ])
            let system = Message.system(SimulatedUserProtocol.systemPrompt(for: scenario))
            #expect(messages(server, model: "sim") == [
                [system, .assistant(opening), .user(botReply1)],
                [system, .assistant(opening), .user(botReply1), .assistant("And the price?"), .user(botReply2)],
            ])
            let simulatorRequests = server.recordedRequests().filter { $0.json?["model"]?.stringValue == "sim" }
            #expect(simulatorRequests.allSatisfy { $0.json?["response_format"]?["type"]?.stringValue == "json_schema" })
            #expect(record.simulatorUsage.map { $0.totalTokens > 0 } == true)
        }
    }

    @Test func simulatorOpeningWithoutScriptStillTalks() async throws {
        try await withMockLLMServer { server in
            // The mock's schema-shaped default answer is `done: true` with a message: on the
            // opening turn the message is used; after the bot's reply the conversation ends.
            let runner = Runner(
                target: try await openAI(server, model: "bot"), targetName: "bot", simulator: try await openAI(server, model: "sim"))
            let record = await runner.play(TestSample(id: "s", scenario: Scenario(persona: "p", goal: "g")))
            #expect(record.status == .ok)
            #expect(record.stopReason == "goal_reached")
            #expect(record.turns.count == 1)
            #expect(messages(server, model: "sim").count == 2)
            #expect(messages(server, model: "bot").count == 1)
        }
    }

    @Test func serverFailuresAreRecordedAndTheRunCompletes() async throws {
        try await withMockLLMServer { server in
            let input = (0..<20).map { i in
                TestSample(id: "f\(i)", input: i % 5 == 0 ? "MOCK_FAULT: 500" : "question \(i)")
            }
            let runner = Runner(target: try await openAI(server, model: "bot"), targetName: "bot", options: RunnerOptions(concurrency: 4))
            var records: [RunRecord] = []
            let summary = try await runner.runAll(SampleSequence(input)) { records.append($0) }
            #expect(summary.stopReason == .completed)
            #expect(records.count == 20)
            let failed = records.filter { $0.status == .error }
            #expect(failed.map(\.sampleId).sorted() == ["f0", "f10", "f15", "f5"])
            #expect(failed.allSatisfy { $0.error?.status == 500 })
            #expect(server.stats.requests == 20)
            #expect(server.stats.faults == 4)
        }
    }

    @Test func resumeAgainstTheServerSendsEachRemainingSampleOnce() async throws {
        try await withMockLLMServer(.init(latencyMs: 2)) { server in
            let store = try temporaryStore()
            let input = samples(60)
            let target = try await openAI(server, model: "bot")
            let first = Runner(target: target, targetName: "bot", options: RunnerOptions(concurrency: 4), journal: RunJournal(store: store))
            let execution = first.run(SampleSequence(input))
            var seen = 0
            for try await _ in execution {
                seen += 1
                if seen == 20 { break }
            }
            let interrupted = await execution.summary
            let journaled = interrupted.statistics.recorded
            let sentBefore = server.stats.requests

            // The resumed run talks to a server of its own: a request the first run abandoned
            // mid-flight may still reach the first server after that run ended, and must not be
            // counted as the second run's.
            let summary = try await withMockLLMServer(.init(latencyMs: 2)) { resumed in
                let second = Runner(
                    target: try await openAI(resumed, model: "bot"), targetName: "bot", options: RunnerOptions(concurrency: 4),
                    journal: RunJournal(store: store))
                let summary = try await second.run(SampleSequence(input), resume: true).finish()
                #expect(resumed.stats.requests == 60 - journaled)
                return summary
            }
            #expect(summary.ok == 60)
            #expect(sentBefore >= journaled)
            try await ResultsWriter.write(store: store)
            #expect(try await resultRecords(store).map(\.sampleId) == input.map(\.id))
        }
    }
}
