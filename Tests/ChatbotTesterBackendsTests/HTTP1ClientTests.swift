import ChatbotTesterCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import ChatbotTesterBackends

/// The own HTTP/1.1 path of `BackendHTTP.send` (plain `http://` targets), against real loopback
/// servers: the same bytes on the wire and the same replies and errors as AsyncHTTPClient, replies in
/// any number of pieces, keep-alive reuse, a server closing a pooled connection, hostile replies,
/// timeouts and cancellation.
@Suite("BackendHTTP: the own HTTP/1.1 path")
struct HTTP1ClientTests {
    static func http(ownPath: Bool, timeout: Double = 10) -> BackendHTTP {
        BackendHTTP(client: BuiltinBackends.sharedHTTPClient, field: "backends.bot", timeoutSeconds: timeout, ownPath: ownPath)
    }

    /// The error `send` throws (nil when it returns).
    /// A TCP socket bound to 127.0.0.1 on a free port and not listening: connections to the port
    /// are refused for as long as it stays open.
    static func boundNotListening() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound else {
            close(fd)
            throw ChatbotTesterError(.io, "cannot bind a loopback port")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func failure(_ http: BackendHTTP, _ url: String) async -> (any Error)? {
        do {
            _ = try await http.send(url: url, headers: [("authorization", "Bearer sk-secret-1")], body: Data("{}".utf8))
            return nil
        } catch {
            return error
        }
    }

    /// A URL's target is parsed once and then taken from the cache: the same as parsing it, also
    /// after the cache was emptied on reaching its limit; a URL the own path refuses stays refused.
    @Test func targetsComeFromTheCacheAsParsed() {
        for round in 0..<2 {
            for i in 0..<(HTTP1Request.targetCacheLimit + 5) {
                let url = "http://127.0.0.1:\(1000 + i)/v1/chat/completions?r=\(round)"
                let parsed = HTTP1Request.parseTarget(url)
                for _ in 0..<2 {
                    let target = HTTP1Request.target(url)
                    #expect(target?.endpoint == parsed?.endpoint && target?.uri == parsed?.uri && target?.hostHeader == parsed?.hostHeader)
                }
            }
        }
        for url in ["https://127.0.0.1/v1", "http://example.com/v1", "http://[::1]:80/"] {
            #expect(HTTP1Request.target(url) == nil)
            #expect(HTTP1Request.target(url) == nil)
        }
    }

    @Test("plain http targets on IPv4 literals and localhost take the own path; others do not")
    func routing() throws {
        #expect(HTTP1Client.shared != nil)
        #expect(Self.http(ownPath: true).own != nil)
        #expect(Self.http(ownPath: false).own == nil)
        let other = BackendHTTP(client: BuiltinBackends.makeHTTPClient(), field: "backends.bot", timeoutSeconds: 1)
        #expect(other.own == nil)
        // A client of one's own is never taken for the shared one (asked without making it).
        #expect(!BuiltinBackends.isSharedHTTPClient(other.client))
        try other.client.syncShutdown()
        // No client given: the shared one, made only when a request needs it, and the own path.
        let lazy = BackendHTTP(client: nil, field: "backends.bot", timeoutSeconds: 1)
        #expect(lazy.own != nil)
        #expect(lazy.client === BuiltinBackends.sharedHTTPClient && BuiltinBackends.isSharedHTTPClient(lazy.client))
        #expect(BackendHTTP(client: BuiltinBackends.sharedHTTPClient, field: "backends.bot", timeoutSeconds: 1).own != nil)
        let target = try #require(HTTP1Request.target("http://127.0.0.1:8080/v1/chat?x=1#frag"))
        #expect(target.endpoint == HTTP1Request.Endpoint(host: "127.0.0.1", port: 8080))
        #expect(target.hostHeader == "127.0.0.1:8080")
        #expect(target.uri == "/v1/chat?x=1")
        #expect(HTTP1Request.target("http://localhost")?.uri == "/")
        #expect(HTTP1Request.target("http://localhost")?.hostHeader == "localhost")
        for url in [
            "https://127.0.0.1/v1", "http://api.example.com/v1", "http://user:pw@127.0.0.1/", "http://[::1]:80/",
            "http://127.0.0.1:99999/", "http://127.0.0.1/a b", "http://256.1.1.1/", "http://01.1.1.1/", "http://127.0.0.1:/",
        ] {
            #expect(HTTP1Request.target(url) == nil, "\(url)")
        }
    }

    @Test("the own path writes the bytes AsyncHTTPClient writes and reads the same reply")
    func sameBytesAndReplies() async throws {
        let body = Array("{\"text\": \"\(String(repeating: "abcdefghij", count: 50))\"}".utf8)
        let script = ReplayServer.Script(
            contentType: "application/json", extraHeaders: [("x-trace", "t1")], pieces: WireFixtures.awkwardPieces(body, stride: 37), gapMs: 0)
        struct Case {
            var method: HTTPMethod
            var path: String
            var headers: [(String, String)]
            var body: Data?
        }
        let json = Data("{}".utf8)
        let cases: [Case] = [
            Case(method: .POST, path: "/bot", headers: [("x-key", "k")], body: json),
            Case(
                method: .POST, path: "/v1/chat/completions?a=1&b=%20",
                headers: [("Content-Type", "application/json; charset=utf-8"), ("Authorization", "Bearer x")], body: json),
            Case(method: .POST, path: "/empty", headers: [("Content-Length", "99"), ("Transfer-Encoding", "chunked")], body: Data()),
            Case(method: .GET, path: "/get", headers: [("accept", "application/json")], body: nil),
            Case(method: .PUT, path: "/put", headers: [("Host", "example.test"), ("accept-encoding", "identity")], body: Data("x".utf8)),
            Case(method: .DELETE, path: "", headers: [], body: nil),
        ]
        for item in cases {
            let (method, path, headers, requestBody) = (item.method, item.path, item.headers, item.body)
            var heads: [String] = []
            var bodies: [[UInt8]] = []
            for ownPath in [false, true] {
                try await ReplayServer.with(script) { server in
                    let reply = try await Self.http(ownPath: ownPath).send(method, url: server.baseURL + path, headers: headers, body: requestBody)
                    #expect(reply.status == 200)
                    #expect(Array(reply.body) == body)
                    #expect(reply.headers.first(name: "x-trace") == "t1")
                    #expect(reply.headers.first(name: "transfer-encoding") == "chunked")
                    let received = try #require(server.requests.first)
                    heads.append(received.head.replacingOccurrences(of: ":\(server.port)", with: ":PORT"))
                    bodies.append(received.body)
                }
            }
            #expect(heads[0] == heads[1], "\(method) \(path)")
            #expect(bodies[0] == bodies[1])
        }
    }

    @Test("a reply in many pieces (14×37 bytes, no gap) arrives whole, again and again, 8 at once")
    func manyPieces() async throws {
        let body = Array("{\"text\": \"\(String(repeating: "abcdefghij", count: 50))\"}".utf8)
        let pieces = WireFixtures.awkwardPieces(body, stride: 37)
        let script = ReplayServer.Script(contentType: "application/json", extraHeaders: [("x-trace", "t1")], pieces: pieces, gapMs: 0)
        for ownPath in [true, false] {
            try await ReplayServer.with(script) { server in
                let http = Self.http(ownPath: ownPath)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            for _ in 0..<25 {
                                let reply = try await http.send(url: server.baseURL + "/bot", headers: [("x-key", "k")], body: Data("{}".utf8))
                                #expect(Array(reply.body) == body)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(server.requests.count == 200)
            }
        }
    }

    @Test("a reply split at every byte parses the same")
    func everySplit() throws {
        let replies: [(String, Int, String, Bool)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", 200, "hello", true),
            ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nhi", 201, "hi", true),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n", 200, "hello world", true),
            ("HTTP/1.1 200 OK\ncontent-length: 3\nconnection: close\n\nabc", 200, "abc", false),
            ("HTTP/1.0 404 Not Found\r\ncontent-length: 0\r\n\r\n", 404, "", false),
            ("HTTP/1.1 204 No Content\r\n\r\n", 204, "", true),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 200, "", true),
        ]
        for (text, status, body, keepAlive) in replies {
            let bytes = Array(text.utf8)
            for split in 0...bytes.count {
                for step in [1, 3, bytes.count] {
                    var parser = HTTP1ReplyParser(maxBodyBytes: 1 << 20)
                    var progress = HTTP1ReplyParser.Progress.needMore
                    var pieces = [Array(bytes[..<split])]
                    var index = split
                    while index < bytes.count {
                        pieces.append(Array(bytes[index..<min(index + step, bytes.count)]))
                        index += step
                    }
                    for piece in pieces where progress == .needMore {
                        progress = try piece.withUnsafeBytes { try parser.feed($0) }
                    }
                    #expect(progress == .complete, "\(text.debugDescription) split at \(split)")
                    #expect(parser.status == status)
                    #expect(parser.body == Array(body.utf8))
                    #expect(parser.keepAlive == keepAlive)
                    #expect(!parser.hasTrailingBytes)
                }
            }
        }
        // A reply framed by the end of the connection.
        var parser = HTTP1ReplyParser(maxBodyBytes: 1 << 20)
        #expect(try Array("HTTP/1.1 200 OK\r\n\r\nuntil close".utf8).withUnsafeBytes { try parser.feed($0) } == .needMore)
        #expect(try parser.finish() == .complete)
        #expect(parser.body == Array("until close".utf8))
        #expect(!parser.keepAlive)
    }

