import ChatbotTesterCore
import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The own HTTP/1.1 path for plain `http://` (docs/backends.md, "Which HTTP client a request
/// takes"): non-blocking sockets on the process's one epoll thread (``HTTP1Loop``), a keep-alive
/// pool per host and port, host names resolved by ``HTTP1Resolver`` and tried address by address,
/// and a hand-written reply parser.
///
/// Reuse and retries: a pooled connection idle for more than a second is checked (a non-blocking
/// peek) before it is used; one idle for a minute is closed. When a reused connection fails before
/// a single byte of the reply arrived (the server closed it as the request went out), the request
/// is sent once more on a fresh connection, as browsers do. A fresh connection that is refused or
/// finds no route sent nothing, so the next address of the host is tried. In every other case (part
/// of a reply read, a timeout) nothing is sent twice: the failure is reported and the caller's
/// retry policy decides. A streamed reply always has a fresh connection of its own, closed after it.
final class HTTP1Client: Sendable {
    #if os(Linux)
    private struct Idle {
        var fd: Int32
        var since: UInt64
    }

    private let loop: HTTP1Loop
    private let pool = Locked<[HTTP1Request.Endpoint: [Idle]]>([:])
    private let connectTimeout: UInt64
    private let maxIdlePerEndpoint: Int

    /// A client on the process's loop, or `nil` when the platform has no epoll.
    init?(connectTimeout: Duration, maxIdlePerEndpoint: Int) {
        guard let loop = HTTP1Loop.shared else { return nil }
        self.loop = loop
        self.connectTimeout = HTTPClock.nanoseconds(connectTimeout)
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
    }

    deinit {
        for idle in pool.withLock({ $0.values.flatMap { $0 } }) { close(idle.fd) }
    }

    /// A connection `connected` just opened (or is still opening).
    private struct Fresh {
        var fd: Int32
        var connecting: Bool
        var connectDeadline: UInt64
    }

    /// Sends `request` and returns its reply (any status, decoded).
    func send(_ request: HTTP1Request, deadline: UInt64, timeout: Duration, maxBodyBytes: Int) async throws -> HTTPResponse {
        try Task.checkCancellation()
        var retried = false
        while true {
            // The one retry goes out on a fresh connection, never on another pooled one.
            let idle = retried ? nil : take(request.endpoint)
            let outcome: HTTP1Outcome
            let fd: Int32
            if let idle {
                fd = idle.fd
                let exchange = makeExchange(request, fd: fd, phase: .writing, inEpoll: true, connectDeadline: deadline, deadline: deadline, maxBodyBytes: maxBodyBytes, sink: nil)
                outcome = await run(exchange)
            } else {
                (outcome, fd) = try await connected(request, deadline: deadline) { fresh in
                    let exchange = self.makeExchange(
                        request, fd: fresh.fd, phase: fresh.connecting ? .connecting : .writing, inEpoll: false,
                        connectDeadline: fresh.connectDeadline, deadline: deadline, maxBodyBytes: maxBodyBytes, sink: nil)
                    let outcome = await self.run(exchange)
                    return ((outcome, fresh.fd), Self.isConnectFailure(outcome))
                }
            }
            switch outcome {
            case .reply(let status, let fields, let body, let reusable):
                if reusable { put(fd, request.endpoint) }
                var headers = HTTPHeaders()
                headers.reserveCapacity(fields.count)
                for (name, value) in fields { headers.add(name: name, value: value) }
                let decoded = try HTTPBodyDecoder.decode(body, status: status, headers: headers)
                return HTTPResponse(status: status, headers: headers, body: Data(decoded))
            case .closed(let code, 0) where idle != nil && !retried && (code == nil || code == ECONNRESET || code == EPIPE):
                retried = true
            default:
                throw Self.error(outcome, timeout: timeout, maxBodyBytes: maxBodyBytes)
            }
        }
    }

    /// Sends `request` on a fresh connection and returns once the reply's head arrived.
    func stream(_ request: HTTP1Request, deadline: UInt64, timeout: Duration, maxBodyBytes: Int) async throws -> HTTPStreamedResponse {
        try Task.checkCancellation()
        let loop = self.loop
        let start: HTTP1StreamSink.Start
        let body: AsyncThrowingStream<[UInt8], any Error>
        (start, body) = try await connected(request, deadline: deadline) { fresh in
            let (body, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            let sink = HTTP1StreamSink(body: continuation) { Self.error($0, timeout: timeout, maxBodyBytes: maxBodyBytes) }
            let exchange = self.makeExchange(
                request, fd: fresh.fd, phase: fresh.connecting ? .connecting : .writing, inEpoll: false,
                connectDeadline: fresh.connectDeadline, deadline: deadline, maxBodyBytes: maxBodyBytes, sink: sink)
            continuation.onTermination = { reason in
                if case .cancelled = reason { loop.cancel(exchange) }
            }
            let start = await withTaskCancellationHandler {
                await withCheckedContinuation { (waiting: CheckedContinuation<HTTP1StreamSink.Start, Never>) in
                    sink.start = waiting
                    self.begin(exchange)
                }
            } onCancel: {
                loop.cancel(exchange)
            }
            if case .ended(let outcome) = start { return ((start, body), Self.isConnectFailure(outcome)) }
            return ((start, body), false)
        }
        switch start {
        case .head(let status, let fields):
            var headers = HTTPHeaders()
            for (name, value) in fields { headers.add(name: name, value: value) }
            return HTTPStreamedResponse(status: status, headers: headers, body: body)
        case .ended(let outcome):
            throw Self.error(outcome, timeout: timeout, maxBodyBytes: maxBodyBytes)
        }
    }

    /// The error for an outcome that is not a reply.
    static func error(_ outcome: HTTP1Outcome, timeout: Duration, maxBodyBytes: Int) -> any Error {
        switch outcome {
        case .cancelled: return CancellationError()
        case .invalid(.tooLarge): return HTTPClientError.tooLarge(maxBodyBytes)
        case .invalid(.invalid(let reason)): return HTTPClientError(.invalidReply, "invalid HTTP reply (\(reason))")
        case .deadline: return HTTPClientError.timeout(timeout)
        case .connectTimeout: return HTTPClientError.connectTimeout
        case .closed(let code?, _): return HTTPClientError.socket(errno: code)
        case .closed(nil, _), .reply: return HTTPClientError.closedBeforeReply
        }
    }

    /// Whether `outcome` is a fresh connection's failure to connect (nothing was sent).
    private static func isConnectFailure(_ outcome: HTTP1Outcome) -> Bool {
        if case .closed(let code?, 0) = outcome { return HTTPClientError.isConnectFailure(errno: code) }
        return false
    }

    /// Resolves the endpoint and runs `body` on a fresh connection to each address in turn, while
    /// it reports a failure to connect (its second value) and addresses remain; the last one's
    /// value stands. All addresses share one connect deadline.
    private func connected<Value>(
        _ request: HTTP1Request, deadline: UInt64, _ body: (Fresh) async throws -> (Value, Bool)
    ) async throws -> Value {
        let endpoint = request.endpoint
        let addresses: [HTTP1Address]
        switch await HTTP1Resolver.addresses(endpoint.host, port: endpoint.port) {
        case .success(let found): addresses = found
        case .failure(let error): throw error
        }
        try Task.checkCancellation()
        let connectDeadline = min(deadline, HTTPClock.now() + connectTimeout)
        // When every address fails at once, the first one's reason is reported (127.0.0.1 refused
        // says more than "address family not supported" for ::1 on a host without IPv6).
        var firstFailure: HTTPClientError?
        var failedAsync: Value?
        var index = 0
        while true {
            let address = addresses[index]
            let isLast = index == addresses.count - 1
            index += 1
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                let failure = HTTPClientError.socket(errno: errno)
                if isLast, let failedAsync { return failedAsync }
                if isLast { throw firstFailure ?? failure }
                firstFailure = firstFailure ?? failure
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var storage = address.storage
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
            }
            let code = errno
            if result != 0, code != EINPROGRESS {
                close(fd)
                let failure = HTTPClientError.socket(errno: code)
                guard HTTPClientError.isConnectFailure(errno: code) else { throw failure }
                if isLast, let failedAsync { return failedAsync }
                if isLast { throw firstFailure ?? failure }
                firstFailure = firstFailure ?? failure
                continue
            }
            let (value, failedToConnect) = try await body(Fresh(fd: fd, connecting: result != 0, connectDeadline: connectDeadline))
            if failedToConnect, !isLast {
                if firstFailure == nil { failedAsync = failedAsync ?? value }
                continue
            }
            return value
        }
    }

    /// Hands `exchange` to the loop and waits for its outcome.
    private func run(_ exchange: HTTP1Exchange) async -> HTTP1Outcome {
        let loop = self.loop
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                exchange.continuation = continuation
                begin(exchange)
            }
        } onCancel: {
            loop.cancel(exchange)
        }
    }

    private func makeExchange(
        _ request: HTTP1Request, fd: Int32, phase: HTTP1Exchange.Phase, inEpoll: Bool, connectDeadline: UInt64, deadline: UInt64,
        maxBodyBytes: Int, sink: HTTP1StreamSink?
    ) -> HTTP1Exchange {
        HTTP1Exchange(
            id: loop.makeID(), fd: fd, inEpoll: inEpoll, phase: phase, out: request.bytes,
            parser: HTTP1ReplyParser(maxBodyBytes: maxBodyBytes, headRequest: request.method == .HEAD),
            deadline: deadline, connectDeadline: connectDeadline, sink: sink)
    }

    /// Writes what fits at once (unless still connecting) and hands the exchange to the loop.
    private func begin(_ exchange: HTTP1Exchange) {
        if exchange.phase == .writing {
            switch HTTP1Loop.write(exchange) {
            case .done: exchange.phase = .reading
            case .wouldBlock: break
            case .failed(let code):
                close(exchange.fd)
                exchange.complete(.closed(errno: code, received: 0))
                return
            }
        }
        loop.register(exchange)
    }

    /// A pooled connection to `endpoint` that still looks open, or `nil`.
    private func take(_ endpoint: HTTP1Request.Endpoint) -> Idle? {
        let now = HTTPClock.now()
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
            guard pool[endpoint, default: []].count < maxIdlePerEndpoint else { return false }
            pool[endpoint, default: []].append(Idle(fd: fd, since: HTTPClock.now()))
            return true
        }
        if !kept { close(fd) }
    }
    #else
    init?(connectTimeout: Duration, maxIdlePerEndpoint: Int) {
        return nil
    }

    func send(_ request: HTTP1Request, deadline: UInt64, timeout: Duration, maxBodyBytes: Int) async throws -> HTTPResponse {
        throw HTTPClientError(.transport, "no own HTTP/1.1 path on this platform")
    }

    func stream(_ request: HTTP1Request, deadline: UInt64, timeout: Duration, maxBodyBytes: Int) async throws -> HTTPStreamedResponse {
        throw HTTPClientError(.transport, "no own HTTP/1.1 path on this platform")
    }
    #endif
}
