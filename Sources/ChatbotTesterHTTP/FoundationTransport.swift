import ChatbotTesterCore
import Foundation
import NIOHTTP1

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The `URLSession` path (`https://`, and everything when chosen): one session per client, made
/// on its first request, without cookies, cache or credential storage, which does not follow
/// redirects itself (``HTTPClient`` does, the same way for both paths). Every reply is streamed
/// from the session's delegate into an `AsyncThrowingStream`; `send` collects it.
final class FoundationTransport: Sendable {
    private let connectionsPerHost: Int
    private let state = Locked<(session: URLSession, delegate: FoundationSessionDelegate)?>(nil)

    init(connectionsPerHost: Int) {
        self.connectionsPerHost = connectionsPerHost
    }

    deinit {
        state.withLock { $0?.session.invalidateAndCancel() }
    }

    private func session() -> (URLSession, FoundationSessionDelegate) {
        state.withLock { state in
            if let state { return (state.session, state.delegate) }
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = connectionsPerHost
            configuration.httpCookieStorage = nil
            configuration.httpShouldSetCookies = false
            configuration.urlCache = nil
            configuration.urlCredentialStorage = nil
            configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
            // The deadline is the caller's (see `start`); these only must not come first.
            configuration.timeoutIntervalForRequest = 7 * 24 * 3600
            configuration.timeoutIntervalForResource = 7 * 24 * 3600
            let delegate = FoundationSessionDelegate()
            let queue = OperationQueue()
            queue.maxConcurrentOperationCount = 1
            queue.name = "chatbot-tester.urlsession"
            let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
            state = (session, delegate)
            return (session, delegate)
        }
    }

    /// Sends `request` and returns once the reply's head arrived.
    func start(_ request: HTTPRequest, deadline: UInt64, timeout: Duration, maxBodyBytes: Int) async throws -> HTTPStreamedResponse {
        try Task.checkCancellation()
        guard let url = URL(string: request.url), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host != nil
        else { throw HTTPClientError(.invalidRequest, "not an http or https URL") }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method.rawValue
        for (name, value) in request.headers where !["content-length", "transfer-encoding"].contains(name.lowercased()) {
            urlRequest.addValue(value, forHTTPHeaderField: name)
        }
        if let body = request.body, !body.isEmpty || ![.GET, .HEAD].contains(request.method) {
            urlRequest.httpBody = body
        }
        let (session, delegate) = session()
        let (body, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let task = session.dataTask(with: urlRequest)
        let exchange = FoundationExchange(task: task, body: continuation, maxBodyBytes: maxBodyBytes, timeout: timeout)
        continuation.onTermination = { reason in
            if case .cancelled = reason { exchange.cancel(because: nil) }
        }
        // Read once: two readings could straddle the deadline and underflow.
        let remaining = HTTPClock.remaining(until: deadline)
        let head = await withTaskCancellationHandler {
            await withCheckedContinuation { (waiting: CheckedContinuation<Result<(Int, HTTPHeaders), any Error>, Never>) in
                exchange.setHead(waiting)
                delegate.add(exchange)
                let timer = DispatchWorkItem { exchange.cancel(because: HTTPClientError.timeout(timeout)) }
                exchange.setTimer(timer)
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(min(remaining, UInt64(Int.max)))), execute: timer)
                task.resume()
            }
        } onCancel: {
            exchange.cancel(because: CancellationError())
        }
        let (status, headers) = try head.get()
        return HTTPStreamedResponse(status: status, headers: headers, body: body)
    }
}

/// One `URLSessionDataTask` from its start to its end: the head resumes the sending task, the body
/// goes into the stream. The delegate's queue and the cancelling tasks meet under its lock.
final class FoundationExchange: Sendable {
    private struct State {
        var head: CheckedContinuation<Result<(Int, HTTPHeaders), any Error>, Never>?
        var received = 0
        /// Why the exchange was cancelled (a deadline, the limit, the caller), reported instead of `URLSession`'s error.
        var reason: (any Error)?
        var ended = false
        /// The deadline's work item, cancelled when the exchange ends (it holds the exchange until then).
        var timer: DispatchWorkItem?
    }

    let task: URLSessionDataTask
    private let body: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private let maxBodyBytes: Int
    private let timeout: Duration
    private let state = Locked(State())

    init(task: URLSessionDataTask, body: AsyncThrowingStream<[UInt8], any Error>.Continuation, maxBodyBytes: Int, timeout: Duration) {
        self.task = task
        self.body = body
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
    }

