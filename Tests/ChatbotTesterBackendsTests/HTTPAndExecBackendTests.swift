import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

@Suite("http and exec backends")
struct HTTPAndExecBackendTests {
    @Test("http carries the session id between turns, per conversation")
    func sessions() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "http",
                [
                    "url": .string(server.baseURL + "/chatbot?sample={{sampleId}}"),
                    "headers": ["X-Conversation": "{{sampleId}}", "Authorization": "Bearer {{apiKey}}"],
                    "apiKey": ["env": "TEST_API_KEY"],
                    "body": ["message": "{{input}}", "session": "{{session}}", "history": "{{messages}}", "note": "sample {{sampleId}}"],
                    "replyPath": "$.data.reply", "sessionPath": "data.session",
                ])
            // Two conversations interleaved on one shared backend.
            var a = ChatRequest(messages: [.user("hello a")], tags: ["sampleId": "a 1"])
            var b = ChatRequest(messages: [.user("hello b")], tags: ["sampleId": "b"])
            let a1 = try await bot.send(a)
            let b1 = try await bot.send(b)
            #expect(a1.content == "Echo: hello a (turn 1)")
            #expect(a1.session != nil && a1.session != b1.session)
            a.messages += [.assistant(a1.content), .user("again a")]
            a.session = a1.session
            b.messages += [.assistant(b1.content), .user("again b")]
            b.session = b1.session
            let a2 = try await bot.send(a)
            let b2 = try await bot.send(b)
            #expect(a2.content == "Echo: again a (turn 2)")
            #expect(b2.content == "Echo: again b (turn 2)")
            #expect(a2.session == a1.session)

            let requests = server.recordedRequests()
            #expect(requests.count == 4)
            let first = try #require(requests[0].json)
            #expect(first["session"] == .null)
            #expect(first["note"] == "sample a 1")
            #expect(first["history"] == [["role": "user", "content": "hello a"]])
            let third = try #require(requests[2].json)
            #expect(third["session"] == a1.session)
            #expect(third["history"]?.arrayValue?.count == 3)
            #expect(requests[0].query == "sample=a%201")
            #expect(requests[0].headers["x-conversation"] == "a 1")
            #expect(requests[0].headers["authorization"] == "Bearer \(fakeKey)")
        }
    }

    @Test("http carries a session kept in a response header")
    func headerSession() async throws {
        try await withMockLLMServer { server in
            let bot = try await makeChat(
                "http",
                [
                    "url": .string(server.baseURL + "/chatbot"), "body": ["message": "{{input}}"],
                    "headers": ["X-Session-Id": "{{session}}"], "replyPath": "data.reply", "sessionHeader": "X-Session-Id",
                ])
            let first = try await bot.send(ChatRequest(messages: [.user("one")]))
            #expect(first.session == "sess-1")
            let second = try await bot.send(ChatRequest(messages: [.user("two")], session: first.session))
            #expect(second.content == "Echo: two (turn 2)")
            #expect(server.recordedRequests().last?.headers["x-session-id"] == "sess-1")
        }
    }

    @Test("http rejects unknown placeholders and bad JSON paths, naming the field")
    func httpConfigErrors() async throws {
        let unknown = await backendError {
            _ = try await makeChat("http", ["url": "http://127.0.0.1:1/x", "replyPath": "$.a", "body": ["m": "{{inptu}}"]])
        }
        #expect(unknown?.location?.field == "backends.bot.body")
        #expect(unknown?.message.contains("{{inptu}}") == true)
        let path = await backendError { _ = try await makeChat("http", ["url": "http://127.0.0.1:1/x", "replyPath": "$.a[x"]) }
        #expect(path?.location?.field == "backends.bot.replyPath")
    }

    @Test("exec: reply, session, usage from a program; log lines before the reply are skipped")
    func execReply() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bot = try await makeChat("exec", ["command": [.string(try writeScript(echoProgram, in: directory))]])
        let first = try await bot.send(ChatRequest(messages: [.user("hi there")]))
        #expect(first.content == "exec says: hi there")
        #expect(first.session == "exec-1")
        #expect(first.usage == Usage(promptTokens: 3, completionTokens: 4))
        let second = try await bot.send(ChatRequest(messages: [.user("more")], session: first.session))
        #expect(second.session == "exec-1+")
    }

    @Test("exec: a non-zero exit is an error carrying stderr")
    func execExit() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bot = try await makeChat("exec", ["command": [.string(try writeScript(echoProgram, in: directory))]])
        let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("please crash")])) }
        #expect(error?.message.contains("exited with status 3") == true)
        #expect(error?.bodyExcerpt?.contains("boom: the bot crashed on purpose") == true)
        #expect(error?.retry == .no)
        #expect(error?.location?.field == "backends.bot")
        let garbage = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("garbage")])) }
        #expect(garbage?.code == .badResponse)
    }

    @Test("exec: a program that exits without reading its input is an error, not a SIGPIPE death")
    func execIgnoresItsInput() async throws {
        let bot = try await makeChat("exec", ["command": ["sh", "-c", "exit 1"]])
        // A request far larger than a pipe buffer, so the write hits the closed pipe.
        let big = String(repeating: "x", count: 1 << 20)
        for _ in 0..<5 {
            let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user(big)])) }
            #expect(error?.message.contains("exited with status 1") == true)
        }
    }

    @Test("exec: a program that does not answer in time is killed")
    func execTimeout() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bot = try await makeChat(
            "exec", ["command": [.string(try writeScript(echoProgram, in: directory))], "processTimeoutSeconds": 0.5])
        let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("be slow")])) }
        #expect(error?.code == .timeout)
        #expect(error?.retry == .transient)
    }

    @Test("exec: a missing program fails clearly")
    func execMissing() async throws {
        let bot = try await makeChat("exec", ["command": "/nonexistent/bot --flag"])
        let error = await backendError { _ = try await bot.send(ChatRequest(messages: [.user("hi")])) }
        #expect(error != nil)
        #expect(error?.retry == .no)
    }

    @Test("JSON paths")
    func jsonPaths() throws {
        let value: JSONValue = ["data": ["reply": "hi", "list": [1, ["x": "deep"]]], "odd key": ["a.b": 3]]
        #expect(try JSONPath("$.data.reply").evaluate(value) == "hi")
        #expect(try JSONPath("data.list[1].x").evaluate(value) == "deep")
        #expect(try JSONPath("data.list[-2]").evaluate(value) == 1)
        #expect(try JSONPath("$['odd key'][\"a.b\"]").evaluate(value) == 3)
        #expect(try JSONPath("$").evaluate(value) == value)
        #expect(try JSONPath("data.nope").evaluate(value) == nil)
        #expect(try JSONPath("data.list[5]").evaluate(value) == nil)
        #expect(throws: JSONPathError.self) { try JSONPath("data..x") }
        #expect(throws: JSONPathError.self) { try JSONPath("data[x]") }
        #expect(throws: JSONPathError.self) { try JSONPath("data[0") }
    }
}
