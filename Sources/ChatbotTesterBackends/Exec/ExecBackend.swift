import ChatbotTesterCore
import Foundation

/// A local program speaking JSON: one process per call, the request JSON on stdin, one reply JSON
/// on stdout.
///
/// Request: `{"input", "messages": [{role, content, toolCalls?, toolCallId?, name?, isError?}],
/// "session", "sampleId", "model", "responseFormat": "text"|"json"|"json_schema", "schema",
/// "temperature", "maxTokens", …, "tools": [{name, description, parameters}], "toolChoice",
/// "parallelToolCalls"}` (the tool fields only when the request offers tools).
/// Reply: `{"reply": "…"}` plus optional `session`, `finishReason`, `usage: {promptTokens,
/// completionTokens}`, `toolCalls: [{id, name, arguments}]` (then `reply` may be absent),
/// `contexts: ["…"]`, `timeToFirstTokenMs` and `tokensPerSecond` (a program that streams from a model
/// reports its own timings), or `{"error": "…", "retryable": bool}`. When stdout holds more than the
/// reply, its last non-empty line is used. A non-zero exit, a signal or the timeout is an error
/// carrying the end of stderr.
struct ExecBackend: ChatBackend {
    let command: [String]
    let environment: [String: String]?
    let directory: URL?
    let timeoutSeconds: Double
    let model: String?
    let peer: BackendPeer

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        var input = JSONWire.encode(Self.payload(request, model: model))
        input.append(UInt8(ascii: "\n"))
        let outcome: ProcessRunner.Outcome
        do {
            outcome = try await ProcessRunner.run(
                command, input: input, environment: environment, directory: directory, timeoutSeconds: timeoutSeconds)
        } catch let error as ProcessRunner.LaunchError {
            throw ChatbotTesterError(.transport, "\(peer.peer): \(error)", location: peer.location, retry: .no)
        }
        let stderr = Self.tail(outcome.stderr)
        if outcome.timedOut {
            throw ChatbotTesterError(
                .timeout, "\(peer.peer): no reply within \(timeoutSeconds)s (process killed)", location: peer.location,
                retry: .transient, bodyExcerpt: stderr)
        }
        if outcome.status != 0 || outcome.signalled {
            let how = outcome.signalled ? "was killed by signal \(outcome.status)" : "exited with status \(outcome.status)"
            throw ChatbotTesterError(
                .transport, "\(peer.peer) \(how)\(stderr.map { ": \($0)" } ?? "")", location: peer.location, retry: .no,
                bodyExcerpt: stderr)
        }
        var response = try Self.parse(outcome.stdout, peer: peer)
        if response.session == nil { response.session = request.session }
        response.latencyMs = start.millisecondsSince
        return response
    }

    static func payload(_ request: ChatRequest, model: String?) -> JSONValue {
        let values = RequestTemplate.Values(request, model: request.model ?? model ?? "", apiKey: "")
        var body: [String: JSONValue] = [
            "input": .string(values.input), "messages": values.messages, "session": request.session ?? .null,
            "sampleId": request.tags["sampleId"].map(JSONValue.string) ?? .null,
        ]
        if let model = request.model ?? model { body["model"] = .string(model) }
        switch request.responseFormat {
        case .text: body["responseFormat"] = "text"
        case .json: body["responseFormat"] = "json"
        case .jsonSchema(_, let schema):
            body["responseFormat"] = "json_schema"
            body["schema"] = schema
        }
        if let value = request.temperature { body["temperature"] = .double(value) }
        if let value = request.maxTokens { body["maxTokens"] = .int(value) }
        if let value = request.topP { body["topP"] = .double(value) }
        if let value = request.stop { body["stop"] = .array(value.map(JSONValue.string)) }
        if let value = request.seed { body["seed"] = .int(value) }
        if !request.tools.isEmpty {
            body["tools"] = values.tools
            if request.toolChoice != nil { body["toolChoice"] = values.toolChoice }
            if let parallel = request.parallelToolCalls { body["parallelToolCalls"] = .bool(parallel) }
        }
        return .object(body)
    }

    static func parse(_ stdout: Data, peer: BackendPeer) throws -> ChatResponse {
        var json = try? JSONWire.parse(stdout)
        if json == nil {
            let lastLine = String(decoding: stdout, as: UTF8.self).split(whereSeparator: \.isNewline).last {
                !$0.trimmingCharacters(in: .whitespaces).isEmpty
            }
            json = lastLine.flatMap { try? JSONWire.parse(Data($0.utf8)) }
        }
        guard let json, json.objectValue != nil else {
            throw peer.badResponse("stdout is not a JSON object", body: stdout)
        }
        if let error = json["error"]?.stringValue {
            throw ChatbotTesterError(
                .badResponse, "\(peer.peer) reported: \(error)", location: peer.location,
                retry: json["retryable"]?.boolValue == true ? .transient : .no, bodyExcerpt: BackendPeer.excerpt(stdout))
        }
        let calls = (json["toolCalls"] ?? json["tool_calls"]).map(ToolWire.calls(from:)) ?? []
        // (`JSONValue` is nil-literal expressible: an absent reply is spelled `Optional.none`.)
        let reply: JSONValue? = json["reply"] ?? json["content"] ?? (calls.isEmpty ? Optional.none : .string(""))
        guard let reply, !reply.isNull else {
            throw peer.badResponse("reply JSON has no 'reply'", body: stdout)
        }
        var usage: Usage?
        if let counts = json["usage"], counts.objectValue != nil {
            usage = Usage(
                promptTokens: (counts["promptTokens"] ?? counts["prompt_tokens"])?.intValue ?? 0,
                completionTokens: (counts["completionTokens"] ?? counts["completion_tokens"])?.intValue ?? 0)
        }
        // (`JSONValue` is nil-literal expressible: spell out `.none` so a JSON null means "no session".)
        let session: JSONValue? = json["session"] == .null ? .none : json["session"]
        var response = ChatResponse(
            content: reply.stringValue ?? reply.canonicalText, finishReason: json["finishReason"]?.stringValue, usage: usage,
            model: json["model"]?.stringValue, session: session)
        response.toolCalls = calls
        if let contexts = json["contexts"] ?? json["retrievedContexts"], !contexts.isNull {
            response.retrievedContexts = ToolWire.contexts(from: contexts)
        }
        if let first = json["timeToFirstTokenMs"]?.doubleValue {
            response.streaming = StreamTiming(
                timeToFirstTokenMs: first, tokensPerSecond: json["tokensPerSecond"]?.doubleValue, chunks: json["chunks"]?.intValue ?? 0)
        }
        return response
    }

    /// The last ~300 characters of stderr.
    static func tail(_ data: Data) -> String? {
        let text = String(decoding: data.suffix(1200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        return text.count > 300 ? "…" + String(text.suffix(300)) : text
    }
}

extension ExecBackend {
    static let options: [OptionSpec] = [
        OptionSpec("command", .array, required: true, "program and arguments, e.g. [python3, bot.py] (looked up on PATH)"),
        OptionSpec("env", .object, "extra environment variables; values may be secret references {env: NAME}"),
        OptionSpec("workingDirectory", .string, "directory the program runs in"),
        OptionSpec("processTimeoutSeconds", .number, default: "60", "kill the program when it has not answered by then"),
        OptionSpec("model", .string, "a label passed to the program as 'model'"),
    ]

    static let registration = ComponentType<any ModelBackend>(
        name: "exec", summary: "a local program: request JSON on stdin, reply JSON on stdout (one process per call)",
        options: options
    ) { options, context in
        let command: [String]
        if let single = options["command"]?.stringValue {
            command = single.split(separator: " ").map(String.init)
        } else {
            command = try options.strings("command") ?? []
        }
        guard !command.isEmpty else {
            throw ChatbotTesterError(
                .invalidConfig, "expected a program and its arguments", location: SourceLocation(field: context.fieldPath("command")))
        }
        var environment: [String: String]?
        if let env = try options.object("env") {
            environment = try env.reduce(into: [:]) { result, entry in
                let field = context.fieldPath("env.\(entry.key)")
                if let text = entry.value.stringValue {
                    result[entry.key] = text
                } else if SecretResolver.isReference(entry.value) {
                    result[entry.key] = try context.secrets.resolveIfPresent(entry.value, field: field)
                } else {
                    throw ChatbotTesterError(
                        .invalidConfig, "expected a string or a secret reference {env: NAME}", location: SourceLocation(field: field))
                }
            }
        }
        let timeout = try options.double("processTimeoutSeconds") ?? 60
        guard timeout > 0 else {
            throw ChatbotTesterError(
                .invalidConfig, "expected a positive number of seconds",
                location: SourceLocation(field: context.fieldPath("processTimeoutSeconds")))
        }
        // A relative working directory is the config file's neighbour, not the shell's.
        let directory = try options.string("workingDirectory").map { context.resolvePath($0) }
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ChatbotTesterError(
                    .invalidConfig, "working directory \(directory.path) does not exist",
                    location: SourceLocation(field: context.fieldPath("workingDirectory")))
            }
        }
        return ExecBackend(
            command: command, environment: environment,
            directory: directory, timeoutSeconds: timeout,
            model: try options.string("model"), peer: BackendPeer(context: context, peer: "exec:\(command[0])"))
    }
}
