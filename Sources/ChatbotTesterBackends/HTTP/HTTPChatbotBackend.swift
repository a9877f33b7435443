import ChatbotTesterHTTP
import ChatbotTesterCore
import Foundation
import NIOCore
import NIOHTTP1

/// Any chatbot with a JSON HTTP API: a templated request, the reply (and optionally a session id)
/// picked out of the JSON answer by paths.
///
/// Stateless and shared by concurrent conversations: the session travels in
/// `ChatRequest.session` / `ChatResponse.session`, never in the backend.
struct HTTPChatbotBackend: ChatBackend {
    /// How a streamed reply is framed.
    enum StreamFormat: String, Sendable, CaseIterable {
        /// Server-sent events: each `data:` is one JSON event (`[DONE]` ends the stream; data that is
        /// not JSON is taken as a text delta).
        case sse
        /// Newline-delimited JSON: each line is one JSON event.
        case ndjson
    }

    /// The JSON paths that pick a reply apart (each event's, when streaming).
    struct Paths: Sendable {
        var reply: JSONPath?
        var delta: JSONPath?
        var session: JSONPath?
        var finishReason: JSONPath?
        var toolCalls: JSONPath?
        var contexts: JSONPath?
    }

    let http: BackendHTTP
    let method: HTTPMethod
    let url: String
    let headers: [(String, String)]
    let body: JSONValue?
    let paths: Paths
    /// A response header holding the session id (for bots that keep it out of the body).
    let sessionHeader: String?
    let stream: StreamFormat?
    let model: String
    let apiKey: String

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        let values = RequestTemplate.Values(request, model: request.model ?? model, apiKey: apiKey)
        let url = RequestTemplate.render(url, values, escape: RequestTemplate.urlEscape)
        let headers = headers.map { ($0.0, RequestTemplate.render($0.1, values)) }
        let payload = body.map { JSONWire.encode(RequestTemplate.render($0, values)) }
        let peer = BackendPeer(field: http.field, url: url)
        var response: ChatResponse
        if let stream {
            var decoder = HTTPStreamDecoder(format: stream, paths: paths, peer: peer)
            let accept = stream == .sse ? "text/event-stream" : "application/x-ndjson"
            let measurement = try await http.stream(
                method, url: url, headers: headers + [("accept", accept)], body: payload, start: start
            ) { try decoder.feed($0) }
            response = try decoder.finish()
            if let sessionHeader, let value = measurement.headers.first(name: sessionHeader), !value.isEmpty, response.session == nil {
                response.session = .string(value)
            }
            response.streaming = measurement.timing(completionTokens: nil, chunks: measurement.deltas)
        } else {
            let reply = try await http.send(method, url: url, headers: headers, body: payload)
            let json = try JSONWire.decode(reply.body, peer: peer)
            guard let replyPath = paths.reply, let value = replyPath.evaluate(json), !value.isNull else {
                throw peer.badResponse("reply has nothing at '\(paths.reply?.description ?? "replyPath")'", body: reply.body)
            }
            response = ChatResponse(content: value.stringValue ?? value.canonicalText)
            if let sessionHeader, let value = reply.headers.first(name: sessionHeader), !value.isEmpty {
                response.session = .string(value)
            }
            paths.read(json, into: &response)
        }
        if response.session == nil { response.session = request.session }
        response.latencyMs = start.millisecondsSince
        return response
    }
}

extension HTTPChatbotBackend.Paths {
    /// Reads session, finish reason, tool calls and contexts from one JSON value (a reply, or one
    /// streamed event: then the last event holding a value wins).
    func read(_ json: JSONValue, into response: inout ChatResponse) {
        if let session = session?.evaluate(json), session != .null { response.session = session }
        if let reason = finishReason?.evaluate(json)?.stringValue { response.finishReason = reason }
        if let value = toolCalls?.evaluate(json), !value.isNull { response.toolCalls = ToolWire.calls(from: value) }
        if let value = contexts?.evaluate(json), !value.isNull { response.retrievedContexts = ToolWire.contexts(from: value) }
    }
}

