import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The proxy the environment names for plain `http://` requests, read as curl and Go read it, so
/// the own HTTP/1.1 path goes where `URLSession` (libcurl) would go:
///
/// - **The proxy**: `http_proxy`, else `HTTP_PROXY` (ignored in a CGI process, where
///   `REQUEST_METHOD` is set: a request's `Proxy:` header arrives there as `HTTP_PROXY`), else
///   `all_proxy`, else `ALL_PROXY`. A value without a scheme is an `http://` proxy; one without a
///   port uses 1080, curl's default. `http://user:password@proxy:3128` sends
///   `Proxy-Authorization: Basic …` (user and password percent-decoded); the credentials are never
///   printed (`Proxy.description` names the host and port only).
/// - **The exceptions**: `no_proxy`, else `NO_PROXY`: a comma-separated list of `*` (no proxy at
///   all), host names (`example.com` and `.example.com` both match `example.com` and every name
///   under it), IP addresses and CIDR blocks (`10.0.0.0/8`, `fd00::/8`), each optionally with
///   `:port` (`[::1]:8080` for an IPv6 address). Loopback hosts (`localhost`, names under
///   `.localhost`, `127.0.0.0/8`, `::1`) are never proxied, as in Go: a local mock or bot is
///   reached directly behind a corporate proxy too.
/// - **Other proxies**: a proxy of another scheme (`https://`, `socks5://`, …) is left to
///   `URLSession`, which then takes those requests. A value that is no proxy URL at all fails
///   every plain `http://` request it would carry with ``HTTPClientError/Kind/invalidRequest``
///   naming the variable — never its value, which may hold a password — rather than going around
///   the proxy unasked.
///
/// ```swift
/// let settings = HTTPProxySettings(environment: ["http_proxy": "http://proxy.corp:3128", "no_proxy": ".corp"])
/// settings.route(host: "api.example.com", port: 80)   // .proxy(proxy.corp:3128)
/// settings.route(host: "bot.corp", port: 80)          // .direct
/// ```
public struct HTTPProxySettings: Sendable {
    /// An HTTP proxy the own path sends through.
    public struct Proxy: Sendable, Hashable, CustomStringConvertible {
        /// A host name (lower case), an IPv4 literal or an IPv6 literal (without its brackets).
        public var host: String
        public var port: Int
        /// `Basic …` when the proxy URL held credentials (sent as `Proxy-Authorization`).
        var authorization: String?

        /// `host:port` (`[address]:port` for IPv6); never the credentials.
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Where a plain `http://` request goes.
    public enum Route: Sendable, Equatable {
        /// Straight to its host.
        case direct
        /// Through this proxy (the request line carries the absolute URL).
        case proxy(Proxy)
        /// Through `URLSession`: the proxy's scheme is one the own path does not speak.
        case foundation
        /// Nowhere: this variable's value is not a proxy URL.
        case invalid(variable: String)
    }

    /// One `no_proxy` entry.
    private enum Exception: Sendable {
        case everything
        /// A name: it and every name under it.
        case name(String, port: Int?)
        /// An address block: the address's bytes and how many leading bits must match.
        case block([UInt8], bits: Int, port: Int?)
    }

    /// What the proxy variable says (nil: no proxy).
    private let proxy: Route?
    private let exceptions: [Exception]

