import ChatbotTesterCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import ChatbotTesterBackends
@testable import ChatbotTesterHTTP

/// The project's HTTP client through `BackendHTTP.send`, against real loopback servers: the own
/// HTTP/1.1 path's exact bytes on the wire, the same replies and errors through `URLSession`,
/// replies in any number of pieces, keep-alive reuse, a server closing a pooled connection,
/// hostile replies, redirects, timeouts, cancellation, host names, and TLS.
@Suite("HTTPClient: the own HTTP/1.1 path and URLSession")
struct HTTP1ClientTests {
    /// Which transport a test sends through.
    enum Path: CaseIterable {
        case own
        case foundation
    }

    /// Every request through `URLSession`, plain http included.
    static let foundationClient = HTTPClient(route: .foundation)

    static func http(_ path: Path, timeout: Double = 10) -> BackendHTTP {
        BackendHTTP(client: path == .own ? HTTPClient.shared : foundationClient, field: "backends.bot", timeoutSeconds: timeout)
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
        for url in ["https://127.0.0.1/v1", "http://user:pw@example.com/v1", "http://[::1/"] {
            #expect(HTTP1Request.target(url) == nil)
            #expect(HTTP1Request.target(url) == nil)
        }
    }

    @Test("plain http takes the own path (IP literals and host names); https, user info and the foundation route do not")
    func routing() throws {
        #expect(HTTPClient.shared.own != nil)
        #expect(Self.foundationClient.own == nil)
        #expect(HTTPClient(environment: [HTTPClient.environmentVariable: "foundation"]).route == .foundation)
        #expect(HTTPClient(environment: [HTTPClient.environmentVariable: "asynchttpclient"]).own == nil)
        #expect(HTTPClient(environment: [:]).own != nil)
        #expect(BackendHTTP(client: nil, field: "backends.bot", timeoutSeconds: 1).client === HTTPClient.shared)
        let target = try #require(HTTP1Request.target("http://127.0.0.1:8080/v1/chat?x=1#frag"))
        #expect(target.endpoint == HTTP1Request.Endpoint(host: "127.0.0.1", port: 8080))
        #expect(target.hostHeader == "127.0.0.1:8080")
        #expect(target.uri == "/v1/chat?x=1")
        #expect(HTTP1Request.target("http://localhost")?.uri == "/")
        #expect(HTTP1Request.target("http://localhost")?.hostHeader == "localhost")
        let named = try #require(HTTP1Request.target("http://API.Example.com:8443/v1"))
        #expect(named.endpoint == HTTP1Request.Endpoint(host: "api.example.com", port: 8443))
        #expect(named.hostHeader == "API.Example.com:8443")
        let v6 = try #require(HTTP1Request.target("http://[::1]:9000/x"))
        #expect(v6.endpoint == HTTP1Request.Endpoint(host: "::1", port: 9000))
        #expect(v6.hostHeader == "[::1]:9000")
        #expect(HTTP1Request.target("http://[::1]/")?.hostHeader == "[::1]")
        for url in [
            "https://127.0.0.1/v1", "http://user:pw@127.0.0.1/", "http://[::1", "http://[::g]/", "http://[::1]x/",
            "http://127.0.0.1:99999/", "http://127.0.0.1/a b", "http://256.1.1.1/", "http://01.1.1.1/", "http://127.0.0.1:/",
            "http://-bad.example/", "http://a..b/", "http://exa\u{e9}mple.com/", "http://\(String(repeating: "a", count: 64)).com/",
        ] {
            #expect(HTTP1Request.target(url) == nil, "\(url)")
        }
    }

