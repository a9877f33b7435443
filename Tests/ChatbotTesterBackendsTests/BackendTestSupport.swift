import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

/// A fake credential: tests check it reaches the server and never an error or a config file.
let fakeKey = "sk-test-SECRET-0123456789"

/// Secrets as the test process would resolve them.
let testSecrets = SecretResolver(environment: ["TEST_API_KEY": fakeKey, "TEST_HEADER_SECRET": "header-secret-42"])

/// A set of backends built from `config` with the built-in types.
func makeBackends(_ config: RegistryConfig, registry: BackendRegistry = BuiltinBackends.registry()) -> BackendSet {
    BackendSet(config: config, registry: registry, secrets: testSecrets)
}

/// One backend built from one spec named `bot`.
func makeChat(_ type: String, _ options: [String: JSONValue]) async throws -> any ChatBackend {
    try await makeBackends(RegistryConfig(["bot": ComponentSpec(type: type, options: options)])).chat("bot")
}

/// The error a call throws, as a `ChatbotTesterError`.
func backendError(_ body: () async throws -> Void) async -> ChatbotTesterError? {
    do {
        try await body()
        return nil
    } catch let error as ChatbotTesterError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// A temporary directory removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ct-backends-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes an executable `/bin/sh` script and returns its path.
func writeScript(_ text: String, in directory: URL, name: String = "bot.sh") throws -> String {
    let url = directory.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
    return url.path
}

/// A JSON chatbot program for the `exec` backend: echoes `input`, keeps a session counter,
/// fails with status 3 when the input says `crash`, sleeps when it says `slow`.
let echoProgram = #"""
    #!/bin/sh
    request=$(cat)
    input=$(printf '%s' "$request" | sed -n 's/.*"input":"\([^"]*\)".*/\1/p')
    case "$input" in
      *crash*) echo "boom: the bot crashed on purpose" >&2; exit 3 ;;
      *slow*) sleep 30 ;;
      *garbage*) echo "this is not json"; exit 0 ;;
    esac
    session=$(printf '%s' "$request" | sed -n 's/.*"session":"\([^"]*\)".*/\1/p')
    if [ -z "$session" ]; then session="exec-1"; else session="$session+"; fi
    echo "log line before the reply"
    printf '{"reply":"exec says: %s","session":"%s","usage":{"promptTokens":3,"completionTokens":4}}\n' "$input" "$session"
    """#

/// The options of each built-in type pointed at `server` (or at a script in `directory`).
func builtinOptions(_ type: String, server: MockLLMServer, directory: URL) throws -> [String: JSONValue] {
    switch type {
    case "openai":
        return ["baseURL": .string(server.openAIBaseURL), "model": "mock-gpt", "apiKey": ["env": "TEST_API_KEY"]]
    case "azure-openai":
        return ["endpoint": .string(server.baseURL), "deployment": "chat-dep", "apiKey": ["env": "TEST_API_KEY"]]
    case "anthropic":
        return ["baseURL": .string(server.baseURL), "model": "mock-claude", "apiKey": ["env": "TEST_API_KEY"]]
    case "http":
        return ["url": .string(server.baseURL + "/chatbot"), "replyPath": "$.data.reply", "sessionPath": "$.data.session"]
    case "exec":
        return ["command": [.string(try writeScript(echoProgram, in: directory))]]
    case "scripted":
        return ["default": "Echo: {{input}}"]
    default:
        Issue.record("no test options for \(type)")
        return [:]
    }
}
