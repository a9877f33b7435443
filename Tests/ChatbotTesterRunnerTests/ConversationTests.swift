import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@Suite struct ConversationTests {
    @Test func singlePromptSendsSystemAndInput() async throws {
        let backend = RecordingBackend { _, _ in
            ChatResponse(content: "Paris", finishReason: "stop", usage: Usage(promptTokens: 10, completionTokens: 1), latencyMs: 12, attempts: 2, costUSD: 0.002)
        }
        let runner = Runner(target: backend, targetName: "bot", options: RunnerOptions(systemPrompt: "Be brief.", temperature: 0, maxTokens: 64))
        let record = await runner.play(TestSample(id: "q1", input: "Capital of France?"))
        #expect(backend.requests.map(\.messages) == [[.system("Be brief."), .user("Capital of France?")]])
        #expect(backend.requests[0].temperature == 0 && backend.requests[0].maxTokens == 64)
        #expect(record.status == .ok && record.output == "Paris" && record.stopReason == "completed")
        #expect(record.turns == [TurnRecord(index: 0, latencyMs: 12, usage: Usage(promptTokens: 10, completionTokens: 1), costUSD: 0.002, attempts: 2, finishReason: "stop")])
        #expect(record.attempts == 2 && record.latencyMs == 12 && record.costUSD == 0.002)
        #expect(record.transcript == [.system("Be brief."), .user("Capital of France?"), .assistant("Paris")])
    }

    @Test func scriptedTurnsCarryTheWholeTranscriptAndSession() async throws {
        let backend = RecordingBackend { request, number in
            ChatResponse(content: "reply \(number)", usage: Usage(promptTokens: 5, completionTokens: 2), session: .string("session-\(number)"))
        }
        let sample = TestSample(id: "conv", system: "You are a shop assistant.", turns: ["Hi", "I want a refund", "Thanks"])
        let record = await Runner(target: backend, targetName: "bot", options: RunnerOptions(systemPrompt: "ignored")).play(sample)
        #expect(backend.requests.map(\.messages) == [
            [.system("You are a shop assistant."), .user("Hi")],
            [.system("You are a shop assistant."), .user("Hi"), .assistant("reply 0"), .user("I want a refund")],
            [
                .system("You are a shop assistant."), .user("Hi"), .assistant("reply 0"), .user("I want a refund"),
                .assistant("reply 1"), .user("Thanks"),
            ],
        ])
        #expect(backend.requests.map(\.session) == [nil, .string("session-0"), .string("session-1")])
        #expect(record.turns.map(\.index) == [0, 1, 2])
        #expect(record.usage == Usage(promptTokens: 15, completionTokens: 6))
        #expect(record.output == "reply 2")
        #expect(record.transcript.count == 7)
    }

    @Test func aFailedTurnKeepsThePartialTranscript() async throws {
        let backend = RecordingBackend { _, number in
            if number == 1 { throw ChatbotTesterError(.timeout, "request timed out", retry: .transient) }
            return ChatResponse(content: "first")
        }
        let record = await Runner(target: backend, targetName: "bot").play(TestSample(id: "c", turns: ["one", "two", "three"]))
        #expect(record.status == .error)
        #expect(record.error?.code == "timeout")
        #expect(record.transcript == [.user("one"), .assistant("first"), .user("two")])
        #expect(record.turns.count == 1)
        #expect(backend.requests.count == 2)
    }

    @Test func simulatedUserSeesFlippedRolesAndEndsWithGoalReached() async throws {
        let target = RecordingBackend { request, number in
            ChatResponse(content: "bot \(number)", usage: Usage(promptTokens: 1, completionTokens: 1), session: .int(number))
        }
        let simulator = RecordingBackend { _, number in
            let replies = [
                #"{"message": "Where is my order?", "done": false, "reason": null}"#,
                #"```json\n{"message": "It is #42", "done": false}\n```"#,
                #"{"message": "", "done": true, "reason": "goal_reached"}"#,
            ]
            return ChatResponse(content: replies[number], usage: Usage(promptTokens: 7, completionTokens: 3), costUSD: 0.5)
        }
        let scenario = Scenario(persona: "an impatient customer", goal: "find the order", maxTurns: 5, stopCondition: "the bot gives a date")
        let sample = TestSample(id: "sim", system: "Shop bot.", scenario: scenario)
        let runner = Runner(target: target, targetName: "bot", simulator: simulator)
        let record = await runner.play(sample)

        #expect(record.status == .ok)
        #expect(record.stopReason == "goal_reached")
        let system = SimulatedUserProtocol.systemPrompt(for: scenario)
        #expect(system.contains("an impatient customer") && system.contains("find the order") && system.contains("the bot gives a date"))
        #expect(simulator.requests.map(\.messages) == [
            [.system(system), .user(SimulatedUserProtocol.openingInstruction)],
            [.system(system), .assistant("Where is my order?"), .user("bot 0")],
            [.system(system), .assistant("Where is my order?"), .user("bot 0"), .assistant("It is #42"), .user("bot 1")],
        ])
        #expect(simulator.requests.allSatisfy { $0.responseFormat == SimulatedUserProtocol.responseFormat })
        #expect(target.requests.map(\.messages) == [
            [.system("Shop bot."), .user("Where is my order?")],
            [.system("Shop bot."), .user("Where is my order?"), .assistant("bot 0"), .user("It is #42")],
        ])
        #expect(target.requests.map(\.session) == [nil, .int(0)])
        #expect(record.usage == Usage(promptTokens: 2, completionTokens: 2))
        #expect(record.simulatorUsage == Usage(promptTokens: 21, completionTokens: 9))
        #expect(record.costUSD == 1.5)
        #expect(record.turns.count == 2)
    }

    @Test func simulatedUserPlainTextGiveUpAndOpeningMessage() async throws {
        let target = RecordingBackend { _, _ in ChatResponse(content: "I cannot help with that.") }
        let simulator = RecordingBackend { _, _ in ChatResponse(content: "This is useless. [GAVE_UP]") }
        let scenario = Scenario(persona: "p", goal: "g", openingMessage: "Hello there")
        let record = await Runner(target: target, targetName: "bot", simulator: simulator).play(TestSample(id: "x", scenario: scenario))
        #expect(record.stopReason == "gave_up")
        #expect(target.requests.map(\.messages) == [[.user("Hello there")]])
        #expect(simulator.requests.count == 1)
        #expect(record.transcript == [.user("Hello there"), .assistant("I cannot help with that.")])
    }

    @Test func simulatedConversationStopsAtMaxTurns() async throws {
        let target = RecordingBackend { _, n in ChatResponse(content: "answer \(n)") }
        let simulator = RecordingBackend { _, n in ChatResponse(content: "question \(n)") }
        // The scenario allows 6 turns; the run caps at 3.
        let runner = Runner(target: target, targetName: "bot", options: RunnerOptions(maxTurns: 3), simulator: simulator)
        let record = await runner.play(TestSample(id: "x", scenario: Scenario(persona: "p", goal: "g")))
        #expect(record.stopReason == "max_turns")
        #expect(target.requests.count == 3)
        #expect(simulator.requests.count == 3)
        #expect(record.transcript.filter { $0.role == .user }.map(\.content) == ["question 0", "question 1", "question 2"])
    }

    @Test func openingDoneCountsOnlyWithoutAMessage() async throws {
        let target = RecordingBackend { _, _ in ChatResponse(content: "hello") }
        let withMessage = RecordingBackend { _, _ in ChatResponse(content: #"{"message":"Hi!","done":true,"reason":"goal_reached"}"#) }
        let record = await Runner(target: target, targetName: "bot", simulator: withMessage)
            .play(TestSample(id: "a", scenario: Scenario(persona: "p", goal: "g")))
        #expect(target.requests.map(\.messages) == [[.user("Hi!")]])
        #expect(record.stopReason == "goal_reached" && record.turns.count == 1)

        let silent = RecordingBackend { _, _ in ChatResponse(content: #"{"message":"","done":true,"reason":"gave_up"}"#) }
        let empty = await Runner(target: target, targetName: "bot", simulator: silent)
            .play(TestSample(id: "b", scenario: Scenario(persona: "p", goal: "g")))
        #expect(empty.status == .ok && empty.stopReason == "gave_up" && empty.turns.isEmpty)
        #expect(target.requests.count == 1)
    }

    @Test func scenarioWithoutSimulatorIsARecordedConfigError() async throws {
        let record = await Runner(target: RecordingBackend(), targetName: "bot").play(
            TestSample(id: "x", scenario: Scenario(persona: "p", goal: "g")))
        #expect(record.status == .error)
        #expect(record.error?.code == "invalid_config")
    }

    @Test func simulatorsResolveByScenarioName() async throws {
        let names = Locked<[String?]>([])
        let simulator = RecordingBackend { _, _ in ChatResponse(content: "[DONE]") }
        let runner = Runner(
            target: RecordingBackend(), targetName: "bot", options: RunnerOptions(simulator: "default-sim"),
            simulators: { name in
                names.withLock { $0.append(name) }
                return simulator
            })
        _ = await runner.play(TestSample(id: "a", scenario: Scenario(persona: "p", goal: "g", simulator: "special")))
        _ = await runner.play(TestSample(id: "b", scenario: Scenario(persona: "p", goal: "g")))
        #expect(names.current == ["special", "default-sim"])
    }

    @Test(arguments: [
        (#"{"message":"hi","done":false,"reason":null}"#, SimulatorTurn(message: "hi")),
        (#"Sure: {"message":"bye","done":true,"reason":"gave_up"} ok"#, SimulatorTurn(message: "bye", done: true, reason: "gave_up")),
        (#"{"done":true}"#, SimulatorTurn(message: "", done: true, reason: "goal_reached")),
        ("Thanks, that solves it! [DONE]", SimulatorTurn(message: "Thanks, that solves it!", done: true, reason: "goal_reached")),
        ("plain question?", SimulatorTurn(message: "plain question?")),
        ("{not json} what now", SimulatorTurn(message: "{not json} what now")),
    ])
    func simulatorRepliesAreParsedTolerantly(text: String, expected: SimulatorTurn) {
        #expect(SimulatedUserProtocol.parse(text) == expected)
    }
}
