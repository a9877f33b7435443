import ChatbotTester
import Foundation
import Testing

/// The config side of the secrets contract: literal credentials refused with file:line, `${VAR}`
/// kept as written for job.json and workers while validation and the run see the value.
@Suite struct SecretsConfigTests {
    static func load(_ backend: String, environment: [String: String] = [:]) throws -> JobConfig {
        let yaml = """
            backends:
              bot:
            \(backend.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            dataset: cases.jsonl
            """
        return try JobConfig(document: ConfigDocument.parse(yaml, source: "job.yaml", environment: environment))
    }

    static func refusal(_ backend: String, environment: [String: String] = [:]) -> ChatbotTesterError? {
        do {
            _ = try load(backend, environment: environment)
            return nil
        } catch {
            return error as? ChatbotTesterError
        }
    }

    @Test(arguments: [
        ("type: http\nurl: http://h/x\nreplyPath: $.r\nheaders:\n  Authorization: Bearer sk-literal-1234", "backends.bot.headers.Authorization", 7),
        ("type: http\nurl: http://h/x\nreplyPath: $.r\nheaders: {Cookie: \"session=abcdef123\"}", "backends.bot.headers.Cookie", 6),
        ("type: openai\nmodel: m\nheaders: {X-API-Key: abcdef123456}", "backends.bot.headers.X-API-Key", 5),
        ("type: openai\nmodel: m\nheaders: {Proxy-Authorization: Basic dXNlcjpwYXNz}", "backends.bot.headers.Proxy-Authorization", 5),
        ("type: openai\nmodel: m\nbaseURL: \"https://user:hunter22@api.example.com/v1\"", "backends.bot.baseURL", 5),
        ("type: openai\nmodel: m\nheaders: {Authorization: \"Bearer ${TOKEN:-sk-literal-1234}\"}", "backends.bot.headers.Authorization", 5),
    ])
    func literalCredentialsAreRefused(backend: String, field: String, line: Int) throws {
        let error = try #require(Self.refusal(backend))
        #expect(error.code == .invalidConfig)
        #expect(error.location?.field == field)
        #expect(error.location?.line == line)
        #expect(error.location?.source == "job.yaml")
        #expect(error.message.contains("{env: NAME}"))
        #expect(!error.description.contains("sk-literal-1234") && !error.description.contains("hunter22"))
    }

    @Test(arguments: [
        "type: http\nurl: http://h/x\nreplyPath: $.r\napiKey: {env: K}\nheaders: {Authorization: \"Bearer {{apiKey}}\", X-Auth-Mode: strict}",
        "type: http\nurl: http://h/x\nreplyPath: $.r\nheaders: {Authorization: {env: K}, Cookie: {file: /run/cookie}}",
        "type: openai\nmodel: m\nheaders: {Authorization: \"Bearer ${TOKEN}\"}\nbaseURL: \"https://${USER_NAME}:${PASS}@api.example.com/v1\"",
        "type: openai\nmodel: m\nbaseURL: \"http://127.0.0.1:8080/v1\"\nextraBody: {auth_mode: strict, password: not-a-header}",
    ])
    func referencesAndTemplatesAreAccepted(backend: String) throws {
        #expect(Self.refusal(backend, environment: ["TOKEN": "tok-from-env-123", "USER_NAME": "me", "PASS": "pass-from-env-9"]) == nil)
    }

    @Test func credentialExpansionsAreMaskedAndTravelUnexpanded() throws {
        let masker = SecretMasker.shared
        let config = try Self.load(
            "type: openai\nmodel: ${MODEL:-gpt-x}\nheaders: {Authorization: \"Bearer ${CT_CFG_TOKEN}\"}\nmaxTokens: ${MAX:-64}",
            environment: ["CT_CFG_TOKEN": "tok-expanded-98765"])
        // Validation and the run see the values …
        #expect(config.backends["bot"]?.options["headers"]?["Authorization"] == "Bearer tok-expanded-98765")
        #expect(config.backends["bot"]?.options["maxTokens"] == 64)
        #expect(config.backends["bot"]?.options["model"] == "gpt-x")
        // … what is written and sent to workers keeps the variables …
        let written = config.document.asWritten
        #expect(written["backends"]?["bot"]?["headers"]?["Authorization"] == "Bearer ${CT_CFG_TOKEN}")
        #expect(written["backends"]?["bot"]?["maxTokens"] == "${MAX:-64}")
        #expect(config.document.environmentVariables == ["CT_CFG_TOKEN", "MAX", "MODEL"])
        // … a credential built from a variable is masked like a resolved secret …
        #expect(masker.mask("echo tok-expanded-98765") == "echo [secret:CT_CFG_TOKEN]")
        #expect(masker.mask("model gpt-x") == "model gpt-x")
        // … and a reader expands the record in its own environment, types included.
        let again = try ConfigDocument.recorded(.object(config.document.recordFields), source: "job.json", environment: ["CT_CFG_TOKEN": "other", "MAX": "7"])
        #expect(again.value["backends"]?["bot"]?["headers"]?["Authorization"] == "Bearer other")
        #expect(again.value["backends"]?["bot"]?["maxTokens"] == 7)
        #expect(again.value == (try ConfigDocument.parse(
            "backends:\n  bot:\n    type: openai\n    model: ${MODEL:-gpt-x}\n    headers: {Authorization: \"Bearer ${CT_CFG_TOKEN}\"}\n    maxTokens: ${MAX:-64}\ndataset: cases.jsonl",
            environment: ["CT_CFG_TOKEN": "other", "MAX": "7"]).value))
        let unset = #expect(throws: ChatbotTesterError.self) {
            try ConfigDocument.recorded(.object(config.document.recordFields), source: "job.json", environment: [:])
        }
        #expect(unset?.location?.field == "backends.bot.headers.Authorization")
    }

    @Test func escapedDollarStaysLiteralThroughARecord() throws {
        let document = try ConfigDocument.parse("backends: {}\nname: \"price $${AMOUNT}\"", environment: [:])
        #expect(document.value["name"] == "price ${AMOUNT}")
        let again = try ConfigDocument.recorded(.object(document.recordFields), source: "job.json", environment: ["AMOUNT": "9"])
        #expect(again.value["name"] == "price ${AMOUNT}")
    }
}