    @Test("hostile replies end in a clear, bounded error naming the peer")
    func hostile() throws {
        let big = String(repeating: "a", count: 70_000)
        let cases: [(String, HTTP1ReplyParser.Failure)] = [
            ("HELLO\r\n\r\n", .invalid("invalid status line")),
            ("HTTP/1.1 2000 OK\r\n\r\n", .invalid("invalid status line")),
            ("HTTP/2 200 OK\r\n\r\n", .invalid("invalid status line")),
            ("HTTP/1.1 200 OK\r\nx-big: \(big)\r\n\r\n", .invalid("reply head larger than 65536 bytes")),
            ("HTTP/1.1 200 OK\r\nx-big: \(big)", .invalid("reply head larger than 65536 bytes")),
            ("HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\n", .invalid("invalid content-length")),
            ("HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n", .invalid("invalid content-length")),
            ("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n", .invalid("conflicting content-length values")),
            ("HTTP/1.1 200 OK\r\ncontent-length: 2000000\r\n\r\n", .tooLarge),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", .invalid("chunk size too large")),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n", .invalid("invalid chunk size")),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabcd", .invalid("chunk not followed by CRLF")),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\(String(repeating: " ", count: 2000))", .invalid("chunk size line longer than 1024 bytes")),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", .invalid("unsupported transfer-encoding")),
            ("HTTP/1.1 200 OK\r\nbad header\r\n\r\n", .invalid("invalid header line")),
            ("HTTP/1.1 101 Switching Protocols\r\n\r\n", .invalid("the server switched protocols")),
            (String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 17), .invalid("more than 16 interim (1xx) replies")),
        ]
        for (text, expected) in cases {
            var parser = HTTP1ReplyParser(maxBodyBytes: 1 << 20)
            #expect(throws: expected, "\(text.prefix(60).debugDescription)") {
                _ = try Array(text.utf8).withUnsafeBytes { try parser.feed($0) }
            }
        }
        // Endless chunks stop at the body limit.
        var parser = HTTP1ReplyParser(maxBodyBytes: 1 << 20)
        _ = try Array("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".utf8).withUnsafeBytes { try parser.feed($0) }
        let chunk = Array("1000\r\n\(String(repeating: "x", count: 4096))\r\n".utf8)
        #expect(throws: HTTP1ReplyParser.Failure.tooLarge) {
            for _ in 0..<1000 { _ = try chunk.withUnsafeBytes { try parser.feed($0) } }
        }
    }

    @Test("hostile replies over the wire: the error names the peer, never the secret")
    func hostileOverTheWire() async throws {
        try await RawReplyServer.with({ _ in .init("HELLO WORLD\r\n\r\n", then: .close) }) { server in
            let error = try #require(await Self.failure(Self.http(ownPath: true), server.baseURL + "/v1") as? ChatbotTesterError)
            #expect(error.code == .transport)
            #expect(error.message.hasPrefix(server.baseURL + "/v1: "))
            #expect(error.location?.field == "backends.bot")
            #expect(error.message.contains("invalid HTTP reply (invalid status line)"))
            #expect(!error.message.contains("sk-secret-1"))
        }
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n", then: .close) }) { server in
            for ownPath in [true, false] {
                let error = try #require(await Self.failure(Self.http(ownPath: ownPath), server.baseURL + "/v1") as? ChatbotTesterError)
                #expect(error.code == .badResponse)
                #expect(error.message.contains("reply larger than \(BackendHTTP.maxReplyBytes) bytes"))
            }
        }
    }

    @Test("failures give the same code and message on both paths")
    func sameErrors() async throws {
        let cut = RawReplyServer.Answer("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..", then: .close)
        let answers: [(String, RawReplyServer.Answer, Double)] = [
            ("cut short", cut, 10),
            ("no reply", .init(pieces: [], then: .hang), 0.4),
            ("closed at once", .init(pieces: [], then: .close), 10),
            ("HTTP 503", .init("HTTP/1.1 503 Busy\r\ncontent-length: 28\r\nretry-after: 3\r\n\r\n{\"error\":{\"message\":\"busy\"}}"), 10),
        ]
        for (name, answer, timeout) in answers {
            var seen: [(ChatbotTesterError.Code, String, RetryDisposition)] = []
            for ownPath in [false, true] {
                try await RawReplyServer.with({ _ in answer }) { server in
                    let error = try #require(
                        await Self.failure(Self.http(ownPath: ownPath, timeout: timeout), server.baseURL + "/v1") as? ChatbotTesterError, "\(name)")
                    seen.append((error.code, error.message.replacingOccurrences(of: "\(server.port)", with: "PORT"), error.retry))
                }
            }
            #expect(seen[0].0 == seen[1].0, "\(name)")
            #expect(seen[0].1 == seen[1].1, "\(name)")
            #expect(seen[0].2 == seen[1].2, "\(name)")
        }
        // Nothing listening: a port held by a socket that is bound but not listening (a port freed
        // by closing a server could be taken by another test's server meanwhile; a full CI run
        // once connected to one and got "connection reset" instead of "refused").
        let (holder, port) = try Self.boundNotListening()
        defer { close(holder) }
        var refused: [String] = []
        for ownPath in [false, true] {
            let error = try #require(await Self.failure(Self.http(ownPath: ownPath), "http://127.0.0.1:\(port)/v1") as? ChatbotTesterError)
            #expect(error.code == .connectionRefused)
            refused.append(error.message)
        }
        #expect(refused[0] == refused[1])
        // `localhost` refused on 127.0.0.1 is handed to AsyncHTTPClient (which also tries `::1` where
        // the resolver gives it): still the same error.
        let error = try #require(await Self.failure(Self.http(ownPath: true), "http://localhost:\(port)/v1") as? ChatbotTesterError)
        #expect(error.code == .connectionRefused)
    }

    @Test("a redirect is handed to AsyncHTTPClient, which follows it")
    func redirect() async throws {
        try await RawReplyServer.with({ index in
            index < 2
                ? .init("HTTP/1.1 302 Found\r\nlocation: /final\r\ncontent-length: 0\r\n\r\n")
                : .init("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal")
        }) { server in
            let reply = try await Self.http(ownPath: true).send(.GET, url: server.baseURL + "/start", headers: [], body: nil)
            #expect(reply.status == 200)
            #expect(reply.body == Data("final".utf8))
            // The own path's request, AsyncHTTPClient's repeat of it, and the redirected one.
            #expect(server.requests == 3)
        }
    }

    @Test("keep-alive: one connection carries sequential requests; a connection the server closed is replaced, the request sent once")
    func reuse() async throws {
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") }) { server in
            let http = Self.http(ownPath: true)
            for _ in 0..<5 {
                let reply = try await http.send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
                #expect(reply.body == Data("ok".utf8))
            }
            #expect(server.connections == 1)
            #expect(server.requests == 5)
        }
        // The server closes each connection right after its reply, without saying so: the next request
        // finds the pooled connection closed and goes out once on a fresh one.
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", then: .close) }) { server in
            let http = Self.http(ownPath: true)
            for _ in 0..<5 {
                let reply = try await http.send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
                #expect(reply.body == Data("ok".utf8))
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(server.requests == 5)
            #expect(server.connections == 5)
        }
        // Two pooled connections, both closed by the server: the one retry goes out on a fresh
        // connection, not on the other closed one.
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", then: .close) }) { server in
            let http = Self.http(ownPath: true)
            let url = server.baseURL + "/v1"
            async let first = http.send(url: url, headers: [], body: Data("{}".utf8))
            async let second = http.send(url: url, headers: [], body: Data("{}".utf8))
            _ = try await (first, second)
            #expect(server.connections == 2)
            try await Task.sleep(for: .milliseconds(50))
            let reply = try await http.send(url: url, headers: [], body: Data("{}".utf8))
            #expect(reply.body == Data("ok".utf8))
            #expect(server.requests == 3)
            #expect(server.connections == 3)
        }
        // A reused connection that fails after part of the reply arrived is not retried.
        try await RawReplyServer.with({ index in
            index == 0 ? .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") : .init("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\npart", then: .close)
        }) { server in
            let http = Self.http(ownPath: true)
            _ = try await http.send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
            let error = try #require(await Self.failure(http, server.baseURL + "/v1") as? ChatbotTesterError)
            #expect(error.code == .transport)
            #expect(error.message.hasSuffix("request failed: stream ended at an unexpected time"))
            #expect(server.requests == 2)
        }
    }

    @Test("a cancelled request closes its connection and throws CancellationError")
    func cancellation() async throws {
        try await RawReplyServer.with({ _ in .init(pieces: [], then: .hang) }) { server in
            // The request's timeout is far beyond the bound below, so a cancellation that waited for
            // the timeout fails; the bound itself leaves room for a starved cooperative pool in a full
            // run (5.7 s once, at load 14, against a 5 s bound).
            let http = Self.http(ownPath: true, timeout: 300)
            let task = Task { try await http.send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8)) }
            while server.requests == 0 { try await Task.sleep(for: .milliseconds(5)) }
            let start = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - start < .seconds(60))
            while server.closedByClient == 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(server.closedByClient == 1)
        }
    }

    @Test("a gzip'd Content-Length reply decodes on the own path")
    func gzipFixedLength() async throws {
        let gzipped = BackendHTTPReplyTests.gzipped
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: \(gzipped.count)\r\n\r\n"
        try await RawReplyServer.with({ _ in .init(pieces: [Array(head.utf8), gzipped]) }) { server in
            let reply = try await Self.http(ownPath: true).send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
            let json = try JSONByteParser.parse(Array(reply.body))
            #expect(json["reply"]?.stringValue == String(repeating: "gzipped hello ", count: 40))
        }
    }
}