/// Assembles a streamed `http` reply: each event (an SSE `data:` or an NDJSON line) is JSON; the text at
/// `deltaPath` is appended to the reply, a value at `replyPath` replaces it, and the other paths are read
/// from every event (the last value wins). Pure: tests drive it directly.
struct HTTPStreamDecoder: Sendable {
    let format: HTTPChatbotBackend.StreamFormat
    let paths: HTTPChatbotBackend.Paths
    let peer: BackendPeer
    private var events = ServerSentEventParser()
    private var lines = NDJSONLineSplitter()
    private var deltas: [String] = []
    private var reply: String?
    private var response = ChatResponse(content: "")
    private var done = false
    private var sawEvent = false

    init(format: HTTPChatbotBackend.StreamFormat, paths: HTTPChatbotBackend.Paths, peer: BackendPeer) {
        self.format = format
        self.paths = paths
        self.peer = peer
    }

    mutating func feed(_ bytes: [UInt8]) throws -> Int {
        var texts: [String]
        do {
            switch format {
            case .sse: texts = try events.feed(bytes).map(\.data)
            case .ndjson: texts = try lines.feed(bytes).map { String(decoding: $0, as: UTF8.self) }
            }
        } catch {
            throw peer.badResponse("a streamed event is larger than \(error.limit) bytes")
        }
        var count = 0
        for text in texts { count += try consume(text) }
        return count
    }

    /// Applies one event's text; returns the token deltas it carried.
    mutating func consume(_ text: String) throws -> Int {
        guard !done else { return 0 }
        let data = text.trimmingASCIIWhitespace()
        if data == "[DONE]" {
            done = true
            return 0
        }
        guard !data.isEmpty else { return 0 }
        sawEvent = true
        guard let json = try? JSONWire.parse(Data(data.utf8)) else {
            if format == .sse {
                deltas.append(text)
                return 1
            }
            throw peer.badResponse("a streamed line is not valid JSON", body: Data(data.utf8), retry: .transient)
        }
        var count = 0
        if let delta = paths.delta?.evaluate(json), !delta.isNull {
            let piece = delta.stringValue ?? delta.canonicalText
            if !piece.isEmpty {
                deltas.append(piece)
                count = 1
            }
        }
        if let value = paths.reply?.evaluate(json), !value.isNull {
            reply = value.stringValue ?? value.canonicalText
        }
        let calls = response.toolCalls.count
        paths.read(json, into: &response)
        if response.toolCalls.count > calls { count = max(count, 1) }
        return count
    }

    /// The assembled reply: the deltas joined, else the last value at `replyPath`.
    mutating func finish() throws -> ChatResponse {
        switch format {
        case .sse: if let last = events.finish() { _ = try consume(last.data) }
        case .ndjson: if let last = lines.finish() { _ = try consume(String(decoding: last, as: UTF8.self)) }
        }
        guard sawEvent else { throw peer.badResponse("the stream ended without an event", retry: .transient) }
        if !deltas.isEmpty {
            response.content = deltas.joined()
        } else if let reply {
            response.content = reply
        } else if response.toolCalls.isEmpty {
            let where_ = [paths.delta, paths.reply].compactMap { $0?.description }.joined(separator: "' or '")
            throw peer.badResponse("no streamed event had anything at '\(where_)'")
        }
        return response
    }
}