    func setHead(_ continuation: CheckedContinuation<Result<(Int, HTTPHeaders), any Error>, Never>) {
        state.withLock { $0.head = continuation }
    }

    func setTimer(_ timer: DispatchWorkItem) {
        state.withLock { $0.timer = timer }
    }

    /// Ends the exchange with `reason` (nil: the caller stopped reading) and cancels the task.
    func cancel(because reason: (any Error)?) {
        let ended = state.withLock { state -> Bool in
            if state.ended { return true }
            if state.reason == nil { state.reason = reason ?? CancellationError() }
            return false
        }
        if !ended { task.cancel() }
    }

    func received(_ response: URLResponse) {
        guard let http = response as? HTTPURLResponse else { return }
        // A declared length over the limit is refused before a byte of the body is read.
        if http.expectedContentLength > Int64(maxBodyBytes) {
            cancel(because: HTTPClientError.tooLarge(maxBodyBytes))
            return
        }
        var headers = HTTPHeaders()
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers.add(name: name, value: value) }
        }
        let head = state.withLock { state in
            defer { state.head = nil }
            return state.head
        }
        head?.resume(returning: .success((http.statusCode, headers)))
    }

    func received(_ data: Data) {
        let over = state.withLock { state -> Bool in
            state.received += data.count
            return state.received > maxBodyBytes
        }
        if over {
            cancel(because: HTTPClientError.tooLarge(maxBodyBytes))
        } else {
            body.yield([UInt8](data))
        }
    }

    func completed(_ error: (any Error)?) {
        let (head, reason, timer) = state.withLock { state in
            defer {
                state.head = nil
                state.ended = true
                state.timer = nil
            }
            return (state.head, state.reason, state.timer)
        }
        timer?.cancel()
        let failure = reason ?? error.map(Self.classify)
        if let head {
            head.resume(returning: .failure(failure ?? HTTPClientError.closedBeforeReply))
            body.finish()
        } else if let failure {
            body.finish(throwing: failure)
        } else {
            body.finish()
        }
    }

    /// `URLSession`'s error as an ``HTTPClientError`` (libcurl's own message for the rest).
    static func classify(_ error: any Error) -> any Error {
        let error = error as NSError
        var detail = error.localizedDescription
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError {
            detail = underlying.localizedDescription
        }
        let text = String(detail.prefix(200))
        switch error.code {
        case NSURLErrorCancelled: return CancellationError()
        case NSURLErrorTimedOut: return HTTPClientError(.timeout, "no reply in time")
        case NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: return HTTPClientError(.dns, "DNS lookup failed")
        case NSURLErrorCannotConnectToHost: return HTTPClientError(.connectionRefused, "connection refused")
        case NSURLErrorNetworkConnectionLost: return HTTPClientError.closedBeforeReply
        case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateHasBadDate, NSURLErrorServerCertificateUntrusted,
            NSURLErrorServerCertificateHasUnknownRoot, NSURLErrorServerCertificateNotYetValid, NSURLErrorClientCertificateRejected,
            NSURLErrorClientCertificateRequired:
            return HTTPClientError(.tls, "TLS failed: \(text)")
        default:
            let lower = text.lowercased()
            if lower.contains("ssl") || lower.contains("tls") || lower.contains("certificate") {
                return HTTPClientError(.tls, "TLS failed: \(text)")
            }
            if lower.contains("could not resolve") { return HTTPClientError(.dns, "DNS lookup failed") }
            // libcurl's words for a reply cut short or never sent.
            if lower.contains("transfer closed") || lower.contains("empty reply") || lower.contains("connection reset")
                || lower.contains("recv failure") || lower.contains("send failure")
            {
                return HTTPClientError.closedBeforeReply
            }
            if lower.contains("connection refused") { return HTTPClientError(.connectionRefused, "connection refused") }
            return HTTPClientError(.transport, "request failed: \(text)")
        }
    }
}

/// The session's delegate: routes each task's events to its exchange; never follows a redirect.
final class FoundationSessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private let exchanges = Locked<[Int: FoundationExchange]>([:])

    func add(_ exchange: FoundationExchange) {
        exchanges.withLock { $0[exchange.task.taskIdentifier] = exchange }
    }

    private func exchange(_ task: URLSessionTask) -> FoundationExchange? {
        exchanges.withLock { $0[task.taskIdentifier] }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        exchange(dataTask)?.received(response)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        exchange(dataTask)?.received(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let exchange = exchanges.withLock { $0.removeValue(forKey: task.taskIdentifier) }
        exchange?.completed(error)
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
