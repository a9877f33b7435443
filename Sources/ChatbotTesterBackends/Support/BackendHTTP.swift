import AsyncHTTPClient
import ChatbotTesterCore
import Foundation
import NIOCore
import NIOHTTP1

/// A reply as the HTTP layer saw it.
struct HTTPReply: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
}

/// The HTTP plumbing every HTTP backend shares: one request out, one reply in, and every failure
/// turned into a `ChatbotTesterError` with a retry disposition, naming the peer, never the request.
struct BackendHTTP: Sendable {
    /// The client given, or nil for the process-wide shared one (``BuiltinBackends/sharedHTTPClient``),
    /// which is made only when a request first needs it: a process whose requests all take the own
    /// HTTP/1.1 path (a worker against a plain `http://` target) never starts its event loops.
    private let given: HTTPClient?
    /// The AsyncHTTPClient requests that do not take the own path go through.
    var client: HTTPClient { given ?? BuiltinBackends.sharedHTTPClient }
    /// `backends.<instance>`, named in errors.
    let field: String
    /// The per-request deadline the backend applies itself (middleware may apply a shorter one).
    let timeout: TimeAmount
    /// The own HTTP/1.1 path for plain `http://` targets (``HTTP1Client``), when the backend uses the
    /// shared client and the own path is not switched off; `nil` sends everything through `client`.
    let own: HTTP1Client?
    /// Replies larger than this are an error rather than a memory spike.
    static let maxReplyBytes = 64 << 20

    /// - Parameters:
    ///   - client: the client to use; nil for the shared one, made on first use.
    ///   - ownPath: `false` sends every request through `client` (tests compare the two paths).
    init(client: HTTPClient?, field: String, timeoutSeconds: Double, ownPath: Bool = true) {
        given = client
        self.field = field
        self.timeout = .milliseconds(Int64((timeoutSeconds * 1000).rounded()))
        let shared = client.map(BuiltinBackends.isSharedHTTPClient) ?? true
        self.own = ownPath && shared ? HTTP1Client.shared : nil
    }

    /// Sends a request and returns a 2xx reply; any other status throws. Plain `http://` targets take
    /// the own HTTP/1.1 path when it is on (``own``), everything else AsyncHTTPClient.
    func send(
        _ method: HTTPMethod = .POST, url: String, headers: [(String, String)], body: Data?
    ) async throws -> HTTPReply {
        let peer = BackendPeer(field: field, url: url)
        if let own, let request = HTTP1Request(method, url: url, headers: Self.requestHeaders(headers, body: body), body: body),
            case .reply(let reply) = try await own.send(request, peer: peer, timeout: timeout)
        {
            guard (200..<300).contains(reply.status) else { throw Self.statusError(reply, peer: peer) }
            return reply
        }
        return try await sendThroughClient(method, url: url, headers: headers, body: body, peer: peer)
    }

    /// `send` through AsyncHTTPClient.
    func sendThroughClient(
        _ method: HTTPMethod = .POST, url: String, headers: [(String, String)], body: Data?, peer: BackendPeer
    ) async throws -> HTTPReply {
        let request = Self.request(method, url: url, headers: headers, body: body)
        let reply: HTTPReply
        do {
            let response = try await client.execute(request, timeout: timeout)
            let buffer = try await response.body.collect(upTo: Self.maxReplyBytes)
            reply = HTTPReply(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
        } catch {
            throw Self.transportError(error, peer: peer, timeout: timeout)
        }
        guard (200..<300).contains(reply.status) else {
            throw Self.statusError(reply, peer: peer)
        }
        return reply
    }

    /// The request: the headers as given, `content-type: application/json` unless they name one.
    static func request(_ method: HTTPMethod, url: String, headers: [(String, String)], body: Data?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in requestHeaders(headers, body: body) { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        return request
    }

    /// The headers as given, then `content-type: application/json` when there is a body and they name none.
    static func requestHeaders(_ headers: [(String, String)], body: Data?) -> [(String, String)] {
        guard body != nil, !headers.contains(where: { HTTP1Request.equalsIgnoringCase($0.0, "content-type") }) else { return headers }
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
    /// transient: the retry policy alone decides whether to try again (the HTTP client does not
    /// retry connection establishment itself, see `BuiltinBackends.makeHTTPClient`).
    static func transportError(_ error: any Error, peer: BackendPeer, timeout: TimeAmount) -> any Error {
        if error is CancellationError { return error }
        if let error = error as? ChatbotTesterError { return error }
        if error is NIOTooManyBytesError { return tooLargeError(peer: peer) }
        if let client = error as? HTTPClientError, client == .cancelled { return CancellationError() }
        let (code, what) = TransportFailure.classify(error, timeout: timeout)
        return ChatbotTesterError(code, "\(peer.peer): \(what)", location: peer.location, retry: .transient)
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
