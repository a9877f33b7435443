import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

@Suite("One backend instance, many concurrent conversations")
struct ConcurrentConversationTests {
    @Test("http: each of 24 concurrent conversations keeps its own session over 3 turns")
    func httpSessions() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "http", ["url": .string(server.baseURL + "/chatbot"), "replyPath": "$.data.reply", "sessionPath": "$.data.session"])
            let sessions = try await withThrowingTaskGroup(of: JSONValue?.self) { group in
                for conversation in 0..<24 {
                    group.addTask {
                        var request = ChatRequest(messages: [], tags: ["sampleId": "c\(conversation)"])
                        var session: JSONValue?
                        for turn in 1...3 {
                            request.messages.append(.user("c\(conversation) t\(turn)"))
                            request.session = session
                            let reply = try await bot.send(request)
                            #expect(reply.content == "Echo: c\(conversation) t\(turn) (turn \(turn))")
                            if turn > 1 { #expect(reply.session == session) }
                            session = reply.session
                            request.messages.append(.assistant(reply.content))
                        }
                        return session
                    }
                }
                var all: [JSONValue?] = []
                for try await session in group { all.append(session) }
                return all
            }
            #expect(Set(sessions.compactMap { $0 }).count == 24)
            #expect(server.stats.requests == 72)
        }
    }

    @Test("exec: concurrent calls each run their own process")
    func execConcurrent() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bot = try await makeChat("exec", ["command": [.string(try writeScript(echoProgram, in: directory))]])
        let replies = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 {
                group.addTask { try await bot.send(ChatRequest(messages: [.user("call \(index)")])).content }
            }
            var all: [String] = []
            for try await reply in group { all.append(reply) }
            return all
        }
        #expect(Set(replies) == Set((0..<8).map { "exec says: call \($0)" }))
    }

    @Test("http: GET sends no body and URL-encodes placeholders")
    func httpGet() async throws {
        // The mock answers GET /chatbot with 405 → shows method and URL templating reach the server.
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "http", ["url": .string(server.baseURL + "/chatbot?q={{input}}"), "method": "get", "replyPath": "$.data.reply"])
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("a&b c")])) }
            #expect(error?.status == 405)
            let recorded = try #require(server.recordedRequests().last)
            #expect(recorded.method == "GET")
            #expect(recorded.query == "q=a%26b%20c")
            #expect(recorded.body.isEmpty)
        }
    }
}
