import ChatbotTesterCore
import Foundation
import Testing

@Suite struct SecretMaskerTests {
    @Test func masksEveryFormAServerMightEcho() {
        let masker = SecretMasker()
        masker.register(#"sk-a/b"c+d e-é"#, name: "BOT_KEY")
        masker.register("short", name: "SHORT")  // under 6 characters: ignored
        #expect(masker.count == 1)
        for form in [#"sk-a/b"c+d e-é"#, #"sk-a/b\"c+d e-é"#, #"sk-a\/b\"c+d e-\u00e9"#, "sk-a%2Fb%22c%2Bd%20e-%C3%A9", "sk-a%2fb%22c%2bd%20e-%c3%a9",
            "sk-a%2Fb%22c%2Bd+e-%C3%A9"]
        {
            #expect(masker.mask("<\(form)>") == "<[secret:BOT_KEY]>", "\(form)")
            #expect(masker.mask(Data("<\(form)>".utf8)) == Data("<[secret:BOT_KEY]>".utf8), "\(form)")
        }
        // Inside a JSON text that quotes a JSON body (escaped twice).
        #expect(masker.mask(#"{"m":"body {\"k\":\"sk-a/b\\\"c+d e-é\"}"}"#) == #"{"m":"body {\"k\":\"[secret:BOT_KEY]\"}"}"#)
        #expect(masker.mask("short and sweet") == "short and sweet")
    }

    @Test func resolverFeedsItsMaskerFromEnvAndFile() throws {
        let masker = SecretMasker()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ct-mask-\(UUID().uuidString)")
        try Data("file-secret-777\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let resolver = SecretResolver(environment: ["K": "env-secret-123"], masker: masker)
        _ = try resolver.resolve(["env": "K"], field: "backends.bot.apiKey")
        _ = try resolver.resolve(["file": .string(file.path)], field: "backends.bot.token")
        #expect(masker.mask("a env-secret-123 b file-secret-777") == "a [secret:K] b [secret:\(file.lastPathComponent)]")
        // Longest first: a secret containing another is masked whole.
        masker.register("env-secret-123-longer", name: "L")
        #expect(masker.mask("env-secret-123-longer") == "[secret:L]")
    }

    @Test func errorsAndRecordsAreMaskedWhereTheyAreMade() {
        SecretMasker.shared.register("shared-secret-4242", name: "SHARED")
        let error = ChatbotTesterError(.httpStatus, "HTTP 401", status: 401, bodyExcerpt: #"{"error":"bad key shared-secret-4242"}"#)
        #expect(!error.description.contains("shared-secret-4242"))
        #expect(error.description.contains("[secret:SHARED]"))
        let record = RunRecord(
            sample: TestSample(id: "a", input: "hi"), target: "bot", transcript: [.user("hi"), .assistant("your key is shared-secret-4242")],
            error: ErrorInfo(code: "x", message: "echo shared-secret-4242")
        ).masked()
        #expect(record.output == "your key is [secret:SHARED]")
        #expect(record.transcript.last?.content == "your key is [secret:SHARED]")
        #expect(record.error?.message == "echo [secret:SHARED]")
    }
}
