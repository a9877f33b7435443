import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request: method, URL, the headers in the order given, and the body.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    /// Sent in this order; `content-length`, `transfer-encoding` and `host` (unless given) are the client's.
    public var headers: [(String, String)]
    public var body: Data?

    public init(_ method: HTTPMethod = .GET, url: String, headers: [(String, String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A whole reply, any status: its body read up to the limit the request was sent with and decoded
/// (`gzip`, `deflate`).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders, body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A reply whose body arrives as it comes: the head now, the body's pieces through `body`. The
/// body ends with the reply, or throws an ``HTTPClientError`` (or `CancellationError`); stopping
/// the iteration early closes the connection.
public struct HTTPStreamedResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: AsyncThrowingStream<[UInt8], any Error>

    /// The whole body, up to `limit` bytes (more is ``HTTPClientError/Kind/tooLarge``).
    public func collect(upTo limit: Int) async throws -> Data {
        var data = Data()
        for try await piece in body {
            guard data.count + piece.count <= limit else { throw HTTPClientError.tooLarge(limit) }
            data.append(contentsOf: piece)
        }
        return data
    }
}

/// The project's HTTP client: every backend, the S3 store and the STS exchange send through it.
///
/// - Plain `http://` goes over the own HTTP/1.1 path on Linux: non-blocking sockets on one epoll
///   thread shared by every client of the process, a keep-alive pool per host and port, host names
///   resolved with `getaddrinfo` (remembered for a minute) and tried address by address, IPv6
///   literals, streamed replies, `gzip`/`deflate` bodies.
/// - `https://` goes through Foundation's `URLSession` (libcurl with the system's OpenSSL and CA
///   store on Linux), as does everything when ``Route/foundation`` is chosen or
///   `CHATBOT_TESTER_HTTP_CLIENT=foundation` is set, and everything on platforms without epoll.
/// - Redirects (301, 302, 303, 307, 308 with `Location`) are followed here, up to five, the same
///   way on both paths: 303 (and 301/302 after a `POST`) become a `GET` without a body; a redirect
///   to another origin drops the headers that carry credentials (`authorization`,
///   `proxy-authorization`, `cookie`, `x-api-key`, `api-key`), so a key never travels to a host it
///   was not written for.
/// - Header names and values are checked before anything is sent: a value with CR, LF or another
///   control character is refused (``HTTPClientError/Kind/invalidRequest``), never sent.
/// - Proxies: the own path sends plain `http://` through the proxy `http_proxy` (`HTTP_PROXY`,
///   `all_proxy`) names, except the hosts `no_proxy` lists and loopback hosts
///   (``HTTPProxySettings``); `URLSession` reads the variables itself for `https://`.
///
/// Creating a client is cheap (no thread, no socket): the epoll thread starts with the process's
/// first plain `http://` request and the `URLSession` with the client's first `https://` one.
public final class HTTPClient: Sendable {
    /// Which transport takes a request.
    public enum Route: String, Sendable {
        /// Plain `http://` over the own HTTP/1.1 path (Linux), the rest through `URLSession`.
        case automatic
        /// Everything through `URLSession`.
        case foundation
    }

    /// The process-wide client: made on first use, never shut down.
    public static let shared = HTTPClient()

    /// The own HTTP/1.1 path's I/O thread as a `TaskExecutor` (nil where it is not available): a
    /// process whose tasks mostly wait for replies (a cluster worker on one thread) can run them
    /// there, so a reply resumes its task on the thread that read it instead of waking another.
    /// Its tasks must not block the thread (they would hold every reply up).
    public static var loopExecutor: (any TaskExecutor)? {
        #if os(Linux)
            HTTP1Loop.shared
        #else
            nil
        #endif
    }
    /// Set to `foundation` to send every request of the process's clients through `URLSession`
    /// (`asynchttpclient`, the value of earlier versions, means the same).
    public static let environmentVariable = "CHATBOT_TESTER_HTTP_CLIENT"
    /// The reply limit when the caller gives none.
    public static let defaultMaxBodyBytes = 64 << 20
    /// Redirects followed before the request fails.
    public static let maxRedirects = 5

    /// The transport chosen (``Route/automatic`` unless the environment or the initialiser says otherwise).
    public let route: Route
    /// How long one connection attempt may take (the own path; `URLSession` bounds it by the request's deadline).
    public let connectTimeout: Duration
    /// Idle keep-alive connections kept per host and port (the own path), and `URLSession`'s
    /// `httpMaximumConnectionsPerHost`.
    public let connectionsPerHost: Int

    let own: HTTP1Client?
    let foundation: FoundationTransport
    /// The proxy the own path's requests go through (read from the environment given to `init`).
    let proxies: HTTPProxySettings

    /// - Parameters:
    ///   - connectionsPerHost: idle connections kept per host and port (and the `URLSession` bound).
    ///   - connectTimeout: how long one connection attempt may take.
    ///   - route: ``Route/foundation`` sends everything through `URLSession`.
    ///   - environment: read for ``environmentVariable`` and the proxy variables (``HTTPProxySettings``).
    public init(
        connectionsPerHost: Int = 1024, connectTimeout: Duration = .seconds(10), route: Route = .automatic,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        let choice = environment[Self.environmentVariable]?.lowercased()
        let forced = ["foundation", "urlsession", "asynchttpclient", "ahc"].contains(choice ?? "")
        self.route = forced ? .foundation : route
        self.connectTimeout = connectTimeout
        self.connectionsPerHost = max(1, connectionsPerHost)
        own = self.route == .automatic ? HTTP1Client(connectTimeout: connectTimeout, maxIdlePerEndpoint: self.connectionsPerHost) : nil
        foundation = FoundationTransport(connectionsPerHost: self.connectionsPerHost)
        proxies = HTTPProxySettings(environment: environment)
    }

    /// `request` as the own path sends it (through the proxy its host takes, if any); nil when it
    /// goes through `URLSession` (not plain `http://`, the own path is not in use, a proxy the own
    /// path does not speak).
    /// - Throws: ``HTTPClientError/Kind/invalidRequest`` when the proxy variable that applies is
    ///   no proxy URL (named; its value is not: it may hold a password).
    func ownRequest(_ request: HTTPRequest) throws -> HTTP1Request? {
        guard own != nil else { return nil }
        return try Self.ownRequest(request, proxies: proxies)
    }

    /// `ownRequest(_:)` under `proxies`, whether or not a client takes the own path.
    static func ownRequest(_ request: HTTPRequest, proxies: HTTPProxySettings) throws -> HTTP1Request? {
        guard let target = HTTP1Request.target(request.url) else { return nil }
        let proxy: HTTPProxySettings.Proxy?
        switch proxies.route(host: target.endpoint.host, port: target.endpoint.port) {
        case .direct: proxy = nil
        case .proxy(let through): proxy = through
        case .foundation: return nil
        case .invalid(let variable):
            throw HTTPClientError(.invalidRequest, "\(variable) is not a proxy URL (http://[user:password@]host[:port])")
        }
        return HTTP1Request(request.method, target: target, headers: request.headers, body: request.body, proxy: proxy)
    }

    /// Sends `request` (following redirects) and returns the reply, whatever its status.
    /// - Parameters:
    ///   - timeout: the deadline for the whole exchange, redirects included.
    ///   - maxBodyBytes: a larger reply body is ``HTTPClientError/Kind/tooLarge``.
    /// - Throws: ``HTTPClientError``, or `CancellationError` when the task is cancelled.
    public func send(_ request: HTTPRequest, timeout: Duration, maxBodyBytes: Int = HTTPClient.defaultMaxBodyBytes) async throws
        -> HTTPResponse
    {
        try await following(request, timeout: timeout) { current, deadline in
            let response: HTTPResponse
            if let own, let wire = try ownRequest(current) {
                response = try await own.send(wire, deadline: deadline, timeout: timeout, maxBodyBytes: maxBodyBytes)
            } else {
                let streamed = try await foundation.start(current, deadline: deadline, timeout: timeout, maxBodyBytes: maxBodyBytes)
                response = HTTPResponse(
                    status: streamed.status, headers: streamed.headers, body: try await streamed.collect(upTo: maxBodyBytes))
            }
            return (response, response.status, response.headers)
        }
    }

    /// Sends `request` (following redirects) and returns the reply's head with its body still arriving.
    /// - Parameters:
    ///   - timeout: the deadline for the whole exchange, the body's last byte included.
    ///   - maxBodyBytes: the body fails with ``HTTPClientError/Kind/tooLarge`` beyond this.
    public func stream(_ request: HTTPRequest, timeout: Duration, maxBodyBytes: Int = HTTPClient.defaultMaxBodyBytes) async throws
        -> HTTPStreamedResponse
    {
        try await following(request, timeout: timeout, discard: Self.discard) { current, deadline in
            let response: HTTPStreamedResponse
            if let own, let wire = try ownRequest(current) {
                response = try await own.stream(wire, deadline: deadline, timeout: timeout, maxBodyBytes: maxBodyBytes)
            } else {
                response = try await foundation.start(current, deadline: deadline, timeout: timeout, maxBodyBytes: maxBodyBytes)
            }
            return (response, response.status, response.headers)
        }
    }

    /// Checks `request`, then sends it with `once` (given the request and the shared deadline) and
    /// again for each redirect its replies ask for.
    private func following<Reply>(
        _ request: HTTPRequest, timeout: Duration, discard: (Reply) -> Void = { _ in },
        _ once: (HTTPRequest, UInt64) async throws -> (Reply, Int, HTTPHeaders)
    ) async throws -> Reply {
        try Self.validate(request)
        let deadline = HTTPClock.deadline(after: timeout)
        var current = request
        var seen: Set<String> = []  // the URLs requested, once a redirect came
        while true {
            let (reply, status, headers) = try await once(current, deadline)
            guard let next = try Self.redirect(current, status: status, headers: headers, seen: &seen) else { return reply }
            discard(reply)
            current = next
        }
    }

    /// Ends a redirecting reply's body unread: an iterator made and dropped cancels its stream,
    /// which closes the connection (a stream that is merely dropped stays open while its producer
    /// holds it).
    private static func discard(_ response: HTTPStreamedResponse) {
        _ = response.body.makeAsyncIterator()
    }

    /// Refuses what HTTP cannot carry as given: a header name that is not a token, a value with a
    /// control character (CR and LF above all: they would start a header of the peer's choosing).
    static func validate(_ request: HTTPRequest) throws {
        for (name, value) in request.headers {
            guard HTTP1Request.isToken(name) else { throw HTTPClientError(.invalidRequest, "invalid header name") }
            guard HTTP1Request.isFieldValue(value) else { throw HTTPClientError(.invalidRequest, "invalid value for header \(name)") }
        }
    }

    /// Headers that carry credentials: dropped when a redirect leads to another origin.
    static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"]

    /// The request a redirect asks for, `nil` when `status` is not one; throws past ``maxRedirects``
    /// or on a cycle.
    static func redirect(_ request: HTTPRequest, status: Int, headers: HTTPHeaders, seen: inout Set<String>) throws -> HTTPRequest? {
        guard [301, 302, 303, 307, 308].contains(status), let location = headers.first(name: "location"),
            let base = URL(string: request.url), let target = URL(string: location, relativeTo: base)?.absoluteURL,
            let scheme = target.scheme?.lowercased(), scheme == "http" || scheme == "https", target.host != nil
        else { return nil }
        if seen.isEmpty { seen.insert(request.url) }
        guard seen.count <= maxRedirects else { throw HTTPClientError(.invalidRequest, "more than \(maxRedirects) redirects") }
        let url = target.absoluteString
        guard seen.insert(url).inserted else { throw HTTPClientError(.invalidRequest, "redirect cycle") }
        var next = request
        next.url = url
        if status == 303 && request.method != .HEAD || (status == 301 || status == 302) && request.method == .POST {
            next.method = .GET
            next.body = nil
            next.headers.removeAll { ["content-type", "content-length", "transfer-encoding"].contains($0.0.lowercased()) }
        }
        next.headers.removeAll { $0.0.lowercased() == "host" }
        if origin(base) != origin(target) {
            next.headers.removeAll { credentialHeaders.contains($0.0.lowercased()) }
        }
        return next
    }

    private static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }
}

/// Monotonic nanoseconds: the own path's loop and the deadlines share this clock.
enum HTTPClock {
    static func now() -> UInt64 {
        #if canImport(Glibc)
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        #else
        return DispatchTime.now().uptimeNanoseconds
        #endif
    }

    static func deadline(after timeout: Duration) -> UInt64 {
        now() + nanoseconds(timeout)
    }

    /// A duration in whole nanoseconds (0 for a negative one).
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(max(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000, 0))
    }

    /// Nanoseconds from now to `deadline` (0 once it has passed).
    static func remaining(until deadline: UInt64) -> UInt64 {
        let now = now()
        return deadline > now ? deadline - now : 0
    }
}
