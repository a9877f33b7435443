import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an HTTP exchange failed below the level of a status code: one stable kind and a short clean
/// phrase (`connection refused`, `DNS lookup of api.example.com failed`, …). It never carries the
/// request, its headers or the URL's query, so it is safe to log.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds a caller decides on (retry, error code).
    public enum Kind: String, Sendable, Equatable {
        /// No whole reply by the request's deadline.
        case timeout
        /// Connecting took longer than the client's connect timeout.
        case connectTimeout
        /// The peer refused the connection, or no route led to it.
        case connectionRefused
        /// The connection closed or was reset before the reply was complete.
        case connectionClosed
        /// The host name did not resolve.
        case dns
        /// The TLS handshake or the certificate check failed.
        case tls
        /// The reply's body is larger than the limit the caller gave.
        case tooLarge
        /// The reply broke HTTP/1.1 (or its compressed body did not decode).
        case invalidReply
        /// The request cannot be sent as given (a header name or value HTTP cannot carry, a URL
        /// without a host, too many redirects).
        case invalidRequest
        /// Anything else the transport reported.
        case transport
    }

    public var kind: Kind
    /// A short phrase without the peer's name (the caller adds it).
    public var phrase: String

    public init(_ kind: Kind, _ phrase: String) {
        self.kind = kind
        self.phrase = phrase
    }

    public var description: String { phrase }

    /// The phrase for a deadline of `timeout`.
    static func timeout(_ timeout: Duration) -> HTTPClientError {
        HTTPClientError(.timeout, "no reply within \(format(timeout))")
    }

    /// A reply body over `limit` bytes.
    static func tooLarge(_ limit: Int) -> HTTPClientError {
        HTTPClientError(.tooLarge, "reply larger than \(limit) bytes")
    }

    static let connectTimeout = HTTPClientError(.connectTimeout, "could not connect in time")
    static let closedBeforeReply = HTTPClientError(.connectionClosed, "connection closed before the reply was complete")

    /// The error of a socket `errno`: the connection-level failures by name, others as `transport`.
    static func socket(errno code: Int32) -> HTTPClientError {
        switch code {
        case ECONNREFUSED: return HTTPClientError(.connectionRefused, "connection refused")
        case EHOSTUNREACH: return HTTPClientError(.connectionRefused, "host unreachable")
        case ENETUNREACH: return HTTPClientError(.connectionRefused, "network unreachable")
        case EADDRNOTAVAIL: return HTTPClientError(.connectionRefused, "address not available")
        case ECONNRESET, EPIPE, ECONNABORTED: return HTTPClientError(.connectionClosed, "connection reset by the peer")
        case ETIMEDOUT: return HTTPClientError(.timeout, "connection timed out")
        default: return HTTPClientError(.transport, "request failed: \(errorText(code))")
        }
    }

    /// Whether a fresh connection that failed this way sent nothing, so the next address may be tried.
    static func isConnectFailure(errno code: Int32) -> Bool {
        [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT, EPROTONOSUPPORT].contains(code)
    }

    private static func errorText(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }

    static func format(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.3gs", seconds)
    }
}
