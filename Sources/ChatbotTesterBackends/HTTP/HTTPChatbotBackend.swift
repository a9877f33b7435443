import AsyncHTTPClient
import ChatbotTesterCore
import Foundation
import NIOHTTP1

/// Any chatbot with a JSON HTTP API: a templated request, the reply (and optionally a session id)
/// picked out of the JSON answer by paths.
///
/// Stateless and shared by concurrent conversations: the session travels in
/// `ChatRequest.session` / `ChatResponse.session`, never in the backend.
struct HTTPChatbotBackend: ChatBackend {
    let http: BackendHTTP
    let method: HTTPMethod
    let url: String
    let headers: [(String, String)]
    let body: JSONValue?
    let replyPath: JSONPath
    let sessionPath: JSONPath?
    /// A response header holding the session id (for bots that keep it out of the body).
    let sessionHeader: String?
    let finishReasonPath: JSONPath?
    let model: String
    let apiKey: String

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        let start = ContinuousClock.now
        let values = RequestTemplate.Values(request, model: request.model ?? model, apiKey: apiKey)
        let url = RequestTemplate.render(url, values, escape: RequestTemplate.urlEscape)
        let headers = headers.map { ($0.0, RequestTemplate.render($0.1, values)) }
        let payload = body.map { JSONWire.encode(RequestTemplate.render($0, values)) }
        let peer = BackendPeer(field: http.field, url: url)
        let reply = try await http.send(method, url: url, headers: headers, body: payload)
        let json = try JSONWire.decode(reply.body, peer: peer)
        guard let value = replyPath.evaluate(json), !value.isNull else {
            throw peer.badResponse("reply has nothing at '\(replyPath)'", body: reply.body)
        }
        var response = ChatResponse(content: value.stringValue ?? value.canonicalText)
        response.session = request.session
        if let sessionHeader, let value = reply.headers.first(name: sessionHeader), !value.isEmpty {
            response.session = .string(value)
        }
        if let session = sessionPath?.evaluate(json), session != .null {
            response.session = session
        }
        response.finishReason = finishReasonPath.flatMap { $0.evaluate(json)?.stringValue }
        response.latencyMs = start.millisecondsSince
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
            "request body template: placeholders {{input}} {{messages}} {{system}} {{session}} {{sampleId}} {{model}}"),
        OptionSpec("replyPath", .string, required: true, "JSON path of the reply text, e.g. $.data.reply"),
        OptionSpec("sessionPath", .string, "JSON path of a session id to carry to the next turn"),
        OptionSpec("sessionHeader", .string, "response header holding a session id (when the body has none)"),
        OptionSpec("finishReasonPath", .string, "JSON path of a finish reason"),
        OptionSpec("apiKey", .secret, "a secret usable as {{apiKey}} in headers"),
        OptionSpec("model", .string, "a label usable as {{model}}"),
        HeaderOptions.timeoutSpec(),
    ]

    static let defaultBody: JSONValue = ["message": "{{input}}", "session": "{{session}}"]

    static func registration(client: HTTPClient) -> ComponentType<any ModelBackend> {
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
            guard let replyPath = try options.jsonPath("replyPath") else {
                throw ChatbotTesterError(
                    .invalidConfig, "missing required option 'replyPath'", location: SourceLocation(field: context.fieldPath("replyPath")))
            }
            return HTTPChatbotBackend(
                http: try BackendHTTP(options: options, client: client), method: method, url: url, headers: headers,
                body: body, replyPath: replyPath, sessionPath: try options.jsonPath("sessionPath"),
                sessionHeader: try options.string("sessionHeader"),
                finishReasonPath: try options.jsonPath("finishReasonPath"), model: try options.string("model") ?? "",
                apiKey: try options.secret("apiKey") ?? "")
        }
    }
}
