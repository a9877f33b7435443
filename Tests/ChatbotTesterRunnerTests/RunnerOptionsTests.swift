import ChatbotTesterCore
import ChatbotTesterRunner
import Foundation
import Testing

@Suite struct RunnerOptionsTests {
    private func decode(_ json: String) throws -> RunnerOptions {
        try JSONCoding.decoder().decode(RunnerOptions.self, from: Data(json.utf8))
    }

    @Test func defaults() throws {
        let options = try decode("{}")
        #expect(options.concurrency == 8)
        #expect(options.ordered == false)
        #expect(options.failurePolicy == .never)
        #expect(options.budgetUSD == nil)
        #expect(options.effectiveReorderWindow == 64)
    }

    @Test func fullSection() throws {
        let options = try decode(
            #"""
            {"target":"bot","concurrency":32,"ordered":true,"simulator":"sim","maxTurns":4,"budgetUSD":2.5,
             "failurePolicy":{"maxFailures":10,"maxFailureRate":0.2},"systemPrompt":"Be nice","temperature":0,
             "maxTokens":256,"timeoutSeconds":30,"retries":3}
            """#)
        #expect(options.target == "bot" && options.concurrency == 32 && options.ordered)
        #expect(options.failurePolicy == FailurePolicy(maxFailures: 10, maxFailureRate: 0.2, minSamples: 20))
        #expect(options.timeoutSeconds == 30 && options.retries == 3)
        #expect(options.effectiveReorderWindow == 128)
        let roundTrip = try decode(String(decoding: try JSONCoding.encoder().encode(options), as: UTF8.self))
        #expect(roundTrip == options)
    }

    @Test func failurePolicyNever() throws {
        #expect(try decode(#"{"failurePolicy":"never"}"#).failurePolicy.isNever)
        #expect(String(decoding: try JSONEncoder().encode(FailurePolicy.never), as: UTF8.self) == #""never""#)
    }

    @Test(arguments: [
        (#"{"concurency":4}"#, "concurency"),
        (#"{"concurrency":0}"#, "concurrency"),
        (#"{"budgetUSD":-1}"#, "budgetUSD"),
        (#"{"failurePolicy":"sometimes"}"#, "failurePolicy"),
        (#"{"failurePolicy":{"maxFailureRate":1.5}}"#, "failurePolicy.maxFailureRate"),
        (#"{"failurePolicy":{"maxFails":3}}"#, "failurePolicy.maxFails"),
        (#"{"maxTurns":0}"#, "maxTurns"),
    ])
    func invalidOptionsNameTheField(json: String, field: String) {
        let result = JSONL.decode(RunnerOptions.self, from: Data(json.utf8), source: "job.yaml", line: 1)
        guard case .failure(let error) = result else {
            Issue.record("expected \(json) to fail")
            return
        }
        #expect(error.code == .invalidInput)
        #expect(error.location?.field == field, "\(error)")
    }

    @Test func validateNamesTheSection() {
        #expect(throws: ChatbotTesterError.self) { try RunnerOptions(concurrency: 0).validate() }
        do {
            try RunnerOptions(retries: -1).validate()
        } catch let error as ChatbotTesterError {
            #expect(error.location?.field == "run.retries")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func failurePolicyDecisions() {
        let policy = FailurePolicy(maxFailures: 5, maxFailureRate: 0.5, minSamples: 10)
        #expect(!policy.shouldAbort(failures: 4, finished: 4))
        #expect(policy.shouldAbort(failures: 5, finished: 100))
        #expect(!policy.shouldAbort(failures: 4, finished: 9))
        #expect(policy.shouldAbort(failures: 5, finished: 10))
        #expect(!FailurePolicy.never.shouldAbort(failures: 1000, finished: 1000))
    }
}
