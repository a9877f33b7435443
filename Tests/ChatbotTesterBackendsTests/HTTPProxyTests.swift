import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterHTTP

/// The proxy variables as the own HTTP/1.1 path reads them (`HTTPProxySettings`), and requests that
/// really go through a proxy: a loopback server standing in for it records the request line, the
/// host and the proxy credentials, byte for byte.
@Suite("HTTP proxies on the own path")
struct HTTPProxyTests {
    /// The host and port a route goes through; "direct", "foundation" or "invalid NAME" otherwise.
    static func via(_ settings: HTTPProxySettings, _ host: String, _ port: Int = 80) -> String {
        switch settings.route(host: host, port: port) {
        case .direct: "direct"
        case .foundation: "foundation"
        case .invalid(let variable): "invalid \(variable)"
        case .proxy(let proxy): proxy.description
        }
    }

    @Test func theProxyVariablesAreReadAsCurlAndGoReadThem() {
        // No variable: direct.
        #expect(Self.via(HTTPProxySettings(environment: [:]), "api.example.com") == "direct")
        // Lower case first, then upper case, then all_proxy.
        let both = HTTPProxySettings(environment: ["http_proxy": "http://lower:3128", "HTTP_PROXY": "http://upper:3128"])
        #expect(Self.via(both, "api.example.com") == "lower:3128")
        #expect(Self.via(HTTPProxySettings(environment: ["HTTP_PROXY": "http://upper:3128"]), "api.example.com") == "upper:3128")
        #expect(Self.via(HTTPProxySettings(environment: ["ALL_PROXY": "proxy.corp:8080"]), "api.example.com") == "proxy.corp:8080")
        // In a CGI process HTTP_PROXY may be a client's `Proxy:` header: it is not read.
        #expect(Self.via(HTTPProxySettings(environment: ["HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"]), "api.example.com") == "direct")
        // No scheme: http; no port: 1080, curl's default; IPv6 in brackets; a path means nothing.
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "Proxy.Corp"]), "api.example.com") == "proxy.corp:1080")
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "http://[fd00::1]:3128/"]), "api.example.com") == "[fd00::1]:3128")
        // Other schemes are URLSession's; what is not a proxy URL is refused, naming the variable.
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "socks5://proxy:1080"]), "api.example.com") == "foundation")
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "https://proxy:443"]), "api.example.com") == "foundation")
        for bad in ["ftp://proxy:21", "http://proxy:99999", "http://proxy:x", "http://bad host:1", "http://:3128", "http://user%ZZ@proxy:1"] {
            #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": bad]), "api.example.com") == "invalid http_proxy", "\(bad)")
        }
        // Blank values count as unset.
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "  ", "HTTP_PROXY": "http://upper:3128"]), "api.example.com") == "upper:3128")
    }

    @Test func noProxyListsNamesSuffixesAddressesBlocksAndPorts() {
        let settings = HTTPProxySettings(environment: [
            "http_proxy": "http://proxy.corp:3128",
            "no_proxy": " .internal.corp, example.org ,10.0.0.0/8, 192.168.1.7, fd00::/8, [2001:db8::5]:8080, bots.corp:9000, bad/entry/x",
        ])
        let cases: [(String, Int, String)] = [
            ("bot.internal.corp", 80, "direct"), ("internal.corp", 80, "direct"), ("xinternal.corp", 80, "proxy.corp:3128"),
            ("example.org", 80, "direct"), ("api.example.org", 80, "direct"), ("notexample.org", 80, "proxy.corp:3128"),
            ("10.1.2.3", 80, "direct"), ("11.1.2.3", 80, "proxy.corp:3128"), ("192.168.1.7", 80, "direct"), ("192.168.1.8", 80, "proxy.corp:3128"),
            ("fd12::9", 80, "direct"), ("fe80::1", 80, "proxy.corp:3128"), ("2001:db8::5", 8080, "direct"), ("2001:db8::5", 80, "proxy.corp:3128"),
            ("bots.corp", 9000, "direct"), ("bots.corp", 80, "proxy.corp:3128"), ("api.openai.example", 80, "proxy.corp:3128"),
            // Loopback is never proxied, listed or not.
            ("localhost", 8080, "direct"), ("app.localhost", 80, "direct"), ("127.0.0.1", 80, "direct"), ("127.9.9.9", 80, "direct"),
            ("::1", 80, "direct"), ("::ffff:127.0.0.1", 80, "direct"),
        ]
        for (host, port, expected) in cases {
            #expect(Self.via(settings, host, port) == expected, "\(host):\(port)")
        }
        // `*` turns the proxy off; NO_PROXY is read when no_proxy is not set.
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "http://p:1", "NO_PROXY": "*"]), "api.example.com") == "direct")
        #expect(Self.via(HTTPProxySettings(environment: ["http_proxy": "http://p:1", "NO_PROXY": "example.com"]), "a.example.com") == "direct")
    }

    /// Through a loopback server standing in for the proxy: the request line carries the absolute
    /// URL, `host` names the origin, the credentials of the proxy URL arrive percent-decoded in
    /// `Proxy-Authorization`, and the reply comes back; the host is never resolved (`.invalid`
    /// does not exist). A loopback target goes around the proxy.
    @Test func requestsGoThroughTheProxyWithItsCredentials() async throws {
        let proxy = try LoopbackHTTPRecorder { _ in .json(#"{"through":"proxy"}"#) }
        defer { proxy.close() }
        let origin = try LoopbackHTTPRecorder { _ in .json(#"{"through":"direct"}"#) }
        defer { origin.close() }
        let client = HTTPClient(environment: ["http_proxy": "http://team%40corp:p%3Ass@127.0.0.1:\(proxy.port)", "no_proxy": "skip.invalid"])
        let reply = try await client.send(
            HTTPRequest(.POST, url: "http://api.example.invalid:8080/v1/chat?x=1#frag", headers: [("authorization", "Bearer sk-bot")], body: Data("{}".utf8)),
            timeout: .seconds(10))
        #expect(String(decoding: reply.body, as: UTF8.self) == #"{"through":"proxy"}"#)
        let seen = try #require(proxy.requests.first)
        #expect(seen.head.hasPrefix("POST http://api.example.invalid:8080/v1/chat?x=1 HTTP/1.1\r\n"))
        #expect(seen.header("host") == "api.example.invalid:8080")
        #expect(seen.header("Proxy-Authorization") == "Basic " + Data("team@corp:p:ss".utf8).base64EncodedString())
        #expect(seen.header("authorization") == "Bearer sk-bot")
        #expect(seen.body == Data("{}".utf8))

        // Loopback goes direct: the origin answers, the proxy sees nothing more.
        let direct = try await client.send(HTTPRequest(.GET, url: "http://127.0.0.1:\(origin.port)/health"), timeout: .seconds(10))
        #expect(String(decoding: direct.body, as: UTF8.self) == #"{"through":"direct"}"#)
        #expect(origin.requests.first?.head.hasPrefix("GET /health HTTP/1.1\r\n") == true)
        #expect(origin.requests.first?.header("Proxy-Authorization") == nil)
        #expect(proxy.requests.count == 1)

        // A host no_proxy lists is not sent to the proxy (it is resolved, and `.invalid` never is).
        await #expect(throws: HTTPClientError.self) {
            _ = try await client.send(HTTPRequest(.GET, url: "http://skip.invalid/x"), timeout: .seconds(5))
        }
        #expect(proxy.requests.count == 1)
    }

    /// A proxy variable that is no proxy URL fails the request, naming the variable and never its
    /// value (it may hold a password); an unreachable proxy's error holds no credentials either.
    @Test func aBadOrDeadProxyFailsWithoutItsCredentials() async throws {
        let bad = HTTPClient(environment: ["HTTP_PROXY": "http://admin:hunter2@proxy:not-a-port"])
        do {
            _ = try await bad.send(HTTPRequest(.GET, url: "http://api.example.invalid/"), timeout: .seconds(5))
            Issue.record("a request went out through an unusable proxy setting")
        } catch let error as HTTPClientError {
            #expect(error.kind == .invalidRequest)
            #expect("\(error)".contains("HTTP_PROXY"))
            #expect(!"\(error)".contains("hunter2") && !"\(error)".contains("admin"))
        }
        let (fd, port) = try HTTP1ClientTests.boundNotListening()
        defer { close(fd) }
        let dead = HTTPClient(environment: ["http_proxy": "http://admin:hunter2@127.0.0.1:\(port)"])
        do {
            _ = try await dead.send(HTTPRequest(.GET, url: "http://api.example.invalid/"), timeout: .seconds(5))
            Issue.record("a request through a closed port succeeded")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
