import ChatbotTesterCore
import Foundation
import NIOHTTP1

/// One request as the own HTTP/1.1 path sends it: where to connect and the exact bytes to write.
///
/// The bytes are those AsyncHTTPClient writes for the same request (the wire-parity tests compare
/// them): the request line, the caller's headers in order (without `content-length` and
/// `transfer-encoding`, which the client sets), `host` unless given, `Content-Length` when there is
/// a body (or `0` for a body-less method that defines one), and `Accept-Encoding: deflate, gzip`
/// unless given (the replies are decompressed, as AsyncHTTPClient's decompressor does).
struct HTTP1Request: Sendable {
    /// Where to connect.
    struct Endpoint: Hashable, Sendable {
        /// An IPv4 literal, or `localhost` (connected on 127.0.0.1).
        var host: String
        var port: Int
        /// `localhost`: a refused fresh connection is retried through AsyncHTTPClient, which also
        /// tries `::1` (nothing was sent, so nothing is sent twice).
        var isLocalhost: Bool { host == "localhost" }
    }

    var endpoint: Endpoint
    var method: HTTPMethod
    /// The whole request: head and body.
    var bytes: [UInt8]

    /// The request for `url`, or `nil` when the own path does not take it (not `http://`, a host
    /// name other than `localhost`, user info, an IPv6 host, characters a request line cannot carry,
    /// a header name or value AsyncHTTPClient would refuse): that request goes through AsyncHTTPClient.
    init?(_ method: HTTPMethod, url: String, headers: [(String, String)], body: Data?) {
        guard let target = Self.target(url) else { return nil }
        endpoint = target.endpoint
        self.method = method
        var out: [UInt8] = []
        out.reserveCapacity(256 + (body?.count ?? 0))
        out.append(contentsOf: method.rawValue.utf8)
        out.append(0x20)
        out.append(contentsOf: target.uri.utf8)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        var hasHost = false
        var hasAcceptEncoding = false
        for (name, value) in headers {
            guard Self.isToken(name), Self.isFieldValue(value) else { return nil }
            if Self.equalsIgnoringCase(name, "content-length") || Self.equalsIgnoringCase(name, "transfer-encoding") { continue }
            if Self.equalsIgnoringCase(name, "host") { hasHost = true }
            if Self.equalsIgnoringCase(name, "accept-encoding") { hasAcceptEncoding = true }
            Self.appendHeader(&out, name, value)
        }
        if !hasHost { Self.appendHeader(&out, "host", target.hostHeader) }
        let length = body?.count ?? 0
        if length > 0 {
            Self.appendHeader(&out, "Content-Length", String(length))
        } else {
            switch method {
            case .GET, .HEAD, .DELETE, .CONNECT, .TRACE: break
            default: Self.appendHeader(&out, "Content-Length", "0")
            }
        }
        if !hasAcceptEncoding { Self.appendHeader(&out, "Accept-Encoding", "deflate, gzip") }
        out.append(contentsOf: [0x0D, 0x0A])
        if let body { out.append(contentsOf: body) }
        bytes = out
    }

    private static let scheme = Array("http://".utf8)

    /// Where a request goes and what its head names.
    typealias Target = (endpoint: Endpoint, hostHeader: String, uri: String)

    /// The targets of the URLs seen last (a run sends every request to one or a few URLs): each is
    /// parsed once, not per request. Emptied when it reaches `targetCacheLimit` entries.
    private static let targets = Locked<[String: Target]>([:])
    static let targetCacheLimit = 64

    /// The endpoint, the `host` header and the request target of a plain `http://` URL the own path
    /// takes (`nil`: it goes through AsyncHTTPClient); remembered per URL.
    static func target(_ url: String) -> Target? {
        if let known = targets.withLock({ $0[url] }) { return known }
        guard let parsed = parseTarget(url) else { return nil }
        targets.withLock { cache in
            if cache.count >= targetCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[url] = parsed
        }
        return parsed
    }

    /// `target` without the cache.
    static func parseTarget(_ url: String) -> Target? {
        let utf8 = Array(url.utf8)
        let scheme = Self.scheme
        guard utf8.count > scheme.count, zip(utf8, scheme).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }) else { return nil }
        // Only printable ASCII without spaces, quotes, angle brackets, backslashes (what a request line carries as is).
        for byte in utf8 where byte <= 0x20 || byte >= 0x7F || byte == 0x22 || byte == 0x3C || byte == 0x3E || byte == 0x5C {
            return nil
        }
        var index = scheme.count
        let authorityStart = index
        while index < utf8.count, utf8[index] != 0x2F, utf8[index] != 0x3F, utf8[index] != 0x23 { index += 1 }
        let authority = utf8[authorityStart..<index]
        guard !authority.isEmpty, !authority.contains(0x40), !authority.contains(0x5B) else { return nil }  // no user info, no IPv6
        var hostBytes = authority[...]
        var port = 80
        if let colon = authority.firstIndex(of: 0x3A) {
            hostBytes = authority[authorityStart..<colon]
            let digits = authority[(colon + 1)...]
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            port = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard port > 0, port <= 65535 else { return nil }
        }
        let given = String(decoding: hostBytes, as: UTF8.self)
        let host = given.lowercased()
        guard host == "localhost" || isIPv4(host) else { return nil }
        // The path and query, without the fragment; an empty path is "/".
        var end = index
        while end < utf8.count, utf8[end] != 0x23 { end += 1 }
        var uri = String(decoding: utf8[index..<end], as: UTF8.self)
        if uri.isEmpty || uri.first == "?" { uri = "/" + uri }
        let hostHeader = port == 80 ? given : "\(given):\(port)"
        return (Endpoint(host: host, port: port), hostHeader, uri)
    }

    static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && (part.count == 1 || part.first != "0")
                    && Int(part)! <= 255
            }
    }

    private static func appendHeader(_ out: inout [UInt8], _ name: String, _ value: String) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: [0x3A, 0x20])
        out.append(contentsOf: value.utf8)
        out.append(contentsOf: [0x0D, 0x0A])
    }

    /// An RFC 9110 token (a header name).
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
                case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
                default: return false
                }
            }
    }

    /// A field value: visible characters, spaces, tabs and obs-text; no CR, LF or other controls.
    static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    static func equalsIgnoringCase(_ name: String, _ lower: String) -> Bool {
        name.utf8.count == lower.utf8.count && zip(name.utf8, lower.utf8).allSatisfy { ($0 | 0x20) == $1 || $0 == $1 }
    }
}
