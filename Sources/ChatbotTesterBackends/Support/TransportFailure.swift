import AsyncHTTPClient
import ChatbotTesterCore
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sorts a failure of the HTTP stack (AsyncHTTPClient, NIO, TLS) into one stable error code and a
/// short clean phrase — never the stacked descriptions of nested NIO errors.
enum TransportFailure {
    /// The code and the phrase (`connection refused`, `DNS lookup of api.example.com failed`, …).
    static func classify(_ error: any Error, timeout: TimeAmount) -> (ChatbotTesterError.Code, String) {
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout:
                return (.timeout, "no reply within \(format(seconds: Double(timeout.nanoseconds) / 1e9))")
            case .connectTimeout:
                return (.timeout, "could not connect in time")
            case .tlsHandshakeTimeout:
                return (.tls, "TLS handshake timed out")
            case .remoteConnectionClosed:
                return (.connectionClosed, "connection closed before the reply was complete")
            default:
                return (.transport, "request failed: \(client)")
            }
        }
        if let connection = error as? NIOConnectionError {
            if connection.dnsAError != nil || connection.dnsAAAAError != nil || connection.connectionErrors.isEmpty {
                return (.dns, "DNS lookup of \(connection.host) failed")
            }
            // Every address tried failed: report the first one's reason.
            return classify(connection.connectionErrors[0].error, timeout: timeout)
        }
        if let io = error as? IOError {
            return classify(errno: io.errnoCode) ?? (.transport, "request failed: \(errorText(io.errnoCode))")
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .connectTimeout: return (.timeout, "could not connect in time")
            case .ioOnClosedChannel, .eof, .alreadyClosed, .outputClosed, .inputClosed:
                return (.connectionClosed, "connection closed before the reply was complete")
            default: return (.transport, "request failed: \(channel)")
            }
        }
        if error is SocketAddressError {
            return (.dns, "DNS lookup failed")
        }
        let typeName = String(reflecting: type(of: error))
        if typeName.contains("SSL") || typeName.contains("TLS") || typeName.contains("Certificate") {
            return (.tls, "TLS failed: \(String(describing: error).prefix(200))")
        }
        return (.transport, "request failed: \(String(describing: error).prefix(300))")
    }

    /// The code of a socket `errno`, when it is one of the connection-level failures.
    static func classify(errno code: Int32) -> (ChatbotTesterError.Code, String)? {
        switch code {
        case ECONNREFUSED: return (.connectionRefused, "connection refused")
        case EHOSTUNREACH: return (.connectionRefused, "host unreachable")
        case ENETUNREACH: return (.connectionRefused, "network unreachable")
        case ECONNRESET, EPIPE, ECONNABORTED: return (.connectionClosed, "connection reset by the peer")
        case ETIMEDOUT: return (.timeout, "connection timed out")
        default: return nil
        }
    }

    private static func errorText(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }

    private static func format(seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.3gs", seconds)
    }
}