    @Test("the own path writes exactly these bytes; both paths read the same reply")
    func sameBytesAndReplies() async throws {
        let body = Array("{\"text\": \"\(String(repeating: "abcdefghij", count: 50))\"}".utf8)
        let script = ReplayServer.Script(
            contentType: "application/json", extraHeaders: [("x-trace", "t1")], pieces: WireFixtures.awkwardPieces(body, stride: 37), gapMs: 0)
        struct Case {
            var method: HTTPMethod
            var path: String
            var headers: [(String, String)]
            var body: Data?
            /// The head the own path writes (these bytes were AsyncHTTPClient's for the same
            /// request, compared byte for byte while both were in the package).
            var head: String
        }
        let json = Data("{}".utf8)
        let cases: [Case] = [
            Case(
                method: .POST, path: "/bot", headers: [("x-key", "k")], body: json,
                head: "POST /bot HTTP/1.1\r\nx-key: k\r\ncontent-type: application/json\r\nhost: 127.0.0.1:PORT\r\nContent-Length: 2\r\nAccept-Encoding: deflate, gzip\r\n\r\n"),
            Case(
                method: .POST, path: "/v1/chat/completions?a=1&b=%20",
                headers: [("Content-Type", "application/json; charset=utf-8"), ("Authorization", "Bearer x")], body: json,
                head: "POST /v1/chat/completions?a=1&b=%20 HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\nAuthorization: Bearer x\r\nhost: 127.0.0.1:PORT\r\nContent-Length: 2\r\nAccept-Encoding: deflate, gzip\r\n\r\n"),
            Case(
                method: .POST, path: "/empty", headers: [("Content-Length", "99"), ("Transfer-Encoding", "chunked")], body: Data(),
                head: "POST /empty HTTP/1.1\r\ncontent-type: application/json\r\nhost: 127.0.0.1:PORT\r\nContent-Length: 0\r\nAccept-Encoding: deflate, gzip\r\n\r\n"),
            Case(
                method: .GET, path: "/get", headers: [("accept", "application/json")], body: nil,
                head: "GET /get HTTP/1.1\r\naccept: application/json\r\nhost: 127.0.0.1:PORT\r\nAccept-Encoding: deflate, gzip\r\n\r\n"),
            Case(
                method: .PUT, path: "/put", headers: [("Host", "example.test"), ("accept-encoding", "identity")], body: Data("x".utf8),
                head: "PUT /put HTTP/1.1\r\nHost: example.test\r\naccept-encoding: identity\r\ncontent-type: application/json\r\nContent-Length: 1\r\n\r\n"),
            Case(method: .DELETE, path: "", headers: [], body: nil, head: "DELETE / HTTP/1.1\r\nhost: 127.0.0.1:PORT\r\nAccept-Encoding: deflate, gzip\r\n\r\n"),
        ]
        for item in cases {
            for path in Path.allCases {
                try await ReplayServer.with(script) { server in
                    let reply = try await Self.http(path).send(item.method, url: server.baseURL + item.path, headers: item.headers, body: item.body)
                    #expect(reply.status == 200)
                    #expect(Array(reply.body) == body)
                    #expect(reply.headers.first(name: "x-trace") == "t1")
                    let received = try #require(server.requests.first)
                    #expect(received.body == Array(item.body ?? Data()), "\(path) \(item.method) \(item.path)")
                    if path == .own {
                        #expect(received.head.replacingOccurrences(of: ":\(server.port)", with: ":PORT") + "\r\n\r\n" == item.head)
                    }
                }
            }
        }
    }

