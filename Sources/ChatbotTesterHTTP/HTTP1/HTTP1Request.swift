import ChatbotTesterCore
import Foundation
import NIOHTTP1

/// One request as the own HTTP/1.1 path sends it: where to connect and the exact bytes to write.
///
/// The bytes (the wire tests pin them): the request line, the caller's headers in order (without `content-length` and
/// `transfer-encoding`, which the client sets), `host` unless given, `Content-Length` when there is
/// a body (or `0` for a body-less method that defines one), and `Accept-Encoding: deflate, gzip`
/// unless given (the replies are decompressed, ``HTTPBodyDecoder``).
struct HTTP1Request: Sendable {
    /// Where to connect.
    struct Endpoint: Hashable, Sendable {
        /// A host name (lower case), an IPv4 literal or an IPv6 literal (without its brackets).
        var host: String
        var port: Int
    }

    var endpoint: Endpoint
    var method: HTTPMethod
    /// The whole request: head and body.
    var bytes: [UInt8]

    /// The request for `url`, or `nil` when the own path does not take it (not `http://`, user info,
    /// characters a request line cannot carry): that request goes through `URLSession`. The headers
    /// are taken as they are: ``HTTPClient`` refuses a name or value HTTP cannot carry before it
    /// makes a request (`validate`), once for both paths.
    init?(_ method: HTTPMethod, url: String, headers: [(String, String)], body: Data?) {
        guard let target = Self.target(url) else { return nil }
        self.init(method, target: target, headers: headers, body: body, proxy: nil)
    }

    /// The request for `target` (``target(_:)``); through `proxy` when one is given: then the
    /// connection goes to the proxy, the request line names the absolute URL (`GET
    /// http://host:port/path HTTP/1.1`) and the proxy's credentials go in `Proxy-Authorization`
    /// (unless the caller gave that header).
    init(_ method: HTTPMethod, target: Target, headers: [(String, String)], body: Data?, proxy: HTTPProxySettings.Proxy?) {
        endpoint = proxy.map { Endpoint(host: $0.host, port: $0.port) } ?? target.endpoint
        self.method = method
        var out: [UInt8] = []
        out.reserveCapacity(256 + (body?.count ?? 0))
        out.append(contentsOf: method.rawValue.utf8)
        out.append(0x20)
        if proxy != nil {
            out.append(contentsOf: Self.scheme)
            out.append(contentsOf: target.hostHeader.utf8)
        }
        out.append(contentsOf: target.uri.utf8)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        var hasHost = false
        var hasAcceptEncoding = false
        var hasProxyAuthorization = false
        for (name, value) in headers {
            if Self.equalsIgnoringCase(name, "content-length") || Self.equalsIgnoringCase(name, "transfer-encoding") { continue }
            if Self.equalsIgnoringCase(name, "host") { hasHost = true }
            if Self.equalsIgnoringCase(name, "accept-encoding") { hasAcceptEncoding = true }
            if Self.equalsIgnoringCase(name, "proxy-authorization") { hasProxyAuthorization = true }
            Self.appendHeader(&out, name, value)
        }
        if !hasHost { Self.appendHeader(&out, "host", target.hostHeader) }
        if let authorization = proxy?.authorization, !hasProxyAuthorization { Self.appendHeader(&out, "Proxy-Authorization", authorization) }
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
    /// takes (`nil`: it goes through `URLSession`); remembered per URL.
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
        guard !authority.isEmpty, !authority.contains(0x40) else { return nil }  // no user info
        guard let (host, given, explicitPort) = Self.authority(authority) else { return nil }
        let port = explicitPort ?? 80
        // The path and query, without the fragment; an empty path is "/".
        var end = index
        while end < utf8.count, utf8[end] != 0x23 { end += 1 }
        var uri = String(decoding: utf8[index..<end], as: UTF8.self)
        if uri.isEmpty || uri.first == "?" { uri = "/" + uri }
        let hostHeader = port == 80 ? given : "\(given):\(port)"
        return (Endpoint(host: host, port: port), hostHeader, uri)
    }

    /// The host of an authority (`host`, `host:port`, `[v6]`, `[v6]:port`, without user info): the
    /// host in lower case (an IPv6 literal without its brackets), the host part as written
    /// (brackets kept) and the port when one is given; nil when it is none of these (a host that is
    /// no DNS name, IPv4 or IPv6 literal, a port outside 1–65535). The proxy variables' hosts are
    /// read with it too (`HTTPProxySettings`).
    static func authority(_ authority: ArraySlice<UInt8>) -> (host: String, given: String, port: Int?)? {
        guard !authority.isEmpty else { return nil }
        var hostBytes = authority[...]
        var portBytes: ArraySlice<UInt8>?
        let bracketed = authority.first == 0x5B
        if bracketed {
            // An IPv6 literal: [address] or [address]:port.
            guard let close = authority.firstIndex(of: 0x5D) else { return nil }
            hostBytes = authority[(authority.startIndex + 1)..<close]
            if close + 1 < authority.endIndex {
                guard authority[close + 1] == 0x3A else { return nil }
                portBytes = authority[(close + 2)...]
            }
        } else if let colon = authority.firstIndex(of: 0x3A) {
            hostBytes = authority[authority.startIndex..<colon]
            portBytes = authority[(colon + 1)...]
        }
        var port: Int?
        if let digits = portBytes {
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            let value = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard value > 0, value <= 65535 else { return nil }
            port = value
        }
        let host = String(decoding: hostBytes, as: UTF8.self).lowercased()
        guard bracketed ? isIPv6(host) : isIPv4(host) || isHostName(host) else { return nil }
        let given = String(decoding: authority.prefix(upTo: portBytes.map { $0.startIndex - 1 } ?? authority.endIndex), as: UTF8.self)
        return (host, given, port)
    }

    /// A DNS name: labels of letters, digits, `-` and `_` (1–63 bytes, not starting or ending with `-`),
    /// at most 253 bytes, optionally ending in a dot; not all digits and dots (that is an IPv4 literal or nothing).
    static func isHostName(_ host: String) -> Bool {
        var name = Substring(host)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253, !name.utf8.allSatisfy({ $0 == 0x2E || ($0 >= 0x30 && $0 <= 0x39) }) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }
        }
    }

    /// An IPv6 literal `inet_pton` takes (no zone index).
    static func isIPv6(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 45, host.utf8.allSatisfy({ $0 == 0x3A || $0 == 0x2E || ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { return false }
        var address = in6_addr()
        return inet_pton(AF_INET6, host, &address) == 1
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
        !name.isEmpty && name.utf8.allSatisfy(isTokenByte)
    }

    /// A byte a token may hold (the reply parser checks header names with it too).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
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
