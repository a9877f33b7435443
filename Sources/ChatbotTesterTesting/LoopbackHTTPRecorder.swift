import ChatbotTesterCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every request's exact bytes (head and body)
/// and answers with what `respond` returns. For tests that assert what a bot receives: headers,
/// bodies, byte for byte.
///
/// ```swift
/// let server = try LoopbackHTTPRecorder { _ in .json(#"{"reply": "ok"}"#) }
/// defer { server.close() }
/// // point an `http` backend at "http://127.0.0.1:\(server.port)/chat" …
/// server.requests.map(\.raw)
/// ```
/// Keep-alive connections are served; each connection has its own thread (blocking I/O), which is
/// fine for tests and wrong for anything else.
public final class LoopbackHTTPRecorder: Sendable {
    /// One request as received.
    public struct Request: Sendable, Hashable {
        /// The request line and headers, up to and including the blank line.
        public var head: String
        /// The body (as many bytes as `Content-Length` said).
        public var body: Data
        /// Head and body, exactly as read from the socket.
        public var raw: Data { Data(head.utf8) + body }

        /// The first value of a header (case-insensitive name).
        public func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == name.lowercased() {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    /// An answer: status, content type and body.
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: Data

        public init(status: Int = 200, contentType: String = "application/json", body: Data) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// A JSON answer.
        public static func json(_ text: String, status: Int = 200) -> Response {
            Response(status: status, body: Data(text.utf8))
        }
    }

    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let listener: Int32
    private let recorded = Locked<[Request]>([])
    private let connections = Locked<[Int32]>([])
    private let respond: @Sendable (Request) -> Response

    /// Starts listening on an ephemeral loopback port.
    public init(respond: @escaping @Sendable (Request) -> Response) throws {
        self.respond = respond
        let (fd, port) = try LoopbackSocket.listen(backlog: 64)
        listener = fd
        self.port = port
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Every request received so far, in arrival order.
    public var requests: [Request] { recorded.current }

    /// Stops listening and closes open connections.
    public func close() {
        _ = shutdown(listener, Int32(SHUT_RDWR))
        // Under the lock that `serve` closes under: a descriptor number closed there may already
        // belong to another socket of the process.
        connections.withLock { open in
            for fd in open { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    deinit {
        close()
        closeDescriptor(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            connections.withLock { $0.append(client) }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            connections.withLock { open in
                open.removeAll { $0 == fd }
                closeDescriptor(fd)
            }
        }
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    buffer.append(contentsOf: chunk[0..<n])
                    return true
                }
                if n < 0, errno == EINTR { continue }
                return false
            }
        }
        let separator = Data("\r\n\r\n".utf8)
        while true {
            var headEnd = buffer.range(of: separator)
            while headEnd == nil {
                guard fill() else { return }
                headEnd = buffer.range(of: separator)
            }
            let head = String(decoding: buffer[buffer.startIndex..<headEnd!.upperBound], as: UTF8.self)
            var request = Request(head: head, body: Data())
            let length = request.header("Content-Length").flatMap(Int.init) ?? 0
            while buffer.distance(from: headEnd!.upperBound, to: buffer.endIndex) < length {
                guard fill() else { return }
            }
            let bodyStart = headEnd!.upperBound
            let bodyEnd = buffer.index(bodyStart, offsetBy: length)
            request.body = Data(buffer[bodyStart..<bodyEnd])
            buffer = Data(buffer[bodyEnd...])
            recorded.withLock { $0.append(request) }
            let response = respond(request)
            var out = Data(
                ("HTTP/1.1 \(response.status) \(response.status < 400 ? "OK" : "Error")\r\nContent-Type: \(response.contentType)\r\n"
                    + "Content-Length: \(response.body.count)\r\nConnection: keep-alive\r\n\r\n").utf8)
            out.append(response.body)
            var written = 0
            while written < out.count {
                let n = out.withUnsafeBytes { write(fd, $0.baseAddress! + written, out.count - written) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }
                written += n
            }
        }
    }
}

private func closeDescriptor(_ fd: Int32) {
    #if canImport(Glibc)
        _ = Glibc.close(fd)
    #else
        _ = Darwin.close(fd)
    #endif
}
