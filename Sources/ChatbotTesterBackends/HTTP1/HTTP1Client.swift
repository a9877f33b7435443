import AsyncHTTPClient
import ChatbotTesterCore
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPCompression

#if canImport(Glibc)
import Glibc
#endif

/// The own HTTP/1.1 client path for plain `http://` targets (docs/backends.md, "Which HTTP client a
/// request takes"): non-blocking sockets on one epoll thread, a keep-alive pool per host and port
/// that holds at most as many connections as were ever in flight at once, and a hand-written reply
/// parser. It sends the bytes AsyncHTTPClient sends and reports failures with the same codes and
/// phrases; what it does not handle (https, host names other than `localhost`, streaming, redirects)
/// goes through AsyncHTTPClient.
///
/// Reuse and retries: a pooled connection idle for more than a second is checked (a non-blocking
/// peek) before it is used; one idle for a minute is closed. When a reused connection fails before
/// a single byte of the reply arrived (the server closed it as the request went out), the request
/// is sent once more on a fresh connection, as browsers do. In every other case (a fresh
/// connection, part of a reply read, a timeout) nothing is sent twice: the failure is reported and
/// the retry policy decides.
final class HTTP1Client: Sendable {
    /// What the own path made of a request.
    enum Answer: Sendable {
        case reply(HTTPReply)
        /// Send it through AsyncHTTPClient instead (a redirect; `localhost` refused on 127.0.0.1).
        case fallback
    }

    /// Set to `asynchttpclient` to send every request through AsyncHTTPClient.
    static let environmentVariable = "CHATBOT_TESTER_HTTP_CLIENT"

    /// The process's own client, or `nil` when it is switched off (``environmentVariable``) or the
    /// platform has no epoll (then AsyncHTTPClient takes every request).
    static let shared: HTTP1Client? = {
        let choice = ProcessInfo.processInfo.environment[environmentVariable]?.lowercased()
        guard choice != "asynchttpclient", choice != "ahc" else { return nil }
        #if os(Linux)
        return HTTP1Loop.shared.map { HTTP1Client(loop: $0) }
        #else
        return nil
        #endif
    }()

    /// How long one connection attempt may take (as `BuiltinBackends.makeHTTPClient`'s default).
    static let connectTimeout: TimeAmount = .seconds(10)
    /// Pooled connections per host and port beyond this are closed rather than kept.
    static let maxIdlePerEndpoint = 1024

    #if os(Linux)
    private struct Idle {
        var fd: Int32
        var since: UInt64
    }

    private let loop: HTTP1Loop
    private let pool = Locked<[HTTP1Request.Endpoint: [Idle]]>([:])

    private init(loop: HTTP1Loop) {
        self.loop = loop
    }
    #endif

    /// Sends `request` and returns its reply (any status), or `.fallback`; throws a
    /// `ChatbotTesterError` naming `peer` (or `CancellationError`) as `BackendHTTP.transportError` would.
    func send(_ request: HTTP1Request, peer: BackendPeer, timeout: TimeAmount) async throws -> Answer {
        #if os(Linux)
        try Task.checkCancellation()
        let start = HTTP1Loop.now()
        let deadline = start + UInt64(max(timeout.nanoseconds, 0))
        let connectDeadline = start + UInt64(Self.connectTimeout.nanoseconds)
        var retried = false
        while true {
            // The one retry goes out on a fresh connection, never on another pooled one.
            let idle = retried ? nil : take(request.endpoint)
            let (outcome, fd) = await exchange(request, idle: idle, deadline: deadline, connectDeadline: connectDeadline)
            switch outcome {
            case .reply(let status, let fields, let body, let reusable):
                if reusable { put(fd, request.endpoint) }
                var headers = HTTPHeaders()
                headers.reserveCapacity(fields.count)
                for (name, value) in fields { headers.add(name: name, value: value) }
                if (300..<400).contains(status), status != 304, headers.contains(name: "location") { return .fallback }
                return .reply(try Self.decoded(HTTPReply(status: status, headers: headers, body: Data(body)), peer: peer, timeout: timeout))
            case .closed(let code, 0) where idle != nil && !retried && (code == nil || code == ECONNRESET || code == EPIPE):
                retried = true
            case .closed(ECONNREFUSED, _) where idle == nil && request.endpoint.isLocalhost:
                return .fallback
            default:
                throw Self.error(outcome, peer: peer, timeout: timeout)
            }
        }
        #else
        return .fallback
        #endif
    }

