import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOHTTP1

/// A reply as the HTTP layer saw it.
typealias HTTPReply = HTTPResponse

/// The HTTP plumbing every HTTP backend shares: one request out, one reply in, and every failure
/// turned into a `ChatbotTesterError` with a retry disposition, naming the peer, never the request.
struct BackendHTTP: Sendable {
    /// The client requests go through (``BuiltinBackends/sharedHTTPClient`` unless one was given).
    let client: HTTPClient
    /// `backends.<instance>`, named in errors.
    let field: String
    /// The per-request deadline the backend applies itself (middleware may apply a shorter one).
    let timeout: Duration
    /// Replies larger than this are an error rather than a memory spike.
    static let maxReplyBytes = 64 << 20

    /// - Parameter client: the client to use; nil for the shared one.
    init(client: HTTPClient?, field: String, timeoutSeconds: Double) {
        self.client = client ?? BuiltinBackends.sharedHTTPClient
        self.field = field
        self.timeout = .milliseconds(Int64((timeoutSeconds * 1000).rounded()))
    }

    /// Sends a request and returns a 2xx reply; any other status throws.
    func send(
        _ method: HTTPMethod = .POST, url: String, headers: [(String, String)], body: Data?
    ) async throws -> HTTPReply {
        let peer = BackendPeer(field: field, url: url)
        let reply: HTTPReply
        do {
            reply = try await client.send(
                HTTPRequest(method, url: url, headers: Self.requestHeaders(headers, body: body), body: body), timeout: timeout,
                maxBodyBytes: Self.maxReplyBytes)
        } catch {
            throw Self.transportError(error, peer: peer)
        }
        guard (200..<300).contains(reply.status) else { throw Self.statusError(reply, peer: peer) }
        return reply
    }

    /// The headers as given, then `content-type: application/json` when there is a body and they name none.
    static func requestHeaders(_ headers: [(String, String)], body: Data?) -> [(String, String)] {
        guard body != nil, !headers.contains(where: { $0.0.lowercased() == "content-type" }) else { return headers }
        return headers + [("content-type", "application/json")]
    }

    /// The error for a reply over ``maxReplyBytes``.
    static func tooLargeError(peer: BackendPeer) -> ChatbotTesterError {
        ChatbotTesterError(.badResponse, "\(peer.peer): reply larger than \(maxReplyBytes) bytes", location: peer.location, retry: .no)
    }

    /// Sends a JSON body and parses the JSON reply.
    func sendJSON(url: String, headers: [(String, String)], body: JSONValue) async throws -> JSONValue {
        let reply = try await send(url: url, headers: headers, body: JSONWire.encode(body))
        return try JSONWire.decode(reply.body, peer: BackendPeer(field: field, url: url))
    }

    /// Maps a transport failure to one stable code and one clean message naming the peer:
    /// `timeout`, `connection_refused`, `connection_closed`, `dns`, `tls`, else `transport`. All are
    /// transient but an invalid request: the retry policy alone decides whether to try again (the
    /// client never repeats a request that may have reached the peer, see ``HTTPClient``).
    static func transportError(_ error: any Error, peer: BackendPeer) -> any Error {
        if error is CancellationError { return error }
        if let error = error as? ChatbotTesterError { return error }
        guard let failure = error as? HTTPClientError else {
            return ChatbotTesterError(
                .transport, "\(peer.peer): request failed: \(String(describing: error).prefix(300))", location: peer.location, retry: .transient)
        }
        let code: ChatbotTesterError.Code
        switch failure.kind {
        case .timeout, .connectTimeout: code = .timeout
        case .connectionRefused: code = .connectionRefused
        case .connectionClosed: code = .connectionClosed
        case .dns: code = .dns
        case .tls: code = .tls
        case .tooLarge: return tooLargeError(peer: peer)
        case .invalidReply:
            return ChatbotTesterError(.transport, "\(peer.peer): request failed: \(failure.phrase)", location: peer.location, retry: .transient)
        case .invalidRequest:
            return ChatbotTesterError(.transport, "\(peer.peer): request refused: \(failure.phrase)", location: peer.location, retry: .no)
        case .transport: code = .transport
        }
        return ChatbotTesterError(code, "\(peer.peer): \(failure.phrase)", location: peer.location, retry: .transient)
    }

    /// Maps a non-2xx reply: 429 (and 503 with Retry-After) rate-limited, 408/5xx transient, other 4xx final.
    static func statusError(_ reply: HTTPReply, peer: BackendPeer, now: Date = Date()) -> ChatbotTesterError {
        let retryAfter = reply.headers.first(name: "retry-after").flatMap { RetryAfter.seconds(from: $0, now: now) }
        let retry: RetryDisposition
        switch reply.status {
        case 429: retry = .rateLimited(retryAfter: retryAfter)
        case 503 where retryAfter != nil: retry = .rateLimited(retryAfter: retryAfter)
        case 408, 500...599: retry = .transient
        default: retry = .no
        }
        var message = "\(peer.peer) answered HTTP \(reply.status)"
        if let detail = providerMessage(reply.body) { message += ": \(detail)" }
        return ChatbotTesterError(
            .http(status: reply.status), message, location: peer.location, status: reply.status, retry: retry,
            bodyExcerpt: BackendPeer.excerpt(reply.body))
    }

    /// The provider's own error message (`{"error": {"message": …}}`, `{"error": "…"}`, `{"message": …}`).
    static func providerMessage(_ body: Data) -> String? {
        guard let json = try? JSONWire.parse(body) else { return nil }
        let text = json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue ?? json["message"]?.stringValue
        return text.map { String($0.prefix(300)) }
    }
}