extension HTTPChatbotBackend {
    static let options: [OptionSpec] = [
        OptionSpec("url", .string, required: true, "endpoint URL; may hold placeholders such as {{session}} (URL-encoded)"),
        OptionSpec("method", .string, default: "POST", "HTTP method"),
        OptionSpec(
            "headers", .object,
            "headers; values may use placeholders ({{apiKey}}, {{session}}) or be secret references {env: NAME}"),
        OptionSpec(
            "body", .any, default: "{\"message\": \"{{input}}\", \"session\": \"{{session}}\"}",
            "request body template: placeholders {{input}} {{messages}} {{system}} {{session}} {{sampleId}} {{model}} {{tools}} {{toolChoice}}"),
        OptionSpec("replyPath", .string, "JSON path of the reply text, e.g. $.data.reply (required unless streaming with deltaPath)"),
        OptionSpec("sessionPath", .string, "JSON path of a session id to carry to the next turn"),
        OptionSpec("sessionHeader", .string, "response header holding a session id (when the body has none)"),
        OptionSpec("finishReasonPath", .string, "JSON path of a finish reason"),
        OptionSpec("toolCallsPath", .string, "JSON path of the tool calls the bot made ([{id, name, arguments}], OpenAI or Anthropic shapes)"),
        OptionSpec("contextPath", .string, "JSON path of the contexts the bot retrieved (strings, or objects with text/content)"),
        OptionSpec("stream", .string, "the reply streams: sse (server-sent events) or ndjson (JSON lines); each event read with the paths"),
        OptionSpec("deltaPath", .string, "with stream: JSON path of each event's text delta, e.g. $.choices[0].delta.content"),
        OptionSpec("apiKey", .secret, "a secret usable as {{apiKey}} in headers"),
        OptionSpec("model", .string, "a label usable as {{model}}"),
        HeaderOptions.timeoutSpec(),
    ]

    static let defaultBody: JSONValue = ["message": "{{input}}", "session": "{{session}}"]

    static func registration(client: HTTPClient?) -> ComponentType<any ModelBackend> {
        ComponentType(name: "http", summary: "any chatbot with a JSON HTTP API (templated request, reply by JSON path)", options: options) {
            options, context in
            let url = try options.requiredString("url")
            try RequestTemplate.check(.string(url), field: context.fieldPath("url"))
            let methodName = (try options.string("method") ?? "POST").uppercased()
            let method = HTTPMethod(rawValue: methodName)
            // `.none`, not `nil`: `JSONValue` is nil-literal expressible, and `nil` would become a JSON null body.
            let body: JSONValue? = (method == .GET || method == .HEAD) ? .none : (options["body"] ?? defaultBody)
            if let body { try RequestTemplate.check(body, field: context.fieldPath("body")) }
            var headers: [(String, String)] = []
            for (name, value) in try options.object("headers")?.sorted(by: { $0.key < $1.key }) ?? [] {
                let field = context.fieldPath("headers.\(name)")
                if let text = value.stringValue {
                    try RequestTemplate.check(value, field: field)
                    headers.append((name, text))
                } else if SecretResolver.isReference(value) {
                    if let secret = try context.secrets.resolveIfPresent(value, field: field) { headers.append((name, secret)) }
                } else {
                    throw ChatbotTesterError(
                        .invalidConfig, "expected a string or a secret reference {env: NAME}", location: SourceLocation(field: field))
                }
            }
            var stream: StreamFormat?
            if let name = try options.string("stream") {
                guard let format = StreamFormat(rawValue: name.lowercased()) else {
                    throw ChatbotTesterError(
                        .invalidConfig, "expected sse or ndjson, got '\(name)'", location: SourceLocation(field: context.fieldPath("stream")))
                }
                stream = format
            }
            let paths = Paths(
                reply: try options.jsonPath("replyPath"), delta: try options.jsonPath("deltaPath"),
                session: try options.jsonPath("sessionPath"), finishReason: try options.jsonPath("finishReasonPath"),
                toolCalls: try options.jsonPath("toolCallsPath"), contexts: try options.jsonPath("contextPath"))
            if paths.delta != nil, stream == nil {
                throw ChatbotTesterError(
                    .invalidConfig, "deltaPath needs stream: sse or ndjson", location: SourceLocation(field: context.fieldPath("deltaPath")))
            }
            if paths.reply == nil, paths.delta == nil {
                throw ChatbotTesterError(
                    .invalidConfig, "missing required option 'replyPath' (or 'deltaPath' with stream)",
                    location: SourceLocation(field: context.fieldPath("replyPath")))
            }
            return HTTPChatbotBackend(
                http: try BackendHTTP(options: options, client: client), method: method, url: url, headers: headers,
                body: body, paths: paths, sessionHeader: try options.string("sessionHeader"), stream: stream,
                model: try options.string("model") ?? "", apiKey: try options.secret("apiKey") ?? "")
        }
    }
}
