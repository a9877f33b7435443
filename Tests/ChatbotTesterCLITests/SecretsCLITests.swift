import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// A hostile server echoes the API key (plain, JSON-escaped, URL-encoded) in its 401 bodies and
/// in its replies: no file of the output directory (spool and state included) and no line of the
/// CLI's output holds it, in one process or with workers.
@Suite(.serialized) struct SecretsCLITests {
    /// Has characters whose JSON-escaped and URL-encoded forms differ from the plain text.
    static let key = #"sk-LEAK/abc"def+ghi 42"#

    static func forms(_ value: String) -> [String] {
        var json = ""
        for character in value {
            switch character {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            default: json.append(character)
            }
        }
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        let url = value.addingPercentEncoding(withAllowedCharacters: unreserved)!
        return [value, json, json.replacingOccurrences(of: "/", with: "\\/"), url, url.lowercased(), url.replacingOccurrences(of: "%20", with: "+")]
    }

    /// A server that reflects whatever bearer token it is sent.
    static func reflectingServer() throws -> LoopbackHTTPRecorder {
        try LoopbackHTTPRecorder { request in
            let token = String((request.header("Authorization") ?? "").dropFirst("Bearer ".count))
            let forms = Self.forms(token)
            let text = "key \(forms[0]) json \(forms[1]) url \(forms[3])"
            let body = String(decoding: request.body, as: UTF8.self)
            if body.contains("deny") {
                return LoopbackHTTPRecorder.Response(status: 401, contentType: "text/plain", body: Data("denied: \(text)".utf8))
            }
            if body.contains("cut") {
                // The key straddles the 300-character cut of the error's body excerpt.
                let padding = String(repeating: "x", count: 280)
                return LoopbackHTTPRecorder.Response(status: 403, contentType: "text/plain", body: Data("\(padding) \(token) tail".utf8))
            }
            let reply = String(decoding: try! JSONCoding.encoder().encode(JSONValue.string("you sent \(text)")), as: UTF8.self)
            return .json(#"{"reply": \#(reply)}"#)
        }
    }

    static let config = """
        backends:
          bot:
            type: http
            url: "http://127.0.0.1:${CT_LEAK_PORT}/chat"
            apiKey: {env: CT_LEAK_KEY}
            headers: {Authorization: "Bearer {{apiKey}}"}
            body: {message: "{{input}}"}
            replyPath: $.reply
        dataset: cases.jsonl
        run: {target: bot, concurrency: 2, retries: 1}
        evaluate: {metrics: [{type: contains, value: "nothing matches this"}]}
        """

    static func workspace() throws -> URL {
        let directory = try CLITests.temporaryDirectory()
        try Data(config.utf8).write(to: directory.appendingPathComponent("job.yaml"))
        let cases = (0..<9).map { #"{"id": "case-\#($0)", "input": "\#($0 == 8 ? "cut" : $0 % 2 == 0 ? "deny" : "echo") \#($0)"}"# }
        try Data((cases.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("cases.jsonl"))
        return directory
    }

    /// Every regular file under `directory`, recursively (hidden ones included).
    static func files(under directory: URL) -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        return enumerator.compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
    }

    @Test(arguments: [nil, "2"]) func reflectedKeyLeavesNoTrace(workers: String?) async throws {
        let server = try Self.reflectingServer()
        defer { server.close() }
        let directory = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        var arguments = ["test", directory.appendingPathComponent("job.yaml").path, "--out", out.path]
        if let workers { arguments += ["--workers", workers] }
        let result = try await CLITests.run(arguments, environment: ["CT_LEAK_PORT": "\(server.port)", "CT_LEAK_KEY": Self.key])
        #expect(result.status == 1, "\(result.stderr)")
        // The server saw the key and echoed it: 4 refusals, 4 replies.
        #expect(server.requests.filter { $0.header("Authorization") == "Bearer \(Self.key)" }.count >= 9)

        let files = Self.files(under: out)
        #expect(files.contains { $0.lastPathComponent == "results.jsonl" })
        if workers != nil { #expect(files.contains { $0.path.contains("/spool/") }) }
        for file in files {
            let text = String(decoding: try Data(contentsOf: file), as: UTF8.self)
            for form in Self.forms(Self.key) + [String(Self.key.prefix(10))] {
                #expect(!text.contains(form), "\(file.path) holds the key as \(form)")
            }
        }
        for form in Self.forms(Self.key) {
            #expect(!result.stderr.contains(form), "stderr holds the key as \(form)")
            #expect(!result.stdout.contains(form), "stdout holds the key as \(form)")
        }
        // The echoes were recorded, masked.
        let results = try String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8)
        #expect(results.contains("you sent key [secret:CT_LEAK_KEY]"))
        #expect(results.contains("denied: key [secret:CT_LEAK_KEY]"))
    }

    @Test func literalCredentialIsAConfigErrorNamingTheLine() async throws {
        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("job.yaml")
        try Data(
            """
            backends:
              bot:
                type: http
                url: "http://127.0.0.1:9/chat"
                headers:
                  Authorization: "Bearer sk-typed-into-the-config"
                replyPath: $.reply
            dataset: cases.jsonl
            run: {target: bot}
            """.utf8
        ).write(to: config)
        try Data(#"{"id": "a", "input": "hi"}"#.utf8).write(to: directory.appendingPathComponent("cases.jsonl"))
        for verb in ["validate", "test"] {
            let extra = verb == "test" ? ["--out", directory.appendingPathComponent("out").path] : []
            let result = try await CLITests.run([verb, config.path] + extra)
            // `test` exits 2 (config error); `validate` reports the invalid file (non-zero).
            #expect(verb == "test" ? result.status == 2 : result.status != 0, "\(verb): \(result.stderr)")
            #expect(result.stderr.contains("job.yaml:6"), "\(verb): \(result.stderr)")
            #expect(result.stderr.contains("backends.bot.headers.Authorization"), "\(verb): \(result.stderr)")
            #expect(result.stderr.contains("{env: NAME}"), "\(verb): \(result.stderr)")
            #expect(!result.stderr.contains("sk-typed-into-the-config"))
        }
    }
}