    /// Reads `environment` (the process's by default).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        func value(_ name: String) -> (name: String, text: String)? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return (name, text)
        }
        let cgi = environment["REQUEST_METHOD"] != nil
        let named = value("http_proxy") ?? (cgi ? nil : value("HTTP_PROXY")) ?? value("all_proxy") ?? value("ALL_PROXY")
        proxy = named.map { Self.parseProxy($0.text, variable: $0.name) }
        let list = value("no_proxy") ?? value("NO_PROXY")
        exceptions = list.map { Self.parseExceptions($0.text) } ?? []
    }

    /// Where a plain `http://` request to `host` (as ``HTTP1Request`` parsed it: lower case, an
    /// IPv6 literal without brackets) and `port` goes.
    public func route(host: String, port: Int) -> Route {
        guard let proxy else { return .direct }
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        let address = Self.addressBytes(name)
        if Self.isLoopback(name, address: address) { return .direct }
        for exception in exceptions {
            switch exception {
            case .everything:
                return .direct
            case .name(let entry, let only):
                if only == nil || only == port, name == entry || name.hasSuffix("." + entry) { return .direct }
            case .block(let bytes, let bits, let only):
                if only == nil || only == port, let address, address.count == bytes.count, Self.prefix(of: address, matches: bytes, bits: bits) {
                    return .direct
                }
            }
        }
        return proxy
    }

    // MARK: Reading the variables

    /// The route a proxy URL gives.
    static func parseProxy(_ text: String, variable: String) -> Route {
        var rest = Substring(text)
        var scheme = "http"
        if let separator = rest.range(of: "://") {
            scheme = rest[..<separator.lowerBound].lowercased()
            rest = rest[separator.upperBound...]
        }
        guard scheme == "http" else {
            return ["https", "socks4", "socks4a", "socks5", "socks5h"].contains(scheme) ? .foundation : .invalid(variable: variable)
        }
        // The authority ends at the path, which a proxy URL may carry and which means nothing.
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var hostPort = authority
        var authorization: String?
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let colon = userInfo.firstIndex(of: ":")
            guard let user = String(userInfo[..<(colon ?? userInfo.endIndex)]).removingPercentEncoding,
                let password = colon.map({ String(userInfo[userInfo.index(after: $0)...]).removingPercentEncoding }) ?? "",
                !user.isEmpty, HTTP1Request.isFieldValue(user), HTTP1Request.isFieldValue(password)
            else { return .invalid(variable: variable) }
            authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        }
        guard let (host, port) = hostAndPort(hostPort) else { return .invalid(variable: variable) }
        return .proxy(Proxy(host: host, port: port ?? 1080, authorization: authorization))
    }

    /// A host (lower case, an IPv6 literal unbracketed) and port from `host`, `host:port`, `[v6]` or
    /// `[v6]:port`, read as a URL's authority is (`HTTP1Request.authority`); nil when it is none of them.
    private static func hostAndPort(_ text: Substring) -> (String, Int?)? {
        HTTP1Request.authority(Array(text.utf8)[...]).map { ($0.host, $0.port) }
    }

    /// The entries of a `no_proxy` list; an entry that is none of the forms is skipped.
    private static func parseExceptions(_ text: String) -> [Exception] {
        text.split(separator: ",").compactMap { raw -> Exception? in
            var entry = raw.trimmingCharacters(in: .whitespaces).lowercased()[...]
            if entry == "*" { return .everything }
            if entry.hasPrefix(".") { entry = entry.dropFirst() }
            if entry.hasSuffix(".") { entry = entry.dropLast() }
            guard !entry.isEmpty else { return nil }
            // A block: address/bits (no port).
            if let slash = entry.firstIndex(of: "/") {
                guard let bytes = addressBytes(String(entry[..<slash])), let bits = Int(entry[entry.index(after: slash)...]), bits >= 0,
                    bits <= bytes.count * 8
                else { return nil }
                return .block(bytes, bits: bits, port: nil)
            }
            // A bare IPv6 address has colons of its own: only a bracketed one carries a port.
            if entry.first != "[", let bytes = addressBytes(String(entry)) { return .block(bytes, bits: bytes.count * 8, port: nil) }
            guard let (host, port) = hostAndPort(entry) else { return nil }
            if let bytes = addressBytes(host) { return .block(bytes, bits: bytes.count * 8, port: port) }
            return .name(host, port: port)
        }
    }

    // MARK: Addresses

    /// The bytes of an IPv4 or IPv6 literal; nil for a name.
    static func addressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if host.contains("."), !host.contains(":"), inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if host.contains(":"), inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// Whether the first `bits` bits of `address` are those of `block`.
    private static func prefix(of address: [UInt8], matches block: [UInt8], bits: Int) -> Bool {
        var left = bits
        for (a, b) in zip(address, block) where left > 0 {
            let take = min(8, left)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if a & mask != b & mask { return false }
            left -= take
        }
        return true
    }

    /// `localhost`, a name under `.localhost`, `127.0.0.0/8`, `::1` (and `::ffff:127.0.0.0/104`);
    /// `address` is the host's bytes when it is an address literal (`addressBytes`).
    static func isLoopback(_ host: String, address: [UInt8]?) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        guard let bytes = address else { return false }
        if bytes.count == 4 { return bytes[0] == 127 }
        let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
        return bytes == Array(repeating: 0, count: 15) + [1] || (Array(bytes.prefix(12)) == mapped && bytes[12] == 127)
    }
}

/// What the fuzz harness reads of the proxy settings: the head the own path writes for a request
/// under them.
@_spi(Fuzzing) public enum ProxyHeadsForFuzzing {
    /// The head (request line and headers) the own path writes for a `GET` of `url` under
    /// `settings`: `.success(nil)` when the own path does not take it (not plain `http://`, or a
    /// proxy `URLSession` speaks), `.failure` with the client's refusal.
    public static func head(url: String, settings: HTTPProxySettings) -> Result<String?, HTTPClientError> {
        do {
            return .success(try HTTPClient.ownRequest(HTTPRequest(.GET, url: url), proxies: settings).map { String(decoding: $0.bytes, as: UTF8.self) })
        } catch let error as HTTPClientError {
            return .failure(error)
        } catch {
            return .failure(HTTPClientError(.transport, "\(error)"))
        }
    }

    /// The host and port the own path connects to for `url` without a proxy; nil when it does not take it.
    public static func endpoint(_ url: String) -> (host: String, port: Int)? {
        HTTP1Request.target(url).map { ($0.endpoint.host, $0.endpoint.port) }
    }
}