    @Test("a reply in many pieces (14×37 bytes, no gap) arrives whole, again and again, 8 at once")
    func manyPieces() async throws {
        let body = Array("{\"text\": \"\(String(repeating: "abcdefghij", count: 50))\"}".utf8)
        let pieces = WireFixtures.awkwardPieces(body, stride: 37)
        let script = ReplayServer.Script(contentType: "application/json", extraHeaders: [("x-trace", "t1")], pieces: pieces, gapMs: 0)
        for path in Path.allCases {
            try await ReplayServer.with(script) { server in
                let http = Self.http(path)
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
                    var streamed = HTTP1ReplyParser(maxBodyBytes: 1 << 20)
                    var streamedBody: [UInt8] = []
                    for piece in pieces where progress == .needMore {
                        progress = try piece.withUnsafeBytes { try parser.feed($0) }
                        _ = try piece.withUnsafeBytes { try streamed.feed($0) }
                        streamedBody += streamed.takeBody()
                    }
                    #expect(progress == .complete, "\(text.debugDescription) split at \(split)")
                    #expect(streamedBody == Array(body.utf8), "streamed: \(text.debugDescription) split at \(split)")
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
            let error = try #require(await Self.failure(Self.http(.own), server.baseURL + "/v1") as? ChatbotTesterError)
            #expect(error.code == .transport)
            #expect(error.message.hasPrefix(server.baseURL + "/v1: "))
            #expect(error.location?.field == "backends.bot")
            #expect(error.message.contains("invalid HTTP reply (invalid status line)"))
            #expect(!error.message.contains("sk-secret-1"))
        }
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n", then: .close) }) { server in
            for path in Path.allCases {
                let error = try #require(await Self.failure(Self.http(path), server.baseURL + "/v1") as? ChatbotTesterError)
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
            for path in Path.allCases {
                try await RawReplyServer.with({ _ in answer }) { server in
                    let error = try #require(
                        await Self.failure(Self.http(path, timeout: timeout), server.baseURL + "/v1") as? ChatbotTesterError, "\(name)")
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
        for path in Path.allCases {
            let error = try #require(await Self.failure(Self.http(path), "http://127.0.0.1:\(port)/v1") as? ChatbotTesterError)
            #expect(error.code == .connectionRefused)
            refused.append(error.message)
        }
        #expect(refused[0] == refused[1])
        // `localhost`: 127.0.0.1 refused, then ::1 tried (nothing listens there either): the same error.
        let error = try #require(await Self.failure(Self.http(.own), "http://localhost:\(port)/v1") as? ChatbotTesterError)
        #expect(error.code == .connectionRefused)
    }

    @Test("redirects are followed the same way on both paths: 303 becomes a GET, credentials stay with their origin, at most five")
    func redirects() async throws {
        // Same origin: the redirecting request, then the redirected one, with the headers as given.
        for path in Path.allCases {
            try await RawReplyServer.with({ index in
                index == 0
                    ? .init("HTTP/1.1 307 Temporary Redirect\r\nlocation: /final\r\ncontent-length: 0\r\n\r\n")
                    : .init("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal")
            }) { server in
                let reply = try await Self.http(path).send(.GET, url: server.baseURL + "/start", headers: [], body: nil)
                #expect(reply.status == 200)
                #expect(reply.body == Data("final".utf8))
                #expect(server.requests == 2, "\(path)")
            }
        }
        // Another origin (another port): a 303 turns the POST into a GET without its body, and the
        // credential headers are not sent there; the others are.
        let script = ReplayServer.Script(contentType: "application/json", pieces: [Array("{}".utf8)], gapMs: 0)
        for path in Path.allCases {
            try await ReplayServer.with(script) { target in
                try await RawReplyServer.with({ _ in
                    .init("HTTP/1.1 303 See Other\r\nlocation: \(target.baseURL)/landing?x=1\r\ncontent-length: 0\r\n\r\n")
                }) { server in
                    let reply = try await Self.http(path).send(
                        .POST, url: server.baseURL + "/start",
                        headers: [("authorization", "Bearer sk-secret-1"), ("x-api-key", "k2"), ("x-trace", "kept")], body: Data("{}".utf8))
                    #expect(reply.status == 200)
                    let received = try #require(target.requests.first)
                    let head = received.head.lowercased()
                    #expect(head.hasPrefix("get /landing?x=1 http/1.1"), "\(path): \(received.head)")
                    #expect(!head.contains("sk-secret-1") && !head.contains("authorization") && !head.contains("x-api-key"), "\(path)")
                    #expect(head.contains("x-trace: kept"), "\(path)")
                    #expect(received.body.isEmpty)
                }
            }
        }
        // A redirect loop ends after five redirects with a final error naming the peer.
        for path in Path.allCases {
            try await RawReplyServer.with({ index in
                .init("HTTP/1.1 302 Found\r\nlocation: /hop\(index + 1)\r\ncontent-length: 0\r\n\r\n")
            }) { server in
                let error = try #require(await Self.failure(Self.http(path), server.baseURL + "/hop0") as? ChatbotTesterError)
                #expect(error.message.hasSuffix("request refused: more than 5 redirects"), "\(path): \(error.message)")
                #expect(error.retry == .no)
                #expect(server.requests == 6)
            }
        }
    }

    @Test("a header value with CR or LF is refused before anything is sent, on both paths")
    func headerInjection() async throws {
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") }) { server in
            for path in Path.allCases {
                for headers in [[("x-a", "1\r\nx-injected: 2")], [("x a", "1")], [("x-a", "1\n")]] {
                    await #expect(throws: ChatbotTesterError.self) {
                        _ = try await Self.http(path).send(url: server.baseURL + "/v1", headers: headers, body: Data("{}".utf8))
                    }
                }
            }
            #expect(server.requests == 0)
        }
    }

    @Test("host names resolve (localhost: 127.0.0.1, then ::1); a name that does not is a dns error naming it")
    func hostNames() async throws {
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") }) { server in
            for path in Path.allCases {
                let reply = try await Self.http(path).send(url: "http://localhost:\(server.port)/v1", headers: [], body: Data("{}".utf8))
                #expect(reply.body == Data("ok".utf8))
            }
        }
        for path in Path.allCases {
            let error = try #require(await Self.failure(Self.http(path), "http://no-such-host.invalid/v1") as? ChatbotTesterError)
            #expect(error.code == .dns, "\(path): \(error.message)")
            #expect(error.retry == .transient)
            if path == .own { #expect(error.message == "http://no-such-host.invalid/v1: DNS lookup of no-such-host.invalid failed") }
        }
    }

    @Test("https goes through URLSession: a server whose certificate the system does not trust is a tls error")
    func untrustedCertificate() async throws {
        let directory = WireFixtures.directory.appendingPathComponent("tls")
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = [
            "python3", directory.appendingPathComponent("server.py").path, directory.appendingPathComponent("test-only-cert.pem").path,
            directory.appendingPathComponent("test-only-key.pem").path,
        ]
        let output = Pipe()
        server.standardOutput = output
        try server.run()
        defer {
            // SIGKILL: a child of a test thread may inherit a mask that blocks SIGTERM.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let line = try #require(output.fileHandleForReading.readLine(), "the TLS server printed no port")
        let port = try #require(Int(line))
        for host in ["127.0.0.1", "localhost"] {
            let error = try #require(await Self.failure(Self.http(.own), "https://\(host):\(port)/v1") as? ChatbotTesterError)
            #expect(error.code == .tls, "\(error.message)")
            #expect(error.message.hasPrefix("https://\(host):\(port)/v1: TLS failed: "), "\(error.message)")
            #expect(error.message.contains("certificate"), "\(error.message)")
            #expect(!error.message.contains("sk-secret-1"))
        }
    }

    @Test("a streamed reply's first piece arrives while the server still holds the rest, on both paths")
    func streamedPieces() async throws {
        // The server sends the head and one chunk, then nothing more and keeps the connection open:
        // a client that waited for the end of the body would time out instead.
        let piece = "data: {\"n\": 1}\n\n"
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        let answer = RawReplyServer.Answer(head + String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n", then: .hang)
        for path in Path.allCases {
            try await RawReplyServer.with({ _ in answer }) { server in
                let client = path == .own ? HTTPClient.shared : Self.foundationClient
                do {
                    let response = try await client.stream(
                        HTTPRequest(.POST, url: server.baseURL + "/v1", headers: [("accept", "text/event-stream")], body: Data("{}".utf8)),
                        timeout: .seconds(60))
                    #expect(response.status == 200)
                    #expect(response.headers.first(name: "content-type") == "text/event-stream")
                    var received: [UInt8] = []
                    for try await bytes in response.body {
                        received += bytes
                        if received.count >= piece.utf8.count { break }
                    }
                    #expect(received == Array(piece.utf8), "\(path)")
                }
                // Dropping the reply (its body stream) closed the connection.
                while server.closedByClient == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
    }

    @Test("a streamed gzip'd reply decodes piece by piece; a redirect's unread body is closed, on both paths")
    func streamedGzipAndRedirect() async throws {
        let gzipped = BackendHTTPReplyTests.gzipped
        var chunked = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
        var pieces: [[UInt8]] = []
        for start in stride(from: 0, to: gzipped.count, by: 7) {
            let piece = Array(gzipped[start..<min(start + 7, gzipped.count)])
            pieces.append(Array((chunked + String(piece.count, radix: 16) + "\r\n").utf8) + piece + Array("\r\n".utf8))
            chunked = ""
        }
        pieces.append(Array("0\r\n\r\n".utf8))
        let answer = RawReplyServer.Answer(pieces: pieces)
        for path in Path.allCases {
            // The first request is redirected. On the own path by a reply whose body never ends: its
            // connection is closed unread. (URLSession waits for a redirect's body before it gives
            // the reply, so there the redirect's body is whole.)
            let redirect: RawReplyServer.Answer =
                path == .own
                ? .init("HTTP/1.1 302 Found\r\nlocation: /next\r\ncontent-length: 100\r\n\r\nab", then: .hang)
                : .init("HTTP/1.1 302 Found\r\nlocation: /next\r\ncontent-length: 2\r\n\r\nab")
            try await RawReplyServer.with({ index in index == 0 ? redirect : answer }) { server in
                let client = path == .own ? HTTPClient.shared : Self.foundationClient
                let response = try await client.stream(HTTPRequest(.GET, url: server.baseURL + "/start"), timeout: .seconds(60))
                let body = try await response.collect(upTo: 1 << 20)
                let json = try JSONByteParser.parse(Array(body))
                #expect(json["reply"]?.stringValue == String(repeating: "gzipped hello ", count: 40), "\(path)")
                #expect(server.requests == 2)
                if path == .own { while server.closedByClient == 0 { try await Task.sleep(for: .milliseconds(5)) } }
            }
        }
    }

    @Test("keep-alive: one connection carries sequential requests; a connection the server closed is replaced, the request sent once")
    func reuse() async throws {
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") }) { server in
            let http = Self.http(.own)
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
            let http = Self.http(.own)
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
            let http = Self.http(.own)
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
            let http = Self.http(.own)
            _ = try await http.send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
            let error = try #require(await Self.failure(http, server.baseURL + "/v1") as? ChatbotTesterError)
            #expect(error.code == .connectionClosed)
            #expect(error.message.hasSuffix("connection closed before the reply was complete"))
            #expect(server.requests == 2)
        }
    }

    /// Whether the caller runs on the own path's loop thread.
    static func onLoop() -> Bool { HTTP1Loop.shared?.isLoopThread == true }

    @Test("tasks preferring the loop's executor run on its thread, their requests complete there (32 at once), a sleep resumes there")
    func loopExecutor() async throws {
        let executor = try #require(HTTPClient.loopExecutor)
        try await RawReplyServer.with({ _ in .init("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") }) { server in
            let http = Self.http(.own)
            let outcomes = try await withThrowingTaskGroup(of: (before: Bool, after: Bool, body: Data).self) { group in
                for _ in 0..<32 {
                    group.addTask(executorPreference: executor) {
                        let before = Self.onLoop()
                        let reply = try await http.send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
                        try await Task.sleep(for: .milliseconds(1))
                        return (before, Self.onLoop(), reply.body)
                    }
                }
                var all: [(before: Bool, after: Bool, body: Data)] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            #expect(outcomes.count == 32)
            // Not on the loop's thread elsewhere.
            #expect(!Self.onLoop())
            for outcome in outcomes {
                #expect(outcome.before && outcome.after)
                #expect(outcome.body == Data("ok".utf8))
            }
        }
    }

    @Test("a cancelled request closes its connection and throws CancellationError")
    func cancellation() async throws {
        try await RawReplyServer.with({ _ in .init(pieces: [], then: .hang) }) { server in
            // The request's timeout is far beyond the bound below, so a cancellation that waited for
            // the timeout fails; the bound itself leaves room for a starved cooperative pool in a full
            // run (5.7 s once, at load 14, against a 5 s bound).
            let http = Self.http(.own, timeout: 300)
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

    @Test("a gzip'd Content-Length reply decodes on both paths")
    func gzipFixedLength() async throws {
        let gzipped = BackendHTTPReplyTests.gzipped
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: \(gzipped.count)\r\n\r\n"
        for path in Path.allCases {
            try await RawReplyServer.with({ _ in .init(pieces: [Array(head.utf8), gzipped]) }) { server in
                let reply = try await Self.http(path).send(url: server.baseURL + "/v1", headers: [], body: Data("{}".utf8))
                let json = try JSONByteParser.parse(Array(reply.body))
                #expect(json["reply"]?.stringValue == String(repeating: "gzipped hello ", count: 40))
            }
        }
    }
}

extension FileHandle {
    /// The next line (without its newline), or nil at the end; reads a byte at a time (a child's first line).
    func readLine() -> String? {
        var bytes: [UInt8] = []
        while true {
            guard let byte = try? read(upToCount: 1), let first = byte.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if first == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(first)
        }
    }
}