    /// A reply with `content-encoding: gzip` or `deflate` decoded by the decompressor AsyncHTTPClient
    /// uses (same limit: 50 times the compressed size); other replies as they are.
    static func decoded(_ reply: HTTPReply, peer: BackendPeer, timeout: TimeAmount) throws -> HTTPReply {
        guard let encoding = reply.headers.first(name: "content-encoding")?.lowercased(),
            encoding.contains("gzip") || encoding.contains("deflate")
        else { return reply }
        do {
            let channel = EmbeddedChannel()
            defer { _ = try? channel.finish() }
            try channel.pipeline.syncOperations.addHandler(NIOHTTPResponseDecompressor(limit: .ratio(50)))
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: reply.headers)
            try channel.writeInbound(HTTPClientResponsePart.head(head))
            try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(bytes: reply.body)))
            try channel.writeInbound(HTTPClientResponsePart.end(nil))
            var decoded = HTTPReply(status: reply.status, headers: reply.headers, body: Data())
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case .head(let head): decoded.headers = head.headers
                case .body(let buffer): decoded.body.append(contentsOf: buffer.readableBytesView)
                case .end: break
                }
            }
            return decoded
        } catch {
            throw BackendHTTP.transportError(error, peer: peer, timeout: timeout)
        }
    }

    #if os(Linux)
    /// The error AsyncHTTPClient's path reports for the same failure (`TransportFailure.classify`).
    static func error(_ outcome: HTTP1Outcome, peer: BackendPeer, timeout: TimeAmount) -> any Error {
        let failure: any Error
        switch outcome {
        case .cancelled:
            return CancellationError()
        case .invalid(.tooLarge):
            return BackendHTTP.tooLargeError(peer: peer)
        case .invalid(.invalid(let reason)):
            return ChatbotTesterError(
                .transport, "\(peer.peer): request failed: invalid HTTP reply (\(reason))", location: peer.location, retry: .transient)
        case .deadline:
            failure = HTTPClientError.deadlineExceeded
        case .connectTimeout:
            failure = HTTPClientError.connectTimeout
        case .closed(let code?, _):
            failure = IOError(errnoCode: code, reason: "socket")
        case .closed(nil, 0), .reply:
            failure = HTTPClientError.remoteConnectionClosed
        case .closed(nil, _):
            // Closed part-way through the reply: AsyncHTTPClient's parser reports this one.
            failure = HTTPParserError.invalidEOFState
        }
        return BackendHTTP.transportError(failure, peer: peer, timeout: timeout)
    }

    /// One try on one connection (a pooled one, or a new one when `idle` is nil): the outcome and the socket.
    private func exchange(_ request: HTTP1Request, idle: Idle?, deadline: UInt64, connectDeadline: UInt64) async -> (HTTP1Outcome, Int32) {
        let fd: Int32
        var phase = HTTP1Exchange.Phase.writing
        if let idle {
            fd = idle.fd
        } else {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return (.closed(errno: errno, received: 0), fd) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(request.endpoint.port).bigEndian)
            let host = request.endpoint.isLocalhost ? "127.0.0.1" : request.endpoint.host
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                close(fd)
                return (.closed(errno: EINVAL, received: 0), -1)
            }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if result != 0 {
                let code = errno
                guard code == EINPROGRESS else {
                    close(fd)
                    return (.closed(errno: code, received: 0), -1)
                }
                phase = .connecting
            }
        }
        let exchange = HTTP1Exchange(
            id: loop.makeID(), fd: fd, inEpoll: idle != nil, phase: phase, out: request.bytes,
            parser: HTTP1ReplyParser(maxBodyBytes: BackendHTTP.maxReplyBytes, headRequest: request.method == .HEAD),
            deadline: deadline, connectDeadline: connectDeadline)
        if phase == .writing {
            switch HTTP1Loop.write(exchange) {
            case .done: exchange.phase = .reading
            case .wouldBlock: break
            case .failed(let code):
                close(fd)
                return (.closed(errno: code, received: 0), -1)
            }
        }
        let loop = self.loop
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                exchange.continuation = continuation
                loop.register(exchange)
            }
        } onCancel: {
            loop.cancel(exchange)
        }
        return (outcome, fd)
    }

    /// A pooled connection to `endpoint` that still looks open, or `nil`.
    private func take(_ endpoint: HTTP1Request.Endpoint) -> Idle? {
        let now = HTTP1Loop.now()
        while let idle = pool.withLock({ $0[endpoint]?.popLast() }) {
            let age = now &- idle.since
            if age > 60_000_000_000 {
                close(idle.fd)
                continue
            }
            if age > 1_000_000_000 {
                // Closed by the server (end of file), or bytes nobody asked for: not reusable.
                var byte: UInt8 = 0
                let peeked = recv(idle.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
                guard peeked < 0, errno == EAGAIN || errno == EWOULDBLOCK else {
                    close(idle.fd)
                    continue
                }
            }
            return idle
        }
        return nil
    }

    private func put(_ fd: Int32, _ endpoint: HTTP1Request.Endpoint) {
        let kept = pool.withLock { pool -> Bool in
            guard pool[endpoint, default: []].count < Self.maxIdlePerEndpoint else { return false }
            pool[endpoint, default: []].append(Idle(fd: fd, since: HTTP1Loop.now()))
            return true
        }
        if !kept { close(fd) }
    }
    #endif
}
